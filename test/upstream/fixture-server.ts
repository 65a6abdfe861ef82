// A plain node:http upstream for tests: serves one image with Range, ETag and Last-Modified, and can
// misbehave on demand the ways real upstreams do (ignore Range, reset mid-stream, 503 then OK,
// change version mid-download, redirect chains or a redirect elsewhere, slow headers, a body that
// stalls, refuse HEAD, lie in Content-Range).
// Every request is logged, and socket closes are counted, so tests can assert upstream traffic.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  readonly ifRange: string | undefined;
  status: number;
}

export interface Misbehaviour {
  /** Answer 200 with the whole body to Range requests, and no Accept-Ranges. */
  ignoreRange?: boolean;
  /** Destroy the socket after this many body bytes, for the next `resetCount` GETs. */
  resetAfterBytes?: number;
  resetCount?: number;
  /** Answer 503 to the next N requests. */
  fail503Count?: number;
  /** Wait this long before sending headers (for header timeouts). */
  slowHeadersMs?: number;
  /** Answer 405 to HEAD. */
  refuseHead?: boolean;
  /** Answer this status to the one-byte probe `Range: bytes=0-0`. */
  probeStatus?: number;
  /** Shift the Content-Range start by this much (a broken proxy). */
  lieContentRangeBy?: number;
  /** Send the body slowly: this many ms between 64 KiB pieces (lets aborts land mid-body). */
  dripMs?: number;
  /** Answer every request for the image with `302 Location: <this URL>` (another host, say). */
  redirectTo?: string;
  /** Send headers and this many body bytes, then nothing: the connection stays open, silent. */
  stallAfterBytes?: number;
}

export interface FixtureServer {
  readonly url: string;
  readonly origin: string;
  readonly log: LoggedRequest[];
  /** Sockets the server saw close. */
  readonly closedSockets: () => number;
  readonly openSockets: () => number;
  /** Connections accepted so far. */
  readonly connections: () => number;
  readonly misbehave: Misbehaviour;
  /** Replaces the image (a new version: new ETag and Last-Modified). */
  setContent(bytes: Uint8Array, lastModified?: Date): void;
  readonly etag: () => string;
  /** GETs that carried a Range header, except the 1-byte probe sent when a source opens. */
  rangeGets(): LoggedRequest[];
  /** Resolves once a socket closes after this call. */
  nextSocketClose(): Promise<void>;
  close(): Promise<void>;
}

/** Deterministic pseudo-random bytes (xorshift), so images are reproducible without fixtures. */
export function patternBytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
    if (i + 1 < size) out[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < size) out[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < size) out[i + 3] = (x >>> 24) & 0xff;
  }
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Parses one `bytes=a-b` / `bytes=a-` / `bytes=-n` range (tests only ask single ranges). */
function parseRange(header: string, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header);
  if (!m) return undefined;
  if (m[1] === '') {
    const n = Number(m[2]);
    return n > 0 ? { start: Math.max(0, size - n), end: size - 1 } : undefined;
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start <= end && start < size ? { start, end } : undefined;
}

