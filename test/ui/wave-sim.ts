// A simulated deployment wave for the status page's tests: a small range-serving HTTP server for
// /iso/<node>.iso whose per-chunk hook feeds a WaveTracker (the shape of the serving core's
// transfer observer), a simulated block cache that fills as first reads touch the image, and BMC
// clients that mount (HEAD, probes) and then read the boot bytes by 256 KiB ranges.
//
// The browser test runs against the real isoproxy server (with startSlowUpstream below as its
// base's upstream); the stand-in range server stays for tests of the tracker alone: the same
// events in the same order (transferStart, bytes() per chunk written, transferEnd).

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WaveTracker } from '../../src/status/index.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
const CHUNK = 64 * KiB;
const BLOCK = 1 * MiB;

export interface RangeServerOptions {
  readonly tracker: WaveTracker;
  readonly imageSize: number;
  readonly base: string;
  /** Nodes whose transfers stop sending once the node has been sent this many bytes. */
  readonly stallAfterBytes?: ReadonlyMap<string, number>;
  /** Delay between chunks, to make a wave last long enough to watch. */
  readonly chunkDelayMs?: number;
}

export interface RangeServer {
  readonly url: string;
  /** Simulated cache: distinct 1 MiB blocks touched by any node, in bytes. */
  cachedBytes(): number;
  /** Bytes "fetched from upstream": each block once, on its first touch. */
  upstreamBytes(): number;
  close(): Promise<void>;
}

/** The image's bytes: a deterministic pattern so clients can check what they got. */
export function byteAt(offset: number): number {
  return (offset * 31 + (offset >>> 11)) & 0xff;
}

function fill(buf: Buffer, offset: number): void {
  for (let i = 0; i < buf.length; i++) buf[i] = byteAt(offset + i);
}

