// A base image over HTTP(S) with undici. Opening sends one `GET Range: bytes=0-0` (HEAD only where
// that is refused; http-probe.ts says why) to learn size, validator and Range support; reads are
// then Range GETs (RFC 9110 §14) guarded by If-Range. Every partial response is checked (status,
// Content-Range start/end/total, byte count, validator) before its bytes are used, as undici's own
// RetryHandler does. Resets, timeouts and 5xx are retried with backoff from the byte already
// received (retry.ts); redirects are followed, bounded (http-request.ts). An upstream that ignores
// Range (200 to a range request) still works: reads start at byte 0 and skip, and `supportsRanges`
// tells the block cache to fetch the image once, sequentially.

import type { Dispatcher } from 'undici';
import { checkRange } from '../byte-source.js';
import { BaseChangedError, UpstreamError } from '../errors.js';
import { linkAbort } from '../io/abort.js';
import { readStreamFully } from '../io/read-fully.js';
import { createUpstreamAgent, resolveHttpOptions, type HttpSourceOptions, type ResolvedHttpOptions } from './http-options.js';
import { probe } from './http-probe.js';
import { discard, header, send, type Headers, type Response } from './http-request.js';
import { Retry } from './retry.js';
import type { UpstreamSource } from './types.js';
import { isStrongEtag, parseContentRange, type BaseVersion } from './validator.js';

export { createUpstreamAgent, type HttpSourceOptions } from './http-options.js';

class HttpSource implements UpstreamSource {
  readonly size: number;
  readonly version: BaseVersion;
  supportsRanges: boolean;
  /** Where the last request landed after redirects: the next one starts there. */
  private effectiveUrl: string;
  private readonly ifRange: string | undefined;

  constructor(
    init: { version: BaseVersion; supportsRanges: boolean; effectiveUrl: string },
    private readonly dispatcher: Dispatcher,
    private readonly ownsDispatcher: boolean,
    private readonly opts: ResolvedHttpOptions,
  ) {
    this.version = init.version;
    this.size = init.version.size;
    this.supportsRanges = init.supportsRanges;
    this.effectiveUrl = init.effectiveUrl;
    // If-Range needs a strong validator: a strong ETag, else the date (RFC 9110 §13.1.5).
    this.ifRange = isStrongEtag(init.version.etag) ? init.version.etag : init.version.lastModified;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRange(offset, length, this.size);
    // stream() yields exactly `length` bytes or throws.
    const { bytes } = await readStreamFully(this.stream(offset, length, signal), length);
    return bytes!;
  }

  async *stream(offset: number, length: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    checkRange(offset, length, this.size);
    const end = offset + length;
    let pos = offset;
    const url = this.version.url;
    const retry = new Retry(this.opts, url, signal);
    while (pos < end) {
      signal?.throwIfAborted();
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
          retry.progressed();
          yield chunk;
          // A 200 body runs on to the end of the image: stop it here. A 206 body is read to its
          // end so the connection goes back to the pool.
          if (pos >= end && !partial) break;
        }
        if (pos < end) throw new UpstreamError('UPSTREAM_RESET', url, `body ended early at byte ${pos} of ${end}`);
        complete = true;
      } catch (err) {
        await retry.after(err, { pos });
      } finally {
        signal?.removeEventListener('abort', onAbort);
        if (!complete) attempt.abort();
      }
    }
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
        this.checkPartial(res.headers, start, end);
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
        throw new BaseChangedError(
          url,
          `range ${start}-${end} not satisfiable any more (${header(res.headers, 'content-range') ?? 'no Content-Range'})`,
        );
      }
      throw new UpstreamError('UPSTREAM_STATUS', url, `status ${res.statusCode} for bytes ${start}-${end}`, res.statusCode);
    } catch (err) {
      discard(res.body);
      throw err;
    }
  }

  /** A 206 is the version we opened and exactly the bytes asked for, or it is not used. */
  private checkPartial(headers: Headers, start: number, end: number): void {
    const url = this.version.url;
    this.checkValidator(headers, 206);
    const cr = parseContentRange(header(headers, 'content-range'));
    if (!cr)
      throw new UpstreamError('UPSTREAM_BAD_RANGE', url, `206 without a valid Content-Range (${header(headers, 'content-range') ?? 'none'})`, 206);
    if (cr.total !== undefined && cr.total !== this.size) throw new BaseChangedError(url, `size changed from ${this.size} to ${cr.total}`);
    if (cr.start !== start || cr.end !== end)
      throw new UpstreamError('UPSTREAM_BAD_RANGE', url, `asked bytes ${start}-${end}, got ${cr.start}-${cr.end}`, 206);
    const cl = header(headers, 'content-length');
    if (cl !== undefined && Number(cl) !== end - start + 1) {
      throw new UpstreamError('UPSTREAM_BAD_RANGE', url, `Content-Length ${cl} does not match bytes ${start}-${end}`, 206);
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

/**
 * Opens an http(s) base image: learns its size and validator, and whether it honours Range.
 * Throws UpstreamError (UPSTREAM_STATUS, UPSTREAM_UNREACHABLE, UPSTREAM_TIMEOUT, ...).
 */
export async function openHttpSource(url: string, options: HttpSourceOptions = {}): Promise<UpstreamSource> {
  const opts = resolveHttpOptions(options);
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UpstreamError('UPSTREAM_FORBIDDEN', url, `not an http(s) URL`);
  const ownsDispatcher = options.dispatcher === undefined;
  const dispatcher = options.dispatcher ?? createUpstreamAgent({ connectTimeoutMs: opts.connectTimeoutMs });
  // One budget for the whole probe: each attempt has its own header timeout, and retries add up.
  const budget = new AbortController();
  const unlink = linkAbort(options.signal, budget);
  const late = () => budget.abort(new UpstreamError('UPSTREAM_TIMEOUT', url, `no usable answer within ${opts.probeTimeoutMs} ms`));
  const timer = setTimeout(late, opts.probeTimeoutMs);
  try {
    const found = await probe(dispatcher, url, { ...opts, signal: budget.signal });
    const version: BaseVersion = {
      url,
      size: found.size,
      ...(found.etag !== undefined ? { etag: found.etag } : {}),
      ...(found.lastModified !== undefined ? { lastModified: found.lastModified } : {}),
    };
    return new HttpSource({ version, supportsRanges: found.supportsRanges ?? false, effectiveUrl: found.url }, dispatcher, ownsDispatcher, opts);
  } catch (err) {
    if (ownsDispatcher) await dispatcher.close().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
    unlink();
  }
}
