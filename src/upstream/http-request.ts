// One HTTP request to an upstream: sent through the shared undici dispatcher with the per-request
// timeouts, redirects followed (bounded, http(s) only, each target checked against the allowlist
// before it is contacted), and the helpers that hand a body back to the pool (drain) or tear its
// connection down (discard). The caller owns the returned body.

import type { Dispatcher } from 'undici';
import { UpstreamError } from '../errors.js';
import { toUpstreamError } from './http-errors.js';
import type { ResolvedHttpOptions } from './http-options.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Bytes of a redirect, HEAD or one-byte probe body read to reuse its connection. */
const DRAIN_LIMIT = 64 * 1024;

export type Headers = Record<string, string | string[] | undefined>;
export type Body = Dispatcher.ResponseData['body'];

export interface Response {
  readonly statusCode: number;
  readonly headers: Headers;
  readonly body: Body;
  /** The URL that answered, after redirects. */
  readonly url: string;
}

/** The first value of a response header (undici gives repeated headers as an array). */
export function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function pathOf(url: URL): string {
  return url.pathname + url.search;
}

/** One request with redirects followed (bounded). Errors are UpstreamErrors naming `startUrl`. */
export async function send(
  dispatcher: Dispatcher,
  startUrl: string,
  method: 'GET' | 'HEAD',
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
  opts: ResolvedHttpOptions,
): Promise<Response> {
  let url = startUrl;
  for (let hop = 0; ; hop++) {
    if (opts.stats) opts.stats.requests++;
    const target = new URL(url);
    let res: Dispatcher.ResponseData;
    try {
      res = await dispatcher.request({
        origin: target.origin,
        path: pathOf(target),
        method,
        headers: { ...headers, 'accept-encoding': 'identity', 'user-agent': 'isoproxy' },
        signal,
        headersTimeout: opts.headersTimeoutMs,
        bodyTimeout: opts.bodyTimeoutMs,
      });
    } catch (err) {
      throw toUpstreamError(err, startUrl);
    }
    if (!REDIRECTS.has(res.statusCode)) return { statusCode: res.statusCode, headers: res.headers as Headers, body: res.body, url };
    await drain(res.body);
    const location = header(res.headers as Headers, 'location');
    if (location === undefined) throw new UpstreamError('UPSTREAM_STATUS', startUrl, `redirect ${res.statusCode} without Location`, res.statusCode);
    if (hop + 1 > opts.maxRedirects)
      throw new UpstreamError('UPSTREAM_REDIRECTS', startUrl, `more than ${opts.maxRedirects} redirects`, res.statusCode);
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new UpstreamError('UPSTREAM_REDIRECTS', startUrl, `redirect to unsupported scheme ${next.protocol}`, res.statusCode);
    }
    if (opts.checkRedirect) {
      try {
        opts.checkRedirect(next.href);
      } catch (err) {
        // Only the origin in the message: a signed redirect target carries secrets in its query.
        const why = `redirect ${res.statusCode} to ${next.origin} is outside the allowed upstreams`;
        throw new UpstreamError('UPSTREAM_NOT_ALLOWED', startUrl, why, res.statusCode, { cause: err });
      }
    }
    url = next.href;
  }
}

/** Drops a body we will not read. undici emits 'error' on a body destroyed early: swallow it. */
export function discard(body: Body): void {
  body.on('error', () => {});
  body.destroy();
}

/** Reads a small body (redirect, HEAD, 1-byte probe) to its end so its connection is reused. */
export async function drain(body: Body): Promise<void> {
  body.on('error', () => {});
  await body.dump({ limit: DRAIN_LIMIT }).catch(() => {});
}