/** Resolves when a response can take more body (or its connection is gone). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((r) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      r();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export async function startFixtureServer(initial: Uint8Array, options: { redirectHops?: number } = {}): Promise<FixtureServer> {
  let content = initial;
  let version = 1;
  let lastModified = new Date(Date.UTC(2024, 0, 1, 0, 0, 0));
  let etag = `"v${version}-${sha256(content).slice(0, 16)}"`;
  const log: LoggedRequest[] = [];
  const misbehave: Misbehaviour = {};
  const sockets = new Set<Socket>();
  let closed = 0;
  let accepted = 0;
  let closeWaiters: (() => void)[] = [];
  const redirectHops = options.redirectHops ?? 0;

  const send = async (req: IncomingMessage, res: ServerResponse, entry: LoggedRequest) => {
    const size = content.length;
    const body = content;
    const lm = lastModified.toUTCString();
    if (misbehave.slowHeadersMs) await new Promise((r) => setTimeout(r, misbehave.slowHeadersMs));
    if (misbehave.fail503Count && misbehave.fail503Count > 0) {
      misbehave.fail503Count--;
      entry.status = 503;
      res.writeHead(503, { 'content-length': '0' }).end();
      return;
    }
    if (misbehave.probeStatus !== undefined && req.headers.range === 'bytes=0-0') {
      entry.status = misbehave.probeStatus;
      res.writeHead(misbehave.probeStatus, { 'content-length': '0' }).end();
      return;
    }
    if (req.method === 'HEAD' && misbehave.refuseHead) {
      entry.status = 405;
      res.writeHead(405, { 'content-length': '0' }).end();
      return;
    }
    const headers: Record<string, string> = { etag, 'last-modified': lm, 'content-type': 'application/octet-stream' };
    if (!misbehave.ignoreRange) headers['accept-ranges'] = 'bytes';
    let start = 0;
    let end = size - 1;
    let status = 200;
    const rangeHeader = req.headers.range;
    const ifRange = req.headers['if-range'];
    const ifRangeOk = ifRange === undefined || ifRange === etag || ifRange === lm;
    if (rangeHeader && !misbehave.ignoreRange && ifRangeOk) {
      const r = parseRange(rangeHeader, size);
      if (!r) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': '0' }).end();
        return;
      }
      ({ start, end } = r);
      status = 206;
      const shift = misbehave.lieContentRangeBy ?? 0;
      headers['content-range'] = `bytes ${start + shift}-${end + shift}/${size}`;
    }
    headers['content-length'] = String(end - start + 1);
    entry.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (misbehave.stallAfterBytes !== undefined) {
      const n = Math.min(misbehave.stallAfterBytes, end - start + 1);
      res.flushHeaders(); // headers go out even when no body byte does
      if (n > 0) res.write(body.subarray(start, start + n));
      await new Promise((r) => res.on('close', r));
      return;
    }
    const reset = misbehave.resetAfterBytes !== undefined && (misbehave.resetCount ?? 0) > 0 ? misbehave.resetAfterBytes : undefined;
    if (reset !== undefined) misbehave.resetCount = (misbehave.resetCount ?? 1) - 1;
    const piece = 64 * 1024;
    let sent = 0;
    for (let pos = start; pos <= end; pos += piece) {
      if (res.destroyed) return;
      let chunk = body.subarray(pos, Math.min(end + 1, pos + piece));
      if (reset !== undefined && sent + chunk.length > reset) {
        chunk = chunk.subarray(0, reset - sent);
        if (chunk.length > 0) res.write(chunk);
        await new Promise((r) => setTimeout(r, 5));
        res.socket?.destroy();
        return;
      }
      sent += chunk.length;
      const ok = res.write(chunk);
      if (misbehave.dripMs) await new Promise((r) => setTimeout(r, misbehave.dripMs));
      else if (!ok) await drained(res);
    }
    res.end();
  };

  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const ifRange = req.headers['if-range'] as string | undefined;
    const entry: LoggedRequest = { method: req.method ?? 'GET', path, range: req.headers.range, ifRange, status: 0 };
    log.push(entry);
    const hop = /^\/r(\d+)\/image\.iso$/.exec(path);
    if (hop) {
      const n = Number(hop[1]);
      entry.status = 302;
      res.writeHead(302, { location: n > 1 ? `/r${n - 1}/image.iso` : '/image.iso', 'content-length': '0' }).end();
      return;
    }
    if (path === '/image.iso' && misbehave.redirectTo !== undefined) {
      entry.status = 302;
      res.writeHead(302, { location: misbehave.redirectTo, 'content-length': '0' }).end();
      return;
    }
    if (path !== '/image.iso') {
      entry.status = 404;
      res.writeHead(404, { 'content-length': '0' }).end();
      return;
    }
    send(req, res, entry).catch(() => res.destroy());
  });
  server.keepAliveTimeout = 10_000;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    accepted++;
    s.on('close', () => {
      sockets.delete(s);
      closed++;
      const w = closeWaiters;
      closeWaiters = [];
      for (const f of w) f();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: redirectHops > 0 ? `${origin}/r${redirectHops}/image.iso` : `${origin}/image.iso`,
    origin,
    log,
    misbehave,
    closedSockets: () => closed,
    openSockets: () => sockets.size,
    connections: () => accepted,
    setContent(bytes, lm) {
      content = bytes;
      version++;
      lastModified = lm ?? new Date(lastModified.getTime() + 60_000);
      etag = `"v${version}-${sha256(content).slice(0, 16)}"`;
    },
    etag: () => etag,
    rangeGets: () => log.filter((e) => e.method === 'GET' && e.range !== undefined && e.range !== 'bytes=0-0'),
    nextSocketClose: () => new Promise<void>((r) => closeWaiters.push(r)),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Collects an async iterable of chunks into one array. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of chunks) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}
