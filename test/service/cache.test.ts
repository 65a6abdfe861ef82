// The block cache as the whole service uses it, asserted from the
// upstream's request log and the cache directory: a budget of three 1 MiB blocks under concurrent
// downloads of a six-block image (bytes exact, disk within budget, evictions counted); a second
// server on a warm cache directory serving without fetching cached blocks again; and 100
// concurrent clients on a cold base fetching each block from upstream exactly once; blocks of a
// version replaced while the server was down never served; corrupt and short blocks refetched
// after a restart; an unwritable cache directory.

import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { diskBytes, downloadByRanges, expectedImage, getRange, MiB, seeded, sha256, startProxy } from './harness.js';
import { sizedIso } from './images.js';
import { startUpstream, type TestUpstream } from './upstream.js';

const missing = missingTools('xorriso');
const EDITS_A: Edits = { append: ['isoproxy.node=a'] };
const EDITS_B: Edits = { set: { 'isoproxy.keep': 'b' } };

/** sha256 of a whole GET, hashed as it streams (100 clients must not hold 100 images). */
async function streamedDigest(url: string): Promise<{ status: number; digest: string; bytes: number }> {
  const res = await fetch(url);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { status: res.status, digest: hash.digest('hex'), bytes };
}

/** Asserts the block GETs cover [0, size) in aligned 1 MiB blocks, each exactly once. */
function expectEachBlockOnce(ranges: Array<string | undefined>, size: number): void {
  const sorted = ranges
    .map(
      (r) =>
        /^bytes=(\d+)-(\d+)$/
          .exec(r ?? '')!
          .slice(1)
          .map(Number) as [number, number],
    )
    .sort((a, b) => a[0] - b[0]);
  const want: Array<[number, number]> = [];
  for (let at = 0; at < size; at += MiB) want.push([at, Math.min(size, at + MiB) - 1]);
  expect(sorted).toEqual(want);
}

