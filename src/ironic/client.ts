// The little of Ironic's REST API isoproxy needs: GET /v1/nodes/{uuid or name} with the fields
// the mapping reads. Microversion 1.31 is the oldest that returns deploy_interface and
// boot_interface in `fields` (names work since 1.5, `fields` since 1.8), so any Ironic since
// Queens answers. Auth: none (noauth), HTTP Basic (Ironic's http_basic), or a Keystone token
// (keystone.ts) renewed once when Ironic answers 401.

import type { Dispatcher } from 'undici';
import { IronicAuthError } from './errors.js';
import { describeBody, IronicTransportError, requestJson } from './http.js';
import { createKeystoneTokenProvider, type TokenProvider } from './keystone.js';
import { NODE_FIELDS, type IronicNode } from './mapping.js';
import type { IronicAuth } from './options.js';

export const IRONIC_API_VERSION = '1.31';

export type NodeAnswer = { readonly found: true; readonly node: IronicNode } | { readonly found: false };

export interface IronicClient {
  /** The node, or found: false on 404. Throws IronicTransportError / IronicAuthError otherwise. */
  getNode(ident: string, signal?: AbortSignal): Promise<NodeAnswer>;
  /** Requests sent to Ironic (tests, metrics, the bench). */
  readonly requests: number;
  /** Keystone tokens issued (0 without keystone). */
  readonly tokensIssued: number;
}

export function createIronicClient(options: {
  url: string;
  auth: IronicAuth;
  timeoutMs: number;
  dispatcher: Dispatcher;
  tokens?: TokenProvider;
}): IronicClient {
  const { url, auth, timeoutMs, dispatcher } = options;
  let requests = 0;
  const tokens: TokenProvider | undefined =
    auth.type !== 'keystone'
      ? undefined
      : (options.tokens ??
        createKeystoneTokenProvider(
          {
            authUrl: auth.authUrl,
            applicationCredentialId: auth.applicationCredentialId,
            applicationCredentialSecret: auth.applicationCredentialSecret.reveal(),
          },
          { dispatcher, timeoutMs },
        ));
  const basic = auth.type === 'http_basic' ? `Basic ${Buffer.from(`${auth.username}:${auth.password.reveal()}`).toString('base64')}` : undefined;

  async function once(ident: string, signal: AbortSignal | undefined): Promise<{ status: number; body: unknown; token?: string }> {
    const headers: Record<string, string> = { 'x-openstack-ironic-api-version': IRONIC_API_VERSION, 'user-agent': 'isoproxy' };
    let token: string | undefined;
    if (basic) headers['authorization'] = basic;
    if (tokens) {
      token = await tokens.token(signal);
      headers['x-auth-token'] = token;
    }
    const target = `${url}/v1/nodes/${encodeURIComponent(ident)}?fields=${NODE_FIELDS.join(',')}`;
    requests++;
    const res = await requestJson({ method: 'GET', url: target, headers, dispatcher, timeoutMs, ...(signal ? { signal } : {}) });
    return { status: res.status, body: res.body, ...(token !== undefined ? { token } : {}) };
  }

  return {
    get requests() {
      return requests;
    },
    get tokensIssued() {
      return tokens?.issued ?? 0;
    },
    async getNode(ident, signal) {
      let res = await once(ident, signal);
      if (res.status === 401 && tokens && res.token !== undefined) {
        // Keystone may revoke a token before it expires: renew once.
        tokens.invalidate(res.token);
        res = await once(ident, signal);
      }
      if (res.status === 200) {
        const node = res.body as IronicNode | undefined;
        if (node === null || typeof node !== 'object' || typeof node.uuid !== 'string')
          throw new IronicTransportError(url, 'Ironic answered 200 without a node document');
        return { found: true, node };
      }
      // Every identifier that reaches here is a UUID or a valid Ironic name (source.ts checks),
      // so only 404 means "no such node"; a 400 is a bug or an incompatible Ironic, reported.
      if (res.status === 404) return { found: false };
      if (res.status === 401 || res.status === 403) throw new IronicAuthError('ironic', res.status, describeBody(res.body) || 'refused');
      throw new IronicTransportError(url, `Ironic answered ${res.status}${describeBody(res.body) ? `: ${describeBody(res.body)}` : ''}`);
    },
  };
}
