// The simulated BMC's image reader holds an image server to what BMCs need: Content-Length and
// Accept-Ranges on HEAD, 206 with an exact Content-Range for every range (the last one clamped),
// and exactly the announced bytes. Each server here breaks one of those on purpose.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { fetchImage, idleProgress, type FetchOptions } from '../../src/redfish/sim/fetch.js';

const IMAGE = Buffer.concat([Buffer.alloc(5000, 0x41), Buffer.from('menuentry "x" {\n linux /vmlinuz node=n1\n}\n'), Buffer.alloc(3000, 0x42)]);

type Quirk = 'none' | 'no-length' | 'no-ranges' | 'ignores-range' | 'wrong-content-range' | 'short-body' | 'no-clamp-416';

async function withServer<T>(quirk: Quirk, fn: (url: string) => Promise<T>): Promise<T> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const size = IMAGE.length;
    const head: Record<string, string | number> = {};
    if (quirk !== 'no-length') head['content-length'] = size;
    if (quirk !== 'no-ranges') head['accept-ranges'] = 'bytes';
    const r = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!r || quirk === 'ignores-range') {
      res.writeHead(200, head);
      res.end(req.method === 'HEAD' ? undefined : IMAGE);
      return;
    }
    const start = Number(r[1]);
    let end = Number(r[2]);
    if (end >= size) {
      if (quirk === 'no-clamp-416') {
        res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
        return;
      }
      end = size - 1;
    }
    const shown = quirk === 'wrong-content-range' ? `bytes ${start}-${end}/${size + 1}` : `bytes ${start}-${end}/${size}`;
    const body = IMAGE.subarray(start, quirk === 'short-body' ? end : end + 1);
    res.writeHead(206, { 'content-range': shown, 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}/img.iso`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function fetchWith(quirk: Quirk, options: FetchOptions) {
  return withServer(quirk, async (url) => {
    const progress = idleProgress(options.mode);
    await fetchImage(url, options, progress, new AbortController().signal);
    return progress;
  });
}

describe('the simulated BMC image reader', () => {
  it('reads by ranges, in order, across range boundaries', async () => {
    // 1 KiB ranges put the grub line across a boundary; 3 in flight.
    const p = await fetchWith('none', { mode: 'ranges', rangeSize: 1024, concurrency: 3, expect: ['node=n1', 'node=n2'] });
    const requests = 1 + Math.ceil(IMAGE.length / 1024);
    expect(p).toMatchObject({ state: 'done', bytesRead: IMAGE.length, totalBytes: IMAGE.length, requests, verified: false });
    expect(p.checks).toEqual({ sizeOk: true, bootConfig: 'menuentry', expectFound: { 'node=n1': true, 'node=n2': false } });
    expect(p.error).toBe('missing in the image: node=n2');
  });

  it('reads the whole image in one GET', async () => {
    const p = await fetchWith('none', { mode: 'whole', expect: ['node=n1'] });
    expect(p).toMatchObject({ state: 'done', verified: true, requests: 2 });
  });

  it.each<[Quirk, FetchOptions['mode'], string]>([
    ['no-length', 'ranges', 'HEAD has no Content-Length'],
    ['no-ranges', 'ranges', 'HEAD has no Accept-Ranges: bytes'],
    ['no-ranges', 'whole', 'HEAD has no Accept-Ranges: bytes'],
    ['ignores-range', 'ranges', 'range 0-1023 answered 200'],
    ['wrong-content-range', 'ranges', 'range 0-1023: Content-Range "bytes 0-1023/8043", expected bytes 0-1023/8042'],
    ['short-body', 'ranges', 'range 0-1023 sent 1023 bytes, expected 1024'],
    ['no-clamp-416', 'ranges', 'range 7168-8191 answered 416'],
  ])('fails when the server %s (%s)', async (quirk, mode, message) => {
    const p = await fetchWith(quirk, { mode, rangeSize: 1024, concurrency: 2 });
    expect(p).toMatchObject({ state: 'failed', verified: false, error: message });
  });
});
