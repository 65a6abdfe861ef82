// Hostile clients on the BMC side: thousands of fuzzed Range headers, a slowloris that never
// finishes its headers, thousands of transfers aborted after their first bytes, and one address
// opening far more transfers than any BMC does. The server answers each with a status and stays
// bounded: no 500, no leaked descriptors, memory that does not grow with the abuse, and a cap per
// client address that leaves other addresses unaffected.

import { connect } from 'node:net';
import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { expectedImage, seeded, sha256, startProxy, type ProxyUnderTest } from '../service/harness.js';
import { sizedIso } from '../service/images.js';
import { startUpstream, type TestUpstream } from '../service/upstream.js';
import { openFds } from './bmc-client.js';

const missing = missingTools('xorriso');
const EDITS: Edits = { append: ['isoproxy.hostile=1'] };

/** A Range header drawn from the shapes clients send and the ones they should not. */
function fuzzRange(r: () => number, size: number): string {
  const n = (): string => {
    const pick = r();
    if (pick < 0.2) return String(Math.floor(r() * size));
    if (pick < 0.3) return String(size + Math.floor(r() * 1000) - 500);
    if (pick < 0.4) return '9'.repeat(1 + Math.floor(r() * 30));
    if (pick < 0.5) return '-' + String(Math.floor(r() * 100));
    if (pick < 0.6) return '';
    if (pick < 0.7) return ' ' + String(Math.floor(r() * size));
    if (pick < 0.8) return '0x10';
    return String(Math.floor(r() * 4096));
  };
  const unit = r() < 0.9 ? 'bytes' : ['Bytes', 'items', '', 'bytes '][Math.floor(r() * 4)]!;
  const parts = Array.from({ length: 1 + Math.floor(r() * (r() < 0.9 ? 1 : 6)) }, () => (r() < 0.1 ? n() : `${n()}-${n()}`));
  return `${unit}=${parts.join(r() < 0.9 ? ',' : ', ')}`;
}

function rawGet(
  url: string,
  headers: Record<string, string>,
  localAddress?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, ...(localAddress ? { localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(missing.length > 0)(`isoproxy under hostile clients${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: TestUpstream;
  let proxy: ProxyUnderTest;
  let expected: Buffer;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-hostile-');
    // Large enough that a paused client's kernel socket buffers (several MiB on loopback) cannot
    // take a whole body: otherwise a held transfer ends on the server and frees its slot.
    const iso = await sizedIso(scratch.dir, 'h', 32, 'h');
    expected = await expectedImage(iso, EDITS, join(scratch.dir, 'h.expected.iso'));
    upstream = await startUpstream({ '/h.iso': await readFile(iso) });
    proxy = await startProxy({
      dir: scratch.dir,
      allow: [`${upstream.origin}/`],
      extraArgs: ['--headers-timeout', '1s', '--max-transfers-per-client', '4', '--max-connections', '400'],
    });
    expect((await proxy.putNode('h', { bootIso: upstream.url('/h.iso'), edits: EDITS })).status).toBe(201);
    // Warm the cache so the abuse below measures the server, not the upstream.
    await rawGet(proxy.imageUrl('h'), {});
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await scratch?.cleanup();
  });

  it('answers 10,000 fuzzed Range headers with 200, 206 or 416 and exact bytes, never a 500', async () => {
    const r = seeded(7);
    const size = expected.length;
    const statuses = new Map<number, number>();
    for (let batch = 0; batch < 100; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, async () => {
          const range = fuzzRange(r, size);
          const res = await fetch(proxy.imageUrl('h'), { method: 'HEAD', headers: { range } });
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          expect([200, 206, 416], `Range: ${range}`).toContain(res.status);
          if (res.status === 206 && !(res.headers.get('content-type') ?? '').startsWith('multipart/')) {
            const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get('content-range') ?? '');
            expect(m, `Range: ${range}`).not.toBeNull();
            expect(Number(res.headers.get('content-length'))).toBe(Number(m![2]) - Number(m![1]) + 1);
          }
        }),
      );
    }
    // And a sample by GET, byte-exact.
    for (let i = 0; i < 200; i++) {
      const start = Math.floor(r() * size);
      const end = Math.min(size - 1, start + Math.floor(r() * 300_000));
      const res = await rawGet(proxy.imageUrl('h'), { range: `bytes=${start}-${end}` });
      expect(res.status).toBe(206);
      expect(res.body.equals(expected.subarray(start, end + 1))).toBe(true);
    }
    console.log('fuzzed ranges by status:', JSON.stringify(Object.fromEntries(statuses)));
    // 10,200 requests: past the default 60 s on a loaded 2-core runner.
  }, 300_000);

  it('closes a connection whose headers never finish (slowloris) after the headers timeout', async () => {
    const port = Number(new URL(proxy.url).port);
    const began = Date.now();
    const closedAfter = await new Promise<number>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.write('GET /iso/h.iso HTTP/1.1\r\nHost: x\r\n');
        const drip = setInterval(() => s.write('X-Slow: 1\r\n'), 200);
        s.on('close', () => {
          clearInterval(drip);
          resolve(Date.now() - began);
        });
      });
      s.on('error', () => undefined);
      s.setTimeout(20_000, () => s.destroy());
    });
    expect(closedAfter).toBeLessThan(10_000);
  });

  it('frees everything after 2,000 transfers aborted after their first bytes', async () => {
    const fdsBefore = await openFds();
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from(
          { length: 100 },
          () =>
            new Promise<void>((resolve) => {
              const req = request(proxy.imageUrl('h'), (res) => {
                res.once('data', () => {
                  req.destroy();
                  resolve();
                });
                res.on('error', () => resolve());
              });
              req.on('error', () => resolve());
              req.end();
            }),
        ),
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(await openFds()).toBeLessThanOrEqual(fdsBefore + 16);
    const res = await rawGet(proxy.imageUrl('h'), {});
    expect(sha256(res.body)).toBe(sha256(expected));
  });

  it('caps concurrent transfers per client address with 429 and a code, leaving other addresses served', async () => {
    const holds = await Promise.all(
      Array.from(
        { length: 8 },
        () =>
          new Promise<{ status: number; body: string; close: () => void }>((resolve) => {
            const req = request(proxy.imageUrl('h'), (res) => {
              if ((res.statusCode ?? 0) >= 400) {
                const chunks: Buffer[] = [];
                res.on('data', (c: Buffer) => chunks.push(c));
                res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), close: () => undefined }));
                return;
              }
              res.pause();
              resolve({ status: res.statusCode ?? 0, body: '', close: () => req.destroy() });
            });
            req.on('error', () => resolve({ status: 0, body: '', close: () => undefined }));
            req.end();
          }),
      ),
    );
    const ok = holds.filter((h) => h.status === 200);
    const refused = holds.filter((h) => h.status === 429);
    expect(ok.length).toBe(4);
    expect(refused.length).toBe(4);
    for (const r of refused) expect(JSON.parse(r.body).error.code).toBe('TOO_MANY_TRANSFERS');
    // Another client address is not affected.
    const other = await rawGet(proxy.imageUrl('h'), { range: 'bytes=0-1023' }, '127.0.0.2');
    expect(other.status).toBe(206);
    for (const h of ok) h.close();
  });
});
