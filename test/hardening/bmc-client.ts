// A BMC-like range client that records exactly how each response ended, for the fault suites.
// It reads an image by fixed-size ranges and retries a range that failed, as BMCs do, and tells
// apart the four ways a response can end: complete; a clean error (a status >= 400 with a JSON
// body naming a code); a short body after a 2xx head (allowed only once bytes went out); and an
// empty reply (the connection closed before any status line), which must never happen.

import { request } from 'node:http';

export interface RangeOutcome {
  readonly kind: 'ok' | 'error' | 'short' | 'empty';
  readonly status?: number;
  readonly code?: string;
  readonly bytes?: Buffer;
  readonly ms: number;
}

export function getRangeRaw(url: string, start: number, end: number, timeoutMs = 60_000): Promise<RangeOutcome> {
  const began = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const done = (o: Omit<RangeOutcome, 'ms'>): void => {
      if (settled) return;
      settled = true;
      resolve({ ...o, ms: performance.now() - began });
    };
    const req = request(url, { headers: { range: `bytes=${start}-${end}` }, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => done({ kind: 'short', status: res.statusCode }));
      res.on('aborted', () => done({ kind: 'short', status: res.statusCode }));
      res.on('close', () => {
        const body = Buffer.concat(chunks);
        const status = res.statusCode ?? 0;
        if (status >= 400) {
          let code: string | undefined;
          try {
            code = (JSON.parse(body.toString('utf8')) as { error?: { code?: string } }).error?.code;
          } catch {
            code = undefined;
          }
          done({ kind: 'error', status, code });
          return;
        }
        const complete = res.complete && body.length === end - start + 1;
        done(complete ? { kind: 'ok', status, bytes: body } : { kind: 'short', status });
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', () => done({ kind: 'empty' }));
    req.end();
  });
}

export interface DownloadReport {
  readonly image?: Buffer;
  readonly outcomes: RangeOutcome[];
}

/** Reads [0, size) by `step`-byte ranges, retrying each range up to `tries` times. */
export async function downloadWithRetries(url: string, size: number, step: number, tries = 8): Promise<DownloadReport> {
  const parts: Buffer[] = [];
  const outcomes: RangeOutcome[] = [];
  for (let start = 0; start < size; start += step) {
    const end = Math.min(size, start + step) - 1;
    let got: Buffer | undefined;
    for (let attempt = 0; attempt < tries && !got; attempt++) {
      const o = await getRangeRaw(url, start, end);
      outcomes.push(o);
      if (o.kind === 'ok') got = o.bytes;
      else await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
    }
    if (!got) return { outcomes };
    parts.push(got);
  }
  return { image: Buffer.concat(parts), outcomes };
}

/** Open file descriptors of this process (Linux). */
export async function openFds(): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir('/proc/self/fd')).length;
}
