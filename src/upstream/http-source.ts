// A base image over HTTP(S) with undici: one HEAD (or `GET bytes=0-0` where HEAD is refused) to
// learn size and validator, then Range GETs (RFC 9110 §14) guarded by If-Range. Every partial
// response is checked (status, Content-Range start/end/total, byte count, validator) before its
// bytes are used, as undici's own RetryHandler does. Resets, timeouts and 5xx are retried with
// exponential backoff from the byte already received; redirects are followed (bounded). An
// upstream that ignores Range (200 to a range request) still works: reads start at byte 0 and skip,
// and `supportsRanges` tells the block cache to fetch the image once, sequentially.

import { Agent, type Dispatcher } from 'undici';
import { checkRange } from '../byte-source.js';
import { BaseChangedError, UpstreamError } from '../errors.js';
import type { LoggerLike, UpstreamSource, UpstreamStats } from './types.js';
import { isStrongEtag, parseContentRange, type BaseVersion } from './validator.js';

export interface HttpSourceOptions {
  /** Shared keep-alive agent (a pool per origin). Without one the source makes and owns its own. */
  dispatcher?: Dispatcher;
  /** Only used when the source makes its own agent. */
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  /** Longest silence between two body chunks. */
  bodyTimeoutMs?: number;
  /** Consecutive retries without progress before a read fails. */
  maxRetries?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  maxRedirects?: number;
  stats?: UpstreamStats;
  logger?: LoggerLike;
  /** Cancels the opening probe. */
  signal?: AbortSignal;
}

const DEFAULTS = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 15_000,
  bodyTimeoutMs: 30_000,
  maxRetries: 4,
  retryBaseDelayMs: 100,
  retryMaxDelayMs: 3_000,
  maxRedirects: 5,
};

