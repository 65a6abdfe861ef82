// The boot test's static server: QEMU's curl driver needs HEAD with Accept-Ranges and 206
// responses to single ranges; anything else it would misread. Boundary table plus live requests.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/tools.js';
import { parseRange, startStaticServer, type StaticServer } from './static-server.js';

describe('parseRange', () => {
  const size = 100;
  it.each([
    ['no header', undefined, undefined],
    ['bounded', 'bytes=0-9', { start: 0, end: 9 }],
    ['end clamped to the size', 'bytes=90-500', { start: 90, end: 99 }],
    ['open-ended', 'bytes=95-', { start: 95, end: 99 }],
    ['suffix', 'bytes=-10', { start: 90, end: 99 }],
    ['suffix longer than the file', 'bytes=-500', { start: 0, end: 99 }],
    ['start at the size', 'bytes=100-', 'unsatisfiable'],
    ['end before start', 'bytes=9-0', 'unsatisfiable'],
    ['empty suffix', 'bytes=-0', 'unsatisfiable'],
    ['several ranges (ignored: the whole file)', 'bytes=0-1,5-6', undefined],
    ['another unit (ignored)', 'items=0-1', undefined],
  ] as const)('resolves %s', (_name, header, expected) => {
    expect(parseRange(header, size)).toEqual(expected);
  });
});

describe('startStaticServer', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let server: StaticServer;
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-static-');
    await writeFile(join(scratch.dir, 'a.iso'), bytes);
    server = await startStaticServer({ 'a.iso': join(scratch.dir, 'a.iso') });
  });
  afterAll(async () => {
    await server?.close();
    await scratch?.cleanup();
  });

  it('answers HEAD with the size and Accept-Ranges, as the curl driver requires', async () => {
    const res = await fetch(server.url('a.iso'), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe('1000');
  });

  it('serves a range as 206 with exactly its bytes', async () => {
    const res = await fetch(server.url('a.iso'), { headers: { Range: 'bytes=250-509' } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 250-509/1000');
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(bytes.subarray(250, 510));
  });

  it('refuses a range past the end with 416 and the size', async () => {
    const res = await fetch(server.url('a.iso'), { headers: { Range: 'bytes=1000-' } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */1000');
  });

  it('answers 404 for a name it does not serve', async () => {
    expect((await fetch(server.url('other.iso'))).status).toBe(404);
  });
});
