// A BMC mounting virtual media over HTTP, as the wave tests need it: HEAD for the size and ETag,
// then the image by 256 KiB ranges, one at a time, hashed in order. A range that fails (reset,
// short body, 5xx) is retried after a short pause, as BMC firmware does; a range that comes back
// under another ETag is not retried but reported, because that is the one thing a replica must
// never do (the image would be a mix of two).

import { createHash } from 'node:crypto';

export const RANGE_BYTES = 256 * 1024;

export interface BmcProgress {
  /** Image bytes received by every BMC sharing this object. */
  bytes: number;
  /** Ranges that succeeded, by the clock (ms since the epoch), for "served during the outage". */
  readonly okAt: number[];
}

export interface BmcResult {
  readonly node: string;
  readonly size: number;
  readonly sha256: string;
  readonly etag: string;
  readonly ranges: number;
  /** Attempts that failed and were retried, with why. */
  readonly retries: string[];
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function attempt<T>(what: string, retries: string[], maxAttempts: number, run: () => Promise<T>): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await run();
    } catch (err) {
      if (err instanceof EtagChanged || i >= maxAttempts) throw err;
      retries.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      await pause(Math.min(50 * i, 500));
    }
  }
}

export class EtagChanged extends Error {}

/** Reads the node's image at `url` the way a BMC does; resolves with its digest and what had to be retried. */
export async function bmcRead(node: string, url: string, progress: BmcProgress, maxAttempts = 40): Promise<BmcResult> {
  const retries: string[] = [];
  const head = await attempt('HEAD', retries, maxAttempts, async () => {
    const res = await fetch(url, { method: 'HEAD' });
    if (res.status !== 200) throw new Error(`HEAD status ${res.status}`);
    return { size: Number(res.headers.get('content-length')), etag: res.headers.get('etag') ?? '' };
  });
  const hash = createHash('sha256');
  let ranges = 0;
  for (let at = 0; at < head.size; at += RANGE_BYTES) {
    const end = Math.min(head.size, at + RANGE_BYTES) - 1;
    const bytes = await attempt(`range ${at}-${end}`, retries, maxAttempts, async () => {
      const res = await fetch(url, { headers: { range: `bytes=${at}-${end}` } });
      const body = Buffer.from(await res.arrayBuffer());
      if (res.status !== 206) throw new Error(`status ${res.status} ${body.subarray(0, 200).toString()}`);
      const etag = res.headers.get('etag') ?? '';
      if (etag !== head.etag) throw new EtagChanged(`${node}: range ${at}-${end} came with ETag ${etag}, the mount began with ${head.etag}`);
      if (res.headers.get('content-range') !== `bytes ${at}-${end}/${head.size}` || body.length !== end - at + 1) {
        throw new Error(`short or misplaced: ${res.headers.get('content-range')}, ${body.length} bytes`);
      }
      return body;
    });
    hash.update(bytes);
    ranges++;
    progress.bytes += bytes.length;
    progress.okAt.push(Date.now());
  }
  return { node, size: head.size, sha256: hash.digest('hex'), etag: head.etag, ranges, retries };
}