export async function startRangeServer(options: RangeServerOptions): Promise<RangeServer> {
  const { tracker, imageSize } = options;
  const blocks = new Set<number>();
  const sentPerNode = new Map<string, number>();
  const held = new Set<() => void>();
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  const server: Server = createServer((req, res) => {
    const m = /^\/iso\/([A-Za-z0-9._-]+)\.iso$/.exec(req.url ?? '');
    if (!m || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404).end();
      return;
    }
    const node = m[1]!;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = imageSize; // exclusive
    if (range) {
      start = Number(range[1]);
      end = range[2] === '' ? imageSize : Math.min(imageSize, Number(range[2]) + 1);
      if (start >= imageSize || end <= start) {
        res.writeHead(416, { 'Content-Range': `bytes */${imageSize}` }).end();
        return;
      }
    }
    const head = req.method === 'HEAD';
    tracker.transferStart({
      node,
      source: 'store',
      method: req.method,
      start,
      end: head ? start : end,
      imageSize,
      base: options.base,
      etag: '"wave-1"',
    });
    const headers = { 'Content-Length': String(end - start), 'Accept-Ranges': 'bytes', ETag: '"wave-1"', 'Content-Type': 'application/octet-stream' };
    if (range) res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end - 1}/${imageSize}` });
    else res.writeHead(200, headers);
    let ended = false;
    const finish = (status: number): void => {
      if (ended) return;
      ended = true;
      tracker.transferEnd({ node, status });
    };
    res.on('close', () => finish(range ? 206 : 200));
    if (head) {
      res.end();
      return;
    }
    void (async () => {
      for (let off = start; off < end; off += CHUNK) {
        const len = Math.min(CHUNK, end - off);
        const limit = options.stallAfterBytes?.get(node);
        if (limit !== undefined && (sentPerNode.get(node) ?? 0) >= limit) {
          // A stalled transfer: the response stays open and sends nothing until the server closes.
          await new Promise<void>((resolve) => held.add(resolve));
          return;
        }
        const buf = Buffer.allocUnsafe(len);
        fill(buf, off);
        if (res.destroyed) return;
        const ok = res.write(buf);
        // The per-chunk hook: what the serving core's observer will call.
        tracker.bytes(node, off, len);
        sentPerNode.set(node, (sentPerNode.get(node) ?? 0) + len);
        for (let b = Math.floor(off / BLOCK); b <= Math.floor((off + len - 1) / BLOCK); b++) blocks.add(b);
        if (!ok) await new Promise<void>((r) => res.once('drain', () => r()));
        if (options.chunkDelayMs) await sleep(options.chunkDelayMs);
      }
      res.end();
    })().catch(() => res.destroy());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const cached = (): number => Math.min(imageSize, blocks.size * BLOCK);
  return {
    url: `http://127.0.0.1:${port}`,
    cachedBytes: cached,
    upstreamBytes: cached,
    close: async () => {
      for (const release of held) release();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export interface BmcOptions {
  readonly url: string;
  readonly node: string;
  /** Bytes the boot reads, from offset 0, by rangeBytes ranges. */
  readonly bootBytes: number;
  readonly rangeBytes?: number;
  readonly signal: AbortSignal;
  /** The image the BMC must get (checked range by range); default the stand-in's byteAt pattern. */
  readonly expected?: Uint8Array;
  /** Pause between ranges, as BMCs do between reads. */
  readonly pauseMs?: number;
  /** Where the image lives: default `${url}/iso/${node}.iso`. */
  readonly imageUrl?: string;
}

/**
 * One request and its whole body, stopped by `signal`. Each request gets a signal of its own:
 * fetch keeps its listener on the signal it is given until the request object is collected, so
 * hundreds of ranges on one shared signal piled up listeners (and Node's leak warning).
 */
async function fetchAll(target: string, init: RequestInit, signal: AbortSignal): Promise<{ status: number; body: Buffer }> {
  signal.throwIfAborted();
  const own = new AbortController();
  const stop = (): void => own.abort(signal.reason);
  signal.addEventListener('abort', stop, { once: true });
  try {
    const res = await fetch(target, { ...init, signal: own.signal });
    return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

/** One simulated BMC: HEAD, two probes (the first sector, the volume descriptor), then the boot reads. */
export async function simulateBmc(o: BmcOptions): Promise<void> {
  const target = o.imageUrl ?? `${o.url}/iso/${o.node}.iso`;
  const rangeBytes = o.rangeBytes ?? 256 * KiB;
  await fetchAll(target, { method: 'HEAD' }, o.signal);
  for (const [a, b] of [
    [0, 2047],
    [32768, 34815],
  ] as const) {
    await fetchAll(target, { headers: { Range: `bytes=${a}-${b}` } }, o.signal);
  }
  for (let off = 0; off < o.bootBytes; off += rangeBytes) {
    const last = Math.min(o.bootBytes, off + rangeBytes) - 1;
    const { status, body } = await fetchAll(target, { headers: { Range: `bytes=${off}-${last}` } }, o.signal);
    const good = o.expected ? Buffer.from(o.expected.subarray(off, last + 1)).equals(body) : body[0] === byteAt(off);
    if (status !== 206 || body.length !== last - off + 1 || !good) throw new Error(`${o.node}: bad range ${off}-${last}: ${status} ${body.length}`);
    if (o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
  }
}

/**
 * A slow upstream for the real server: one file with Range, ETag and Last-Modified, sent in
 * 64 KiB chunks with a pause between them, so the block cache fills over seconds and the page
 * can watch its bar grow.
 */
export async function startSlowUpstream(bytes: Uint8Array, chunkDelayMs: number): Promise<{ url: string; close(): Promise<void> }> {
  const etag = '"wave-base-1"';
  const lastModified = new Date(Date.UTC(2026, 0, 1)).toUTCString();
  const server: Server = createServer((req, res) => {
    const size = bytes.length;
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    if (m) {
      start = Number(m[1]);
      end = m[2] === '' ? size - 1 : Math.min(size - 1, Number(m[2]));
      if (start > end) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` }).end();
        return;
      }
    }
    const headers = { 'Content-Length': String(end - start + 1), 'Accept-Ranges': 'bytes', ETag: etag, 'Last-Modified': lastModified };
    res.writeHead(m ? 206 : 200, m ? { ...headers, 'Content-Range': `bytes ${start}-${end}/${size}` } : headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    void (async () => {
      for (let off = start; off <= end && !res.destroyed; off += CHUNK) {
        if (!res.write(bytes.subarray(off, Math.min(end + 1, off + CHUNK)))) await new Promise<void>((r) => res.once('drain', () => r()));
        await new Promise((r) => setTimeout(r, chunkDelayMs));
      }
      res.end();
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/base.iso`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
