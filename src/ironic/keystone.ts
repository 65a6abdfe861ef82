// A Keystone v3 token from an application credential (Identity API v3, "Authenticating with an
// Application Credential": POST /v3/auth/tokens with methods ["application_credential"] and the
// credential's id + secret; the token comes back in X-Subject-Token, its expiry in
// token.expires_at). The token is cached and renewed before it expires (a margin of a tenth of
// its lifetime, at least 30 s and at most 10 min); concurrent callers share one renewal; a 401
// from Ironic invalidates it (Keystone can revoke a token early) and the caller asks again once.
// The secret is held in memory only and never appears in an error or a log line.

import type { Dispatcher } from 'undici';
import { IronicAuthError } from './errors.js';
import { describeBody, IronicTransportError, requestJson } from './http.js';

export interface KeystoneCredential {
  /** The v3 endpoint, e.g. https://keystone.example:5000/v3 (a URL without /v3 gets it appended). */
  readonly authUrl: string;
  readonly applicationCredentialId: string;
  readonly applicationCredentialSecret: string;
}

export interface TokenProvider {
  /** A valid token, renewed when it is close to expiry. */
  token(signal?: AbortSignal): Promise<string>;
  /** Forgets the cached token (after Ironic answered 401 with it). */
  invalidate(token: string): void;
  /** Tokens issued so far (tests and metrics). */
  readonly issued: number;
}

/** `.../v3/auth/tokens` from an auth URL with or without the version segment. */
export function tokensUrl(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(base) ? `${base}/auth/tokens` : `${base}/v3/auth/tokens`;
}

/** Seconds before expiry at which a token is renewed. */
export function renewalMarginMs(lifetimeMs: number): number {
  return Math.min(600_000, Math.max(30_000, lifetimeMs / 10));
}

export function createKeystoneTokenProvider(
  cred: KeystoneCredential,
  deps: { dispatcher: Dispatcher; timeoutMs: number; now?: () => number },
): TokenProvider {
  const now = deps.now ?? Date.now;
  const url = tokensUrl(cred.authUrl);
  let cached: { token: string; renewAt: number; expiresAt: number } | undefined;
  let inflight: Promise<string> | undefined;
  let issued = 0;

  async function issue(): Promise<string> {
    const res = await requestJson({
      method: 'POST',
      url,
      dispatcher: deps.dispatcher,
      timeoutMs: deps.timeoutMs,
      body: {
        auth: {
          identity: {
            methods: ['application_credential'],
            application_credential: { id: cred.applicationCredentialId, secret: cred.applicationCredentialSecret },
          },
        },
      },
    });
    if (res.status === 401 || res.status === 403 || res.status === 404) {
      // 404: Keystone answers "Could not find Application Credential" for an unknown id.
      throw new IronicAuthError(
        'keystone',
        res.status,
        `application credential ${cred.applicationCredentialId}: ${describeBody(res.body) || 'refused'}`,
      );
    }
    const token = res.headers['x-subject-token'];
    if (res.status !== 201 && res.status !== 200) throw new IronicTransportError(url, `Keystone answered ${res.status}: ${describeBody(res.body)}`);
    if (!token) throw new IronicTransportError(url, 'Keystone answered without X-Subject-Token');
    const expires = Date.parse(String((res.body as { token?: { expires_at?: unknown } } | undefined)?.token?.expires_at ?? ''));
    const issuedAt = now();
    // Without a readable expiry, assume Keystone's default lifetime (1 h) rather than none.
    const expiresAt = Number.isNaN(expires) ? issuedAt + 3_600_000 : expires;
    cached = { token, expiresAt, renewAt: expiresAt - renewalMarginMs(expiresAt - issuedAt) };
    issued++;
    return token;
  }

  return {
    get issued() {
      return issued;
    },
    async token(): Promise<string> {
      const t = now();
      if (cached && t < cached.renewAt) return cached.token;
      if (!inflight)
        inflight = issue().finally(() => {
          inflight = undefined;
        });
      // A token close to expiry but still valid serves while the renewal runs; only an expired
      // (or absent) one waits for it.
      if (cached && t < cached.expiresAt) {
        inflight.catch(() => {});
        return cached.token;
      }
      return inflight;
    },
    invalidate(token: string): void {
      if (cached?.token === token) cached = undefined;
    },
  };
}
