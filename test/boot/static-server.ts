// A plain static file server for the boot test, standing in for the upstream web server that
// holds the base ISOs (QEMU reads the proxy): GET and HEAD with single byte ranges (RFC 9110 §14), because
// QEMU's curl block driver sends a HEAD, refuses a server without `Accept-Ranges: bytes`, then
// reads with `Range: bytes=a-b`. Counts requests so the test can say how the image was read.

import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StaticServer {
  /** The URL of a file served under `name`. */
  url(name: string): string;
  /** Requests seen so far, by method (GET with a Range counts as RANGE). */
  readonly counts: Readonly<Record<'HEAD' | 'GET' | 'RANGE' | 'OTHER', number>>;
  close(): Promise<void>;
}

type ParsedRange = { start: number; end: number } | 'unsatisfiable' | undefined;

/**
 * One `bytes=` range resolved against `size`. A header this server does not understand (another
 * unit, several ranges) is ignored, as RFC 9110 §14.2 allows: the whole file is sent with 200.
 */
export function parseRange(header: string | undefined, size: number): ParsedRange {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Serves `files` (name → path on disk) on 127.0.0.1 at an ephemeral port. */
export async function startStaticServer(files: Readonly<Record<string, string>>): Promise<StaticServer> {
  const counts = { HEAD: 0, GET: 0, RANGE: 0, OTHER: 0 };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const name = decodeURIComponent((req.url ?? '/').split('?')[0]!.replace(/^\/+/, ''));
    const path = Object.hasOwn(files, name) ? files[name] : undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      counts.OTHER++;
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === undefined) {
      counts.OTHER++;
      res.writeHead(404).end();
      return;
    }
    const st = await stat(path);
    const size = st.size;
    const range = req.method === 'GET' ? parseRange(req.headers.range, size) : undefined;
    if (req.method === 'HEAD') counts.HEAD++;
    else if (range) counts.RANGE++;
    else counts.GET++;
    // Validators as every real web server sends them: isoproxy refuses an upstream without one.
    const headers = {
      'Accept-Ranges': 'bytes',
      'Content-Type': 'application/octet-stream',
      ETag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
      'Last-Modified': st.mtime.toUTCString(),
    };
    if (range === 'unsatisfiable') {
      res.writeHead(416, { ...headers, 'Content-Range': `bytes */${size}` }).end();
      return;
    }
    if (req.method === 'HEAD' || !range) {
      res.writeHead(200, { ...headers, 'Content-Length': String(size) });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      createReadStream(path).pipe(res);
      return;
    }
    res.writeHead(206, {
      ...headers,
      'Content-Length': String(range.end - range.start + 1),
      'Content-Range': `bytes ${range.start}-${range.end}/${size}`,
    });
    const body = createReadStream(path, { start: range.start, end: range.end });
    // A client that hangs up mid-body must not leave the file open.
    res.on('close', () => body.destroy());
    body.pipe(res);
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: (name) => `http://127.0.0.1:${port}/${encodeURIComponent(name)}`,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
