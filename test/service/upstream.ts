// A real HTTP upstream for the integration tests (node:http on 127.0.0.1): serves ISOs by path with
// Range, a strong ETag per version and Last-Modified, honours If-Range like nginx, and logs every
// request. Unlike test/upstream/fixture-server.ts it serves several files, reads a file's current
// version only when it answers (so a request held at the gate sees a swap made meanwhile), and
// can hold chosen requests until the test releases them: that makes "the upstream changed while a
// response was in flight" deterministic instead of a race against timers.

import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface UpstreamRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  readonly ifRange: string | undefined;
  status: number;
}

interface Entry {
  bytes: Uint8Array;
  etag: string;
  lastModified: string;
  version: number;
}

export interface TestUpstream {
  readonly origin: string;
  url(path: string): string;
  readonly log: UpstreamRequest[];
  /** Replaces (or adds) a file: a new version with a new ETag and Last-Modified. */
  set(path: string, bytes: Uint8Array): void;
  etag(path: string): string;
  /** Answer Range requests with 200 and the whole file, without Accept-Ranges. */
  ignoreRange: boolean;
  /** Destroy the socket after this many body bytes, for the next `resets` GETs with a Range other than the probe. */
  resetAfterBytes: number;
  resets: number;
  /** When set, only GETs for which this returns true are reset (and counted against `resets`). */
  resetOnly: ((req: UpstreamRequest) => boolean) | undefined;
  /** Requests for which this returns true wait until release(). */
  hold: ((req: UpstreamRequest) => boolean) | undefined;
  /** Send neither ETag nor Last-Modified (a server with no validators). */
  omitValidators: boolean;
  /** When set, every request is answered with this status and an empty body (an upstream that is down). */
  failWith: number | undefined;
  /** Requests waiting at the gate now. */
  held(): number;
  release(): void;
  /** GETs with a Range other than the 1-byte probe isoproxy opens a base with. */
  blockGets(path?: string): UpstreamRequest[];
  close(): Promise<void>;
}

function parseRange(header: string, size: number): { start: number; end: number } | undefined {
  const m = /^bytes=(\d+)-(\d*)$/.exec(header);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return start <= end ? { start, end } : undefined;
}

export async function startUpstream(files: Record<string, Uint8Array>): Promise<TestUpstream> {
  const entries = new Map<string, Entry>();
  let clock = Date.UTC(2024, 0, 1);
  const log: UpstreamRequest[] = [];
  let waiting: Array<() => void> = [];
  const sockets = new Set<Socket>();

  const set = (path: string, bytes: Uint8Array): void => {
    const version = (entries.get(path)?.version ?? 0) + 1;
    clock += 60_000;
    const etag = `"${version}-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}"`;
    entries.set(path, { bytes, version, etag, lastModified: new Date(clock).toUTCString() });
  };
  for (const [p, b] of Object.entries(files)) set(p, b);

  const answer = async (req: IncomingMessage, res: ServerResponse, rec: UpstreamRequest): Promise<void> => {
    if (api.hold?.(rec)) {
      await new Promise<void>((r) => waiting.push(r));
    }
    if (api.failWith !== undefined) {
      rec.status = api.failWith;
      res.writeHead(api.failWith, { 'content-length': '0' }).end();
      return;
    }
    const e = entries.get(rec.path);
    if (!e) {
      rec.status = 404;
      res.writeHead(404, { 'content-length': '0' }).end();
      return;
    }
    const size = e.bytes.length;
    const headers: Record<string, string> = api.omitValidators
      ? { 'content-type': 'application/octet-stream' }
      : { etag: e.etag, 'last-modified': e.lastModified, 'content-type': 'application/octet-stream' };
    if (!api.ignoreRange) headers['accept-ranges'] = 'bytes';
    let start = 0;
    let end = size - 1;
    let status = 200;
    const ifRangeOk = rec.ifRange === undefined || rec.ifRange === e.etag || rec.ifRange === e.lastModified;
    if (rec.range !== undefined && !api.ignoreRange && ifRangeOk) {
      const r = parseRange(rec.range, size);
      if (!r) {
        rec.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': '0' }).end();
        return;
      }
      ({ start, end } = r);
      status = 206;
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['content-length'] = String(end - start + 1);
    rec.status = status;
    res.writeHead(status, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    let resetAt: number | undefined;
    if (api.resets > 0 && rec.range !== undefined && rec.range !== 'bytes=0-0' && (api.resetOnly?.(rec) ?? true)) {
      api.resets--;
      resetAt = api.resetAfterBytes;
    }
    const piece = 64 * 1024;
    let sent = 0;
    for (let pos = start; pos <= end; pos += piece) {
      if (res.destroyed) return;
      let chunk = e.bytes.subarray(pos, Math.min(end + 1, pos + piece));
      if (resetAt !== undefined && sent + chunk.length > resetAt) {
        chunk = chunk.subarray(0, resetAt - sent);
        if (chunk.length > 0) res.write(chunk);
        await new Promise((r) => setTimeout(r, 5));
        res.socket?.destroy();
        return;
      }
      sent += chunk.length;
      if (!res.write(chunk)) {
        await new Promise<void>((r) => {
          const done = (): void => {
            res.off('drain', done);
            res.off('close', done);
            r();
          };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    res.end();
  };

  const server = createServer((req, res) => {
    const rec: UpstreamRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      status: 0,
    };
    log.push(rec);
    answer(req, res, rec).catch(() => res.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const api: TestUpstream = {
    origin,
    url: (path) => `${origin}${path}`,
    log,
    set,
    etag: (path) => entries.get(path)!.etag,
    ignoreRange: false,
    resetAfterBytes: 0,
    resets: 0,
    resetOnly: undefined,
    failWith: undefined,
    omitValidators: false,
    hold: undefined,
    held: () => waiting.length,
    release() {
      const w = waiting;
      waiting = [];
      w.forEach((f) => {
        f();
      });
    },
    blockGets: (path) =>
      log.filter((r) => r.method === 'GET' && r.range !== undefined && r.range !== 'bytes=0-0' && (path === undefined || r.path === path)),
    async close() {
      api.release();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return api;
}
