// A stand-in for isoproxy in the Redfish tests: a plain node:http server answering
// HEAD/GET /iso/<node>.iso with Content-Length, Accept-Ranges and single byte ranges (clamped at
// the end, 416 past it), from per-node buffers. Counts requests so tests can see the BMC pattern.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImageServer {
  readonly url: string;
  readonly requests: { method: string; path: string; range: string | undefined; status: number }[];
  close(): Promise<void>;
}

export async function startImageServer(images: Map<string, Buffer>): Promise<ImageServer> {
  const requests: ImageServer['requests'] = [];
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const m = /^\/iso\/([^/]+)\.iso$/.exec((req.url ?? '').split('?')[0] ?? '');
    const image = m ? images.get(decodeURIComponent(m[1] ?? '')) : undefined;
    const log = (status: number): void => {
      requests.push({ method: req.method ?? '', path: req.url ?? '', range: req.headers.range, status });
    };
    if (!image) {
      log(404);
      res.writeHead(404).end();
      return;
    }
    const size = image.length;
    const range = req.headers.range;
    if (range === undefined) {
      log(200);
      res.writeHead(200, { 'content-length': size, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' });
      res.end(req.method === 'HEAD' ? undefined : image);
      return;
    }
    const r = /^bytes=(\d+)-(\d*)$/.exec(range);
    const start = r ? Number(r[1]) : NaN;
    const end = r && r[2] !== '' ? Math.min(Number(r[2]), size - 1) : size - 1;
    if (!r || start >= size || end < start) {
      log(416);
      res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
      return;
    }
    log(206);
    res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}`, 'accept-ranges': 'bytes' });
    res.end(req.method === 'HEAD' ? undefined : image.subarray(start, end + 1));
  };
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