/** A keep-alive agent for upstream traffic; share one per process. */
export function createUpstreamAgent(options: { connectTimeoutMs?: number; connectionsPerOrigin?: number; keepAliveTimeoutMs?: number } = {}): Agent {
  return new Agent({
    connect: { timeout: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs },
    connections: options.connectionsPerOrigin ?? 16,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
    // One request at a time per connection: a reset then costs one request, not a pipeline.
    pipelining: 1,
  });
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const RETRYABLE_CODES = new Set(['UPSTREAM_TIMEOUT', 'UPSTREAM_UNREACHABLE', 'UPSTREAM_RESET']);

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function isRetryable(err: unknown): boolean {
  if (!(err instanceof UpstreamError) || err instanceof BaseChangedError) return false;
  if (RETRYABLE_CODES.has(err.code)) return true;
  return err.code === 'UPSTREAM_STATUS' && err.status !== undefined && (err.status >= 500 || err.status === 429);
}

/** Maps undici / socket errors to UpstreamError with a stable code; passes our own errors through. */
function toUpstreamError(err: unknown, url: string): unknown {
  if (err instanceof UpstreamError) return err;
  const code = (err as { code?: string } | undefined)?.code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'ETIMEDOUT') {
    return new UpstreamError('UPSTREAM_TIMEOUT', url, message, undefined, { cause: err });
  }
  if (['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'EADDRNOTAVAIL'].includes(code)) {
    return new UpstreamError('UPSTREAM_UNREACHABLE', url, message, undefined, { cause: err });
  }
  if (['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ECONNABORTED'].includes(code)) {
    return new UpstreamError('UPSTREAM_RESET', url, message, undefined, { cause: err });
  }
  if (err instanceof Error && err.name === 'AbortError') return err;
  return new UpstreamError('UPSTREAM_FAILED', url, message, undefined, { cause: err });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

interface Response {
  readonly statusCode: number;
  readonly headers: Headers;
  readonly body: Dispatcher.ResponseData['body'];
  readonly url: string;
}

class HttpSource implements UpstreamSource {
  readonly size: number;
  readonly version: BaseVersion;
  supportsRanges: boolean;
  private effectiveUrl: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly opts: typeof DEFAULTS & HttpSourceOptions;
  private readonly ifRange: string | undefined;

  constructor(init: { version: BaseVersion; supportsRanges: boolean; effectiveUrl: string; dispatcher: Dispatcher; ownsDispatcher: boolean; opts: typeof DEFAULTS & HttpSourceOptions }) {
    this.version = init.version;
    this.size = init.version.size;
    this.supportsRanges = init.supportsRanges;
    this.effectiveUrl = init.effectiveUrl;
    this.dispatcher = init.dispatcher;
    this.ownsDispatcher = init.ownsDispatcher;
    this.opts = init.opts;
    // If-Range needs a strong validator: a strong ETag, else the date (RFC 9110 §13.1.5).
    this.ifRange = isStrongEtag(init.version.etag) ? init.version.etag : init.version.lastModified;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRange(offset, length, this.size);
    const out = new Uint8Array(length);
    let pos = 0;
    for await (const chunk of this.stream(offset, length, signal)) {
      out.set(chunk, pos);
      pos += chunk.length;
    }
    return out;
  }

  async *stream(offset: number, length: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    checkRange(offset, length, this.size);
    const end = offset + length;
    let pos = offset;
    let failures = 0;
    const url = this.version.url;
    while (pos < end) {
      if (signal?.aborted) throw abortReason(signal);
      // One controller per attempt: aborting it (caller's signal, return(), a failed check) tears
      // down that request's socket at once instead of draining it.
      const attempt = new AbortController();
      const onAbort = () => attempt.abort(signal?.reason);
      signal?.addEventListener('abort', onAbort, { once: true });
      let complete = false;
      try {
        const res = await this.rangeRequest(pos, end - 1, attempt.signal);
        let skip = res.statusCode === 200 ? pos : 0;
        const partial = res.statusCode === 206;
        for await (const raw of res.body as AsyncIterable<Buffer>) {
          if (this.opts.stats) this.opts.stats.bytes += raw.length;
          let chunk: Uint8Array = raw;
          if (skip > 0) {
            if (chunk.length <= skip) {
              skip -= chunk.length;
              continue;
            }
            chunk = chunk.subarray(skip);
            skip = 0;
          }
          if (chunk.length > end - pos) {
            if (partial) throw new UpstreamError('UPSTREAM_BAD_RANGE', url, `206 body longer than its Content-Range at byte ${pos}`, 206);
            chunk = chunk.subarray(0, end - pos); // a 200 body: stop where we need no more
          }
          pos += chunk.length;
          failures = 0; // progress: retries are bounded per stall, not per image
          yield chunk;
          // A 200 body runs on to the end of the image: stop it here. A 206 body is read to its
          // end so the connection goes back to the pool.
          if (pos >= end && !partial) break;
        }
        if (pos < end) throw new UpstreamError('UPSTREAM_RESET', url, `body ended early at byte ${pos} of ${end}`);
        complete = true;
      } catch (err) {
        if (signal?.aborted) throw abortReason(signal);
        const mapped = toUpstreamError(err, url);
        if (!isRetryable(mapped) || failures >= this.opts.maxRetries) {
          if (this.opts.stats) this.opts.stats.errors++;
          throw mapped;
        }
        failures++;
        if (this.opts.stats) this.opts.stats.retries++;
        this.opts.logger?.debug({ url, pos, attempt: failures, code: (mapped as UpstreamError).code }, 'upstream read retried');
        await sleep(this.backoff(failures), signal);
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (!complete) attempt.abort();
      }
    }
  }

  private backoff(failures: number): number {
    return Math.min(this.opts.retryMaxDelayMs, this.opts.retryBaseDelayMs * 2 ** (failures - 1));
  }

  /** One Range GET for [start, end], checked before its body is handed out. */
  private async rangeRequest(start: number, end: number, signal: AbortSignal): Promise<Response> {
    const url = this.version.url;
    const headers: Record<string, string> = { range: `bytes=${start}-${end}` };
    if (this.ifRange !== undefined) headers['if-range'] = this.ifRange;
    const res = await send(this.dispatcher, this.effectiveUrl, 'GET', headers, signal, this.opts);
    this.effectiveUrl = res.url;
    res.body.on('error', () => {}); // errors reach us through iteration; this only stops 'uncaught'
    try {
      if (res.statusCode === 206) {
        this.checkValidator(res.headers, 206);
        const cr = parseContentRange(header(res.headers, 'content-range'));
        if (!cr) throw new UpstreamError('UPSTREAM_BAD_RANGE', url, `206 without a valid Content-Range (${header(res.headers, 'content-range') ?? 'none'})`, 206);
        if (cr.total !== undefined && cr.total !== this.size) {
          throw new BaseChangedError(url, `size changed from ${this.size} to ${cr.total}`);
        }
        if (cr.start !== start || cr.end !== end) {
          throw new UpstreamError('UPSTREAM_BAD_RANGE', url, `asked bytes ${start}-${end}, got ${cr.start}-${cr.end}`, 206);
        }
        const cl = header(res.headers, 'content-length');
        if (cl !== undefined && Number(cl) !== end - start + 1) {
          throw new UpstreamError('UPSTREAM_BAD_RANGE', url, `Content-Length ${cl} does not match bytes ${start}-${end}`, 206);
        }
        return res;
      }
      if (res.statusCode === 200) {
        // Either If-Range saw a new version (full new body), or the upstream ignores Range.
        this.checkValidator(res.headers, 200);
        const cl = header(res.headers, 'content-length');
        if (cl !== undefined && Number(cl) !== this.size) throw new BaseChangedError(url, `size changed from ${this.size} to ${cl}`);
        if (this.supportsRanges) {
          this.supportsRanges = false;
          this.opts.logger?.warn({ url }, 'upstream ignores Range requests: reading sequentially');
        }
        return res;
      }
      if (res.statusCode === 416) {
        // We only ask inside the known size: a 416 means the image shrank.
        throw new BaseChangedError(url, `range ${start}-${end} not satisfiable any more (${header(res.headers, 'content-range') ?? 'no Content-Range'})`);
      }
      throw new UpstreamError('UPSTREAM_STATUS', url, `status ${res.statusCode} for bytes ${start}-${end}`, res.statusCode);
    } catch (err) {
      discard(res.body);
      throw err;
    }
  }

  private checkValidator(headers: Headers, status: number): void {
    const url = this.version.url;
    const etag = header(headers, 'etag');
    const lastModified = header(headers, 'last-modified');
    if (this.version.etag !== undefined && etag !== undefined && etag !== this.version.etag) {
      throw new BaseChangedError(url, `ETag changed from ${this.version.etag} to ${etag} (status ${status})`);
    }
    if (this.version.lastModified !== undefined && lastModified !== undefined && lastModified !== this.version.lastModified) {
      throw new BaseChangedError(url, `Last-Modified changed from ${this.version.lastModified} to ${lastModified} (status ${status})`);
    }
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}

/** One request with redirects followed (bounded). The caller owns the returned body. */
async function send(dispatcher: Dispatcher, startUrl: string, method: 'GET' | 'HEAD', headers: Record<string, string>, signal: AbortSignal | undefined, opts: typeof DEFAULTS & HttpSourceOptions): Promise<Response> {
  let url = startUrl;
  for (let hop = 0; ; hop++) {
    if (opts.stats) opts.stats.requests++;
    let res: Dispatcher.ResponseData;
    try {
      res = await dispatcher.request({
        origin: new URL(url).origin,
        path: pathOf(url),
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
    if (hop + 1 > opts.maxRedirects) throw new UpstreamError('UPSTREAM_REDIRECTS', startUrl, `more than ${opts.maxRedirects} redirects`, res.statusCode);
    const next = new URL(location, url);
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      throw new UpstreamError('UPSTREAM_REDIRECTS', startUrl, `redirect to unsupported scheme ${next.protocol}`, res.statusCode);
    }
    url = next.href;
  }
}

type Body = Dispatcher.ResponseData['body'];

/** Drops a body we will not read. undici emits 'error' on a body destroyed early: swallow it. */
function discard(body: Body): void {
  body.on('error', () => {});
  body.destroy();
}

/** Reads a small body (redirect, HEAD, 1-byte probe) to its end so its connection is reused. */
async function drain(body: Body): Promise<void> {
  body.on('error', () => {});
  await body.dump({ limit: 64 * 1024 }).catch(() => {});
}

function pathOf(url: string): string {
  const u = new URL(url);
  return u.pathname + u.search;
}

/** Runs `fn` again on retryable failures (resets, timeouts, 5xx) with exponential backoff. */
async function withRetries<T>(url: string, opts: typeof DEFAULTS & HttpSourceOptions, fn: () => Promise<T>): Promise<T> {
  for (let failures = 0; ; ) {
    try {
      return await fn();
    } catch (err) {
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      const mapped = toUpstreamError(err, url);
      if (!isRetryable(mapped) || failures >= opts.maxRetries) {
        if (opts.stats) opts.stats.errors++;
        throw mapped;
      }
      failures++;
      if (opts.stats) opts.stats.retries++;
      await sleep(Math.min(opts.retryMaxDelayMs, opts.retryBaseDelayMs * 2 ** (failures - 1)), opts.signal);
    }
  }
}

interface Probe {
  readonly size: number;
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  readonly supportsRanges: boolean | undefined;
  readonly url: string;
}

function parseSize(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,16}$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

async function probeHead(dispatcher: Dispatcher, url: string, opts: typeof DEFAULTS & HttpSourceOptions): Promise<Probe | undefined> {
  const res = await send(dispatcher, url, 'HEAD', {}, opts.signal, opts);
  await drain(res.body);
  if (res.statusCode >= 500 || res.statusCode === 429) throw new UpstreamError('UPSTREAM_STATUS', url, `HEAD answered ${res.statusCode}`, res.statusCode);
  if (res.statusCode !== 200) return undefined;
  const size = parseSize(header(res.headers, 'content-length'));
  if (size === undefined) return undefined;
  const acceptRanges = header(res.headers, 'accept-ranges')?.toLowerCase();
  return {
    size,
    etag: header(res.headers, 'etag'),
    lastModified: header(res.headers, 'last-modified'),
    supportsRanges: acceptRanges === 'bytes' ? true : acceptRanges === 'none' ? false : undefined,
    url: res.url,
  };
}

async function probeGet(dispatcher: Dispatcher, url: string, opts: typeof DEFAULTS & HttpSourceOptions): Promise<Probe> {
  const res = await send(dispatcher, url, 'GET', { range: 'bytes=0-0' }, opts.signal, opts);
  // Never read a 200 body: it is the whole image. Destroying it closes that socket.
  if (res.statusCode === 206 || res.statusCode === 416) await drain(res.body);
  else discard(res.body);
  const etag = header(res.headers, 'etag');
  const lastModified = header(res.headers, 'last-modified');
  if (res.statusCode === 206) {
    const cr = parseContentRange(header(res.headers, 'content-range'));
    if (!cr || cr.total === undefined || cr.start !== 0) throw new UpstreamError('UPSTREAM_BAD_RANGE', url, `probe got Content-Range ${header(res.headers, 'content-range') ?? 'none'}`, 206);
    return { size: cr.total, etag, lastModified, supportsRanges: true, url: res.url };
  }
  if (res.statusCode === 200) {
    const size = parseSize(header(res.headers, 'content-length'));
    if (size === undefined) throw new UpstreamError('UPSTREAM_NO_LENGTH', url, 'no Content-Length: the image size is unknown', 200);
    return { size, etag, lastModified, supportsRanges: false, url: res.url };
  }
  if (res.statusCode === 416) {
    const m = /^bytes \*\/(\d{1,16})$/.exec(header(res.headers, 'content-range') ?? '');
    if (m && Number(m[1]) === 0) return { size: 0, etag, lastModified, supportsRanges: true, url: res.url };
  }
  throw new UpstreamError('UPSTREAM_STATUS', url, `status ${res.statusCode}`, res.statusCode);
}

/**
 * Opens an http(s) base image: learns its size and validator, and whether it honours Range.
 * Throws UpstreamError (UPSTREAM_STATUS, UPSTREAM_UNREACHABLE, UPSTREAM_TIMEOUT, ...).
 */
export async function openHttpSource(url: string, options: HttpSourceOptions = {}): Promise<UpstreamSource> {
  const opts = { ...DEFAULTS, ...options } as typeof DEFAULTS & HttpSourceOptions;
  for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) if (opts[k] === undefined) opts[k] = DEFAULTS[k];
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UpstreamError('UPSTREAM_FORBIDDEN', url, `not an http(s) URL`);
  const ownsDispatcher = options.dispatcher === undefined;
  const dispatcher = options.dispatcher ?? createUpstreamAgent({ connectTimeoutMs: opts.connectTimeoutMs });
  try {
    // A one-byte Range GET first: it tells size (Content-Range), validator and Range support in
    // one request. HEAD only where that fails: undici closes the connection after every HEAD
    // (undici#258), and in practice the pool then kept opening new connections.
    let probe: Probe;
    try {
      probe = await withRetries(url, opts, () => probeGet(dispatcher, url, opts));
    } catch (err) {
      if (!(err instanceof UpstreamError) || err.code !== 'UPSTREAM_STATUS' || err.status === undefined || err.status >= 500) throw err;
      const viaHead = await withRetries(url, opts, () => probeHead(dispatcher, url, opts));
      if (viaHead === undefined) throw err;
      probe = viaHead;
    }
    const version: BaseVersion = {
      url,
      size: probe.size,
      ...(probe.etag !== undefined ? { etag: probe.etag } : {}),
      ...(probe.lastModified !== undefined ? { lastModified: probe.lastModified } : {}),
    };
    return new HttpSource({ version, supportsRanges: probe.supportsRanges ?? false, effectiveUrl: probe.url, dispatcher, ownsDispatcher, opts });
  } catch (err) {
    if (ownsDispatcher) await dispatcher.close().catch(() => {});
    throw err;
  }
}