describe.skipIf(missing.length > 0)(
  `the block cache under the whole service${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    let upstream: TestUpstream;
    let iso: string;
    let iso2: string;
    const expected: Record<string, Buffer> = {};

    beforeAll(async () => {
      scratch = await scratchDir('isoproxy-service-cache-');
      iso = await sizedIso(scratch.dir, 'six', 5, 'six');
      expected.a = await expectedImage(iso, EDITS_A, join(scratch.dir, 'a.expected.iso'));
      expected.b = await expectedImage(iso, EDITS_B, join(scratch.dir, 'b.expected.iso'));
      const bytes = await readFile(iso);
      // One path per test, so each starts on a cold base.
      upstream = await startUpstream({
        '/tiny-budget.iso': bytes,
        '/warm.iso': bytes,
        '/crowd.iso': bytes,
        '/replaced.iso': bytes,
        '/degraded.iso': bytes,
        '/corrupt.iso': bytes,
      });
      iso2 = await sizedIso(scratch.dir, 'six-b', 5, 'six-b');
      expected.a2 = await expectedImage(iso2, EDITS_A, join(scratch.dir, 'a2.expected.iso'));
    });

    afterAll(async () => {
      await upstream?.close();
      await scratch?.cleanup();
    });

    it('serves exact bytes to concurrent downloads with a budget of three blocks: the index within it throughout, the directory once writes settle', async () => {
      const budget = 3 * MiB;
      const dir = join(scratch.dir, 'tiny');
      const cacheDir = join(dir, 'cache');
      // Built here (revalidateMs) to reach the cache's own counters and flush().
      const proxy = await startProxy({ dir, allow: [`${upstream.origin}/`], budget: '3MiB', revalidateMs: 60_000 });
      // Sampled while the downloads run: the cache's own account of bytes on disk (its LRU index).
      let peakIndexed = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          if (proxy.service) peakIndexed = Math.max(peakIndexed, proxy.service.cache.stats().bytesUsed);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      try {
        expect((await proxy.putNode('a', { bootIso: upstream.url('/tiny-budget.iso'), edits: EDITS_A })).status).toBe(201);
        expect((await proxy.putNode('b', { bootIso: upstream.url('/tiny-budget.iso'), edits: EDITS_B })).status).toBe(201);
        const a = expected.a!;
        const b = expected.b!;
        const rand = seeded(3);
        const randomRanges = async (node: string, want: Buffer): Promise<void> => {
          for (let i = 0; i < 24; i++) {
            const start = Math.floor(rand() * want.length);
            const end = Math.min(want.length - 1, start + Math.floor(rand() * 600 * 1024));
            expect((await getRange(proxy.imageUrl(node), start, end)).equals(want.subarray(start, end + 1))).toBe(true);
          }
        };
        const results = await Promise.all([
          streamedDigest(proxy.imageUrl('a')),
          streamedDigest(proxy.imageUrl('b')),
          downloadByRanges(proxy.imageUrl('a'), a.length, MiB).then(sha256),
          downloadByRanges(proxy.imageUrl('b'), b.length, 256 * 1024).then(sha256),
          randomRanges('a', a),
          randomRanges('b', b),
          streamedDigest(proxy.imageUrl('a')),
        ]);
        expect(results[0]!).toMatchObject({ status: 200, digest: sha256(a) });
        expect(results[1]!).toMatchObject({ status: 200, digest: sha256(b) });
        expect(results[2]).toBe(sha256(a));
        expect(results[3]).toBe(sha256(b));
        expect(results[6]!).toMatchObject({ status: 200, digest: sha256(a) });
        await proxy.service!.cache.flush();
        const stats = proxy.service!.cache.stats();
        expect(stats.evictions).toBeGreaterThan(0);
        expect(stats.bytesUsed).toBeLessThanOrEqual(budget);
        expect(await diskBytes(cacheDir)).toBeLessThanOrEqual(budget);
        expect(peakIndexed).toBeGreaterThan(0);
        expect(peakIndexed).toBeLessThanOrEqual(budget);
        // Not asserted: the directory itself overshoots the budget for moments while downloads run
        // (seen: up to 1.7 MiB over a 3 MiB budget), because persist() in src/cache/block-cache.ts
        // writes and renames a block before lru.set() evicts to make room, and dispose unlinks the
        // evicted file asynchronously. See the integration report.
        expect(await proxy.metrics()).toMatch(/^isoproxy_cache_evictions_total [1-9]/m);
      } finally {
        sampling = false;
        await sampler;
        await proxy.close();
      }
    });

    it('serves from a warm cache directory after a restart without fetching cached blocks again', async () => {
      const dir = join(scratch.dir, 'warm');
      const first = await startProxy({ dir, allow: [`${upstream.origin}/`] });
      try {
        expect((await first.putNode('a', { bootIso: upstream.url('/warm.iso'), edits: EDITS_A })).status).toBe(201);
        expect(sha256(await downloadByRanges(first.imageUrl('a'), expected.a!.length, MiB))).toBe(sha256(expected.a!));
      } finally {
        await first.close();
      }
      expectEachBlockOnce(
        upstream.blockGets('/warm.iso').map((r) => r.range),
        expected.a!.length,
      );
      const mark = upstream.log.length;
      const second = await startProxy({ dir, allow: [`${upstream.origin}/`] });
      try {
        const got = await streamedDigest(second.imageUrl('a'));
        expect(got).toMatchObject({ status: 200, digest: sha256(expected.a!) });
        const since = upstream.log.slice(mark);
        // Only the one-byte probe that learns the base's current version; no block is fetched.
        expect(since.length).toBeGreaterThan(0);
        expect(since.every((r) => r.range === 'bytes=0-0')).toBe(true);
        expect(await second.metrics()).toMatch(/^isoproxy_cache_misses_total 0$/m);
      } finally {
        await second.close();
      }
    });

    it('fetches each block from upstream once for 100 concurrent clients on a cold base', async () => {
      const proxy = await startProxy({ dir: join(scratch.dir, 'crowd'), allow: [`${upstream.origin}/`] });
      try {
        expect((await proxy.putNode('a', { bootIso: upstream.url('/crowd.iso'), edits: EDITS_A })).status).toBe(201);
        expect((await proxy.putNode('b', { bootIso: upstream.url('/crowd.iso'), edits: EDITS_B })).status).toBe(201);
        // PUT answers with the node's ETag, which opens and indexes the base (here: fetching the
        // first blocks): the data blocks are still cold when the 100 clients start, and the log
        // below holds the index's fetches and theirs, each block once.
        const indexed = upstream.blockGets('/crowd.iso').map((r) => r.range);
        const clients = Array.from({ length: 100 }, (_, i) => streamedDigest(proxy.imageUrl(i % 2 === 0 ? 'a' : 'b')));
        const results = await Promise.all(clients);
        results.forEach((r, i) => {
          expect(r, `client ${i}`).toMatchObject({ status: 200, digest: sha256(i % 2 === 0 ? expected.a! : expected.b!) });
        });
        const all = upstream.blockGets('/crowd.iso').map((r) => r.range);
        expect(all.slice(0, indexed.length)).toEqual(indexed);
        expectEachBlockOnce(all, expected.a!.length);
        expect(upstream.blockGets('/crowd.iso').every((r) => r.status === 206)).toBe(true);
      } finally {
        await proxy.close();
      }
    });

    it('never serves cached blocks of an old version after the base changed while the server was down', async () => {
      const dir = join(scratch.dir, 'replaced');
      const first = await startProxy({ dir, allow: [`${upstream.origin}/`] });
      try {
        expect((await first.putNode('a', { bootIso: upstream.url('/replaced.iso'), edits: EDITS_A })).status).toBe(201);
        expect(await streamedDigest(first.imageUrl('a'))).toMatchObject({ status: 200, digest: sha256(expected.a!) });
      } finally {
        await first.close();
      }
      // Same size, same layout, other bytes: only the validator (ETag, Last-Modified) differs.
      expect(expected.a2!.length).toBe(expected.a!.length);
      upstream.set('/replaced.iso', await readFile(iso2));
      const second = await startProxy({ dir, allow: [`${upstream.origin}/`] });
      try {
        expect(await streamedDigest(second.imageUrl('a'))).toMatchObject({ status: 200, digest: sha256(expected.a2!) });
      } finally {
        await second.close();
      }
    });

    it('serves exact bytes straight from upstream when the cache directory cannot be written, and says so in /metrics', async () => {
      const dir = join(scratch.dir, 'degraded');
      await mkdir(dir, { recursive: true });
      const notADir = join(dir, 'cache-is-a-file');
      await writeFile(notADir, 'not a directory');
      const proxy = await startProxy({ dir, cacheDir: notADir, allow: [`${upstream.origin}/`] });
      try {
        expect((await proxy.putNode('a', { bootIso: upstream.url('/degraded.iso'), edits: EDITS_A })).status).toBe(201);
        expect(await streamedDigest(proxy.imageUrl('a'))).toMatchObject({ status: 200, digest: sha256(expected.a!) });
        expect(sha256(await downloadByRanges(proxy.imageUrl('a'), expected.a!.length, MiB))).toBe(sha256(expected.a!));
        expect(await proxy.metrics()).toMatch(/^isoproxy_cache_degraded 1$/m);
        expect(proxy.logs.filter((l) => /unwritable/.test(String(l.msg))).length).toBe(1);
      } finally {
        await proxy.close();
      }
    });

    it('refetches a cached block found corrupt or short after a restart, and serves exact bytes', async () => {
      const dir = join(scratch.dir, 'corrupt');
      const cacheDir = join(dir, 'cache');
      const first = await startProxy({ dir, allow: [`${upstream.origin}/`] });
      try {
        expect((await first.putNode('a', { bootIso: upstream.url('/corrupt.iso'), edits: EDITS_A })).status).toBe(201);
        expect(await streamedDigest(first.imageUrl('a'))).toMatchObject({ status: 200, digest: sha256(expected.a!) });
      } finally {
        await first.close();
      }
      // Two block files (names carry index, length and CRC): flip a byte in one, cut the other short.
      const files = (await readdir(cacheDir, { recursive: true, withFileTypes: true }))
        .filter((e) => e.isFile() && !e.name.startsWith('.'))
        .map((e) => join(e.parentPath, e.name))
        .sort();
      expect(files.length).toBeGreaterThanOrEqual(3);
      const flipped = files[1]!;
      const cut = files[2]!;
      const bytes = await readFile(flipped);
      bytes[1000] = bytes[1000]! ^ 0xff;
      await writeFile(flipped, bytes);
      await truncate(cut, 4096);
      const mark = upstream.log.length;
      const second = await startProxy({ dir, allow: [`${upstream.origin}/`] });
      try {
        expect(await streamedDigest(second.imageUrl('a'))).toMatchObject({ status: 200, digest: sha256(expected.a!) });
        expect(sha256(await downloadByRanges(second.imageUrl('a'), expected.a!.length, MiB))).toBe(sha256(expected.a!));
        // Only the two damaged blocks came from upstream again, once each.
        const refetched = upstream.log.slice(mark).filter((r) => r.method === 'GET' && r.range !== 'bytes=0-0' && r.path === '/corrupt.iso');
        expect(refetched.length).toBe(2);
      } finally {
        await second.close();
      }
    });
  },
);
