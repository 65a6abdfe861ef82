// Learning an http(s) base image's size, validator and Range support before reading it.
//
// A one-byte Range GET (`Range: bytes=0-0`) comes first, HEAD only where that GET is refused with
// a 4xx. Why GET first, although HEAD is the textbook probe:
// - one request answers all three questions: a 206 proves Range works (Accept-Ranges on a HEAD is
//   only a hint, and some servers send it and then ignore Range), and Content-Range carries the size;
// - presigned object-store URLs (S3, GCS) are signed for one method: HEAD on a GET-signed URL is 403;
// - undici closes the connection after every HEAD (undici#258): the pool kept opening new ones;
// - what isoproxy then sends is Range GETs, so the probe sees the server exactly as the reads will.
// A 200 to the one-byte GET means Range is ignored: its body is the whole image and is never read.

import type { Dispatcher } from 'undici';
import { UpstreamError } from '../errors.js';
import type { ResolvedHttpOptions } from './http-options.js';
import { discard, drain, header, send } from './http-request.js';
import { withRetries } from './retry.js';
import { parseContentRange } from './validator.js';

export interface Probe {
  readonly size: number;
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  /** undefined when the answer did not say (a HEAD without Accept-Ranges). */
  readonly supportsRanges: boolean | undefined;
  /** The URL that answered, after redirects. */
  readonly url: string;
}

function parseSize(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,16}$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

async function probeGet(dispatcher: Dispatcher, url: string, opts: ResolvedHttpOptions): Promise<Probe> {
  const res = await send(dispatcher, url, 'GET', { range: 'bytes=0-0' }, opts.signal, opts);
  // Never read a 200 body: it is the whole image. Destroying it closes that socket.
  if (res.statusCode === 206 || res.statusCode === 416) await drain(res.body);
  else discard(res.body);
  const etag = header(res.headers, 'etag');
  const lastModified = header(res.headers, 'last-modified');
  if (res.statusCode === 206) {
    const cr = parseContentRange(header(res.headers, 'content-range'));
    if (!cr || cr.total === undefined || cr.start !== 0) {
      throw new UpstreamError('UPSTREAM_BAD_RANGE', url, `probe got Content-Range ${header(res.headers, 'content-range') ?? 'none'}`, 206);
    }
    return { size: cr.total, etag, lastModified, supportsRanges: true, url: res.url };
  }
  if (res.statusCode === 200) {
    const size = parseSize(header(res.headers, 'content-length'));
    if (size === undefined) throw new UpstreamError('UPSTREAM_NO_LENGTH', url, 'no Content-Length: the image size is unknown', 200);
    return { size, etag, lastModified, supportsRanges: false, url: res.url };
  }
  if (res.statusCode === 416) {
    // An empty image: no byte 0 to ask for.
    const m = /^bytes \*\/(\d{1,16})$/.exec(header(res.headers, 'content-range') ?? '');
    if (m && Number(m[1]) === 0) return { size: 0, etag, lastModified, supportsRanges: true, url: res.url };
  }
  throw new UpstreamError('UPSTREAM_STATUS', url, `status ${res.statusCode}`, res.statusCode);
}

async function probeHead(dispatcher: Dispatcher, url: string, opts: ResolvedHttpOptions): Promise<Probe | undefined> {
  const res = await send(dispatcher, url, 'HEAD', {}, opts.signal, opts);
  await drain(res.body);
  if (res.statusCode >= 500 || res.statusCode === 429)
    throw new UpstreamError('UPSTREAM_STATUS', url, `HEAD answered ${res.statusCode}`, res.statusCode);
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

/**
 * The one-byte GET, retried on transient failures; HEAD when the GET got a 4xx (some servers
 * refuse Range on some paths). When HEAD tells nothing either, the GET's error is thrown.
 */
export async function probe(dispatcher: Dispatcher, url: string, opts: ResolvedHttpOptions): Promise<Probe> {
  try {
    return await withRetries(opts, url, opts.signal, () => probeGet(dispatcher, url, opts));
  } catch (err) {
    if (!(err instanceof UpstreamError) || err.code !== 'UPSTREAM_STATUS' || err.status === undefined || err.status >= 500) throw err;
    const viaHead = await withRetries(opts, url, opts.signal, () => probeHead(dispatcher, url, opts));
    if (viaHead === undefined) throw err;
    return viaHead;
  }
}
