import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBlockCache, type BlockCache } from '../../src/cache/block-cache.js';
import { BaseChangedError, type UpstreamError } from '../../src/errors.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import type { LoggerLike } from '../../src/upstream/types.js';
import { scratchDir } from '../helpers/tools.js';
import { collect, patternBytes, sha256, startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';

const MiB = 1024 * 1024;
// 6 MiB + 1000 bytes with 1 MiB blocks: 7 blocks, the last one short.
const IMAGE = patternBytes(6 * MiB + 1000, 3);
const BLOCKS = Math.ceil(IMAGE.length / MiB);
const agent = createUpstreamAgent({ connectTimeoutMs: 2_000 });
const httpOpts = { dispatcher: agent, retryBaseDelayMs: 5, retryMaxDelayMs: 20 };

let server: FixtureServer;
let scratch: { dir: string; cleanup: () => Promise<void> };
let n = 0;
const opened: BlockCache[] = [];

interface NewCacheOptions {
  dir?: string;
  budgetBytes?: number;
  logger?: LoggerLike;
  readaheadBlocks?: number;
  chunkBytes?: number;
  fetchTimeoutMs?: number;
  degradedRetryMs?: number;
}

async function newCache(options: NewCacheOptions = {}) {
  const cache = await createBlockCache({
    ...(options.fetchTimeoutMs !== undefined ? { fetchTimeoutMs: options.fetchTimeoutMs } : {}),
    ...(options.degradedRetryMs !== undefined ? { degradedRetryMs: options.degradedRetryMs } : {}),
    dir: options.dir ?? join(scratch.dir, `c${n++}`),
    budgetBytes: options.budgetBytes ?? 64 * MiB,
    blockSize: MiB,
    readaheadBlocks: options.readaheadBlocks ?? 2,
    chunkBytes: options.chunkBytes ?? 256 * 1024,
    logger: options.logger,
  });
  opened.push(cache);
  return cache;
}

function recordingLogger(): LoggerLike & { warns: string[] } {
  const warns: string[] = [];
  return { warns, warn: (_o, msg) => warns.push(msg ?? ''), info: () => {}, debug: () => {} };
}

async function blockFiles(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  for (const v of await readdir(dir)) {
    if (v.startsWith('.')) continue;
    for (const f of await readdir(join(dir, v))) {
      if (!f.endsWith('.blk')) continue;
      const path = join(dir, v, f);
      out.push({ path, size: (await stat(path)).size });
    }
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** Flips bits of one byte of block `index`'s file in place: same length, same name, only the CRC can tell. */
async function flipByte(dir: string, index: number, at: number, mask: number): Promise<void> {
  const file = (await blockFiles(dir)).find((f) => f.path.includes(`/${index}-`))!;
  const bytes = await readFile(file.path);
  bytes[at] = bytes[at]! ^ mask;
  await writeFile(file.path, bytes);
}

/** A cache directory `scratch/name` holding the whole image, written by a cache since closed. */
async function writtenDir(name: string) {
  const dir = join(scratch.dir, name);
  const first = await newCache({ dir });
  const upstream = await openHttpSource(server.url, httpOpts);
  await first.source(upstream).read(0, IMAGE.length);
  await first.close();
  return { dir, upstream };
}

/** A cache in `scratch/name` holding the whole image, every block written by this process. */
async function filledCache(name: string) {
  const dir = join(scratch.dir, name);
  const logger = recordingLogger();
  const cache = await newCache({ dir, logger });
  const src = cache.source(await openHttpSource(server.url, httpOpts));
  expect(sha256(await src.read(0, IMAGE.length))).toBe(sha256(IMAGE));
  await cache.flush();
  return { dir, logger, cache, src };
}

/** Hashes a stream without keeping it (for many concurrent readers). */
async function hashStream(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of chunks) h.update(c);
  return h.digest('hex');
}

beforeAll(async () => {
  scratch = await scratchDir('isoproxy-cache-');
  server = await startFixtureServer(IMAGE);
});
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close();
  for (const k of Object.keys(server.misbehave)) delete (server.misbehave as Record<string, unknown>)[k];
  server.setContent(IMAGE, new Date(Date.UTC(2024, 0, 1)));
  server.log.length = 0;
});
afterAll(async () => {
  await server.close();
  await agent.close();
  await scratch.cleanup();
});

describe('block cache', () => {
  it('serves the exact bytes for sequential and random reads', async () => {
    const cache = await newCache();
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    expect(sha256(await collect(src.stream(0, IMAGE.length)))).toBe(sha256(IMAGE));
    await cache.flush(); // blocks on disk: what follows are hits
    // Random ranges, including across block edges and the short last block (seeded, deterministic).
    let x = 12345;
    for (let i = 0; i < 60; i++) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const off = x % IMAGE.length;
      const len = Math.min(IMAGE.length - off, (x >>> 7) % (3 * MiB));
      expect(sha256(await src.read(off, len))).toBe(sha256(IMAGE.subarray(off, off + len)));
    }
    expect(sha256(await src.read(MiB - 1, 2))).toBe(sha256(IMAGE.subarray(MiB - 1, MiB + 1)));
    expect(sha256(await src.read(IMAGE.length - 1, 1))).toBe(sha256(IMAGE.subarray(IMAGE.length - 1)));
    expect(cache.stats().hits).toBeGreaterThan(0);
    expect(cache.stats().upstreamBytes).toBe(IMAGE.length);
  });

  it('fetches each block from upstream once under 100 concurrent readers on a cold cache', async () => {
    const cache = await newCache();
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    const reader = (i: number) => (i % 2 === 0 ? hashStream(src.stream(0, IMAGE.length)) : src.read(0, IMAGE.length).then(sha256));
    const hashes = await Promise.all(Array.from({ length: 100 }, (_, i) => reader(i)));
    expect(new Set(hashes)).toEqual(new Set([sha256(IMAGE)]));
    const ranges = server
      .rangeGets()
      .map((e) => e.range)
      .sort();
    const expected = Array.from({ length: BLOCKS }, (_, b) => `bytes=${b * MiB}-${Math.min(IMAGE.length, (b + 1) * MiB) - 1}`).sort();
    expect(ranges).toEqual(expected);
    expect(cache.stats().upstreamBytes).toBe(IMAGE.length);
  });

  it('stays within a tiny budget, evicting while reads run, and still serves exact bytes', async () => {
    const dir = join(scratch.dir, 'tiny');
    const budget = 3 * MiB;
    const cache = await newCache({ dir, budgetBytes: budget });
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    const readers = Array.from({ length: 4 }, async (_, r) => {
      for (let i = 0; i < 8; i++) {
        const off = Math.min(IMAGE.length - 1, ((r * 7 + i * 3) % BLOCKS) * MiB + 4096 * i);
        const len = Math.min(IMAGE.length - off, MiB + 333);
        expect(sha256(await src.read(off, len))).toBe(sha256(IMAGE.subarray(off, off + len)));
        expect(cache.stats().bytesUsed).toBeLessThanOrEqual(budget);
      }
    });
    await Promise.all(readers);
    await cache.flush(); // writes land after the reads they served: count their evictions too
    const stats = cache.stats();
    expect(stats.evictions).toBeGreaterThan(0);
    expect(stats.bytesUsed).toBeLessThanOrEqual(budget);
    await cache.close();
    const onDisk = (await blockFiles(dir)).reduce((s, f) => s + f.size, 0);
    expect(onDisk).toBeLessThanOrEqual(budget);
  });

  it('keeps reading a block a stream holds open while the budget evicts it', async () => {
    const cache = await newCache({ budgetBytes: 2 * MiB, chunkBytes: 64 * 1024, readaheadBlocks: 0 });
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    await src.read(0, MiB);
    await cache.flush();
    const it = src.stream(0, MiB)[Symbol.asyncIterator]();
    const first = await it.next(); // block 0 is open on disk now
    for (let b = 1; b <= 3; b++) await src.read(b * MiB, 10);
    await cache.flush();
    expect(cache.stats().evictions).toBeGreaterThan(0);
    const rest = await collect({ [Symbol.asyncIterator]: () => it });
    const all = new Uint8Array(MiB);
    all.set(first.value!, 0);
    all.set(rest, first.value!.length);
    expect(sha256(all)).toBe(sha256(IMAGE.subarray(0, MiB)));
    // The rest came through the descriptor the stream held, not from upstream again.
    expect(server.rangeGets().filter((e) => e.range === `bytes=0-${MiB - 1}`)).toHaveLength(1);
  });

  it('serves a warm cache after a restart without upstream range requests', async () => {
    const dir = join(scratch.dir, 'warm');
    const first = await newCache({ dir });
    const upstream = await openHttpSource(server.url, httpOpts);
    expect(sha256(await first.source(upstream).read(0, IMAGE.length))).toBe(sha256(IMAGE));
    await first.close();
    server.log.length = 0;

    const second = await newCache({ dir });
    expect(second.stats().blocks).toBe(BLOCKS);
    const again = second.source(await openHttpSource(server.url, httpOpts));
    expect(sha256(await collect(again.stream(0, IMAGE.length)))).toBe(sha256(IMAGE));
    expect(server.rangeGets()).toEqual([]);
    expect(second.stats().misses).toBe(0);
  });

  it('bumps the mtime of a block another process read, so a restart ranks it by that use', async () => {
    const { dir, upstream } = await writtenDir('touched');
    // Every block fetched three hours ago, block 0 first; block 1 read ten minutes ago.
    const fileOf = async (index: number) => (await blockFiles(dir)).find((f) => f.path.includes(`/${index}-`))!.path;
    const hoursAgo = Date.now() - 3 * 3600_000;
    for (let i = 0; i < BLOCKS; i++) await utimes(await fileOf(i), new Date(hoursAgo + i * 1000), new Date(hoursAgo + i * 1000));
    const recent = new Date(Date.now() - 600_000);
    await utimes(await fileOf(1), recent, recent);

    const second = await newCache({ dir });
    const vk = second.source(upstream).versionKey;
    // What a cluster's worker reports it read from the block files (the primary never opens them).
    second.touch(vk, [0, 1, 0, 99]);
    await second.close();
    const mtime = async (index: number) => Math.round((await stat(await fileOf(index))).mtimeMs);
    expect(await mtime(0)).toBeGreaterThan(Date.now() - 60_000);
    expect(await mtime(1)).toBe(recent.getTime()); // used within the hour: left as it is
    expect(await mtime(2)).toBe(hoursAgo + 2000);

    // A restart with room for all but one: the least recently used by mtime goes, block 2 now.
    const third = await newCache({ dir, budgetBytes: IMAGE.length - 1000 });
    expect(third.stats().blocks).toBe(BLOCKS - 1);
    const left = (await blockFiles(dir)).map((f) => Number(/\/(\d+)-/.exec(f.path)![1]));
    expect(left.sort((a, b) => a - b)).toEqual([0, 1, 3, 4, 5, 6]);
  });

  it('refetches a corrupt block and a short block found at start', async () => {
    const { dir, upstream } = await writtenDir('corrupt');
    await flipByte(dir, 2, 1234, 0xff);
    const short = (await blockFiles(dir)).find((f) => f.path.includes('/5-'))!;
    await truncate(short.path, 1000);
    server.log.length = 0;

    const logger = recordingLogger();
    const second = await newCache({ dir, logger });
    const src = second.source(upstream);
    expect(sha256(await src.read(0, IMAGE.length))).toBe(sha256(IMAGE));
    expect(
      server
        .rangeGets()
        .map((e) => e.range)
        .sort(),
    ).toEqual([`bytes=${2 * MiB}-${3 * MiB - 1}`, `bytes=${5 * MiB}-${6 * MiB - 1}`]);
    expect(logger.warns.some((w) => w.includes('dropping cached block'))).toBe(true);
  });

  it('never serves a block corrupted on disk while the cache runs: it is dropped and fetched again', async () => {
    const { dir, logger, cache, src } = await filledCache('live-corrupt');
    // Blocks this process wrote itself, open in its descriptor cache: flip one byte of block 2.
    await flipByte(dir, 2, 4321, 0x01);
    server.log.length = 0;
    expect(sha256(await collect(src.stream(0, IMAGE.length)))).toBe(sha256(IMAGE));
    expect(sha256(await src.read(2 * MiB + 4000, 1000))).toBe(sha256(IMAGE.subarray(2 * MiB + 4000, 2 * MiB + 5000)));
    expect(server.rangeGets().map((e) => e.range)).toEqual([`bytes=${2 * MiB}-${3 * MiB - 1}`]);
    expect(logger.warns.some((w) => w.includes('dropping cached block'))).toBe(true);
    await cache.flush();
    // The block on disk is whole again.
    const again = (await blockFiles(dir)).find((f) => f.path.includes('/2-'))!;
    expect(sha256(await readFile(again.path))).toBe(sha256(IMAGE.subarray(2 * MiB, 3 * MiB)));
  });

  it('checks blocks it wrote once their write is a second old, before any reader asks: a block corrupted meanwhile is dropped', async () => {
    const { dir, logger, cache, src } = await filledCache('settle');
    await flipByte(dir, 3, 100, 0x01);
    // No read from here on: the background check finds it (a second after the write, plus margin).
    const deadline = Date.now() + 5000;
    while (!logger.warns.some((w) => w.includes('dropping cached block')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(logger.warns.filter((w) => w.includes('dropping cached block'))).toHaveLength(1);
    expect(cache.stats().blocks).toBe(BLOCKS - 1);
    expect(cache.stats().errors).toBe(1);
    // The other blocks' checks are settled: the primary of a cluster vouches for them to its workers.
    expect(await cache.checkedIdentity!(src.versionKey, 0)).toMatch(/^\d+:\d+:\d+(\.\d+)?$/);
  });

  it('degrades to serving from upstream when the directory cannot be written, warning once', async () => {
    const file = join(scratch.dir, 'not-a-dir');
    await writeFile(file, 'x');
    const logger = recordingLogger();
    const cache = await newCache({ dir: join(file, 'cache'), logger });
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    expect(sha256(await src.read(0, IMAGE.length))).toBe(sha256(IMAGE));
    expect(sha256(await src.read(100, 3 * MiB))).toBe(sha256(IMAGE.subarray(100, 100 + 3 * MiB)));
    expect(cache.stats().degraded).toBe(true);
    expect(logger.warns.filter((w) => w.includes('unwritable'))).toHaveLength(1);
  });

  it('leaves degraded mode once the directory is writable again, and caches from then on', async () => {
    // A regular file where the cache directory's parent should be: nothing can be made under it.
    const parent = join(scratch.dir, 'comes-back');
    await writeFile(parent, 'x');
    const logger = recordingLogger();
    const cache = await newCache({ dir: join(parent, 'cache'), logger, degradedRetryMs: 50 });
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    expect(sha256(await src.read(0, MiB))).toBe(sha256(IMAGE.subarray(0, MiB)));
    await cache.flush();
    expect(cache.stats().degraded).toBe(true);
    await rm(parent);
    let tries = 0;
    for (; tries < 100 && cache.stats().degraded; tries++) {
      await new Promise((r) => setTimeout(r, 60));
      await src.read((tries % BLOCKS) * MiB, 10);
      await cache.flush();
    }
    expect(cache.stats().degraded).toBe(false);
    expect(cache.stats().blocks).toBeGreaterThan(0);
    expect(logger.warns.filter((w) => w.includes('unwritable'))).toHaveLength(1);
  });

  it('aborts its upstream fetch when the only reader goes away', async () => {
    const cache = await newCache({ readaheadBlocks: 0 });
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    server.misbehave.dripMs = 30;
    const ac = new AbortController();
    const closed = server.nextSocketClose();
    const pending = src.read(0, 10, ac.signal);
    // Wait until the upstream request is on the wire, then give up.
    while (server.rangeGets().length === 0) await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    await expect(pending).rejects.toThrow();
    await closed;
    expect(cache.stats().blocks).toBe(0);
  });

  it('keeps a shared fetch going when one of two readers aborts', async () => {
    const cache = await newCache({ readaheadBlocks: 0 });
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    server.misbehave.dripMs = 5;
    const ac = new AbortController();
    const quitter = src.read(0, 10, ac.signal);
    const stayer = src.read(5, 10);
    ac.abort();
    await expect(quitter).rejects.toThrow();
    expect(sha256(await stayer)).toBe(sha256(IMAGE.subarray(5, 15)));
    expect(server.rangeGets()).toHaveLength(1);
  });

  it('fails with BaseChangedError instead of caching bytes of a new version', async () => {
    const cache = await newCache();
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    server.setContent(patternBytes(IMAGE.length, 77));
    await expect(src.read(0, 100)).rejects.toBeInstanceOf(BaseChangedError);
    expect(cache.stats().blocks).toBe(0);
  });

  it('forgets a base version on request: state always, its blocks only when asked', async () => {
    const dir = join(scratch.dir, 'forget');
    const cache = await newCache({ dir });
    const upstream = await openHttpSource(server.url, httpOpts);
    const src = cache.source(upstream);
    await src.read(0, IMAGE.length);
    await cache.flush();
    expect(cache.stats().blocks).toBe(BLOCKS);
    cache.forgetSource(src.versionKey);
    cache.forgetSource('0'.repeat(32)); // unknown: ignored
    // Blocks stay for the LRU; a source made before the forget still reads (as hits).
    expect(cache.stats().blocks).toBe(BLOCKS);
    server.log.length = 0;
    expect(sha256(await src.read(0, IMAGE.length))).toBe(sha256(IMAGE));
    expect(server.rangeGets()).toEqual([]);
    const again = cache.source(upstream); // the state made afresh
    cache.forgetSource(src.versionKey, { dropBlocks: true });
    await cache.flush();
    expect(cache.stats().blocks).toBe(0);
    expect(cache.stats().bytesUsed).toBe(0);
    expect(cache.stats().evictions).toBe(0);
    expect(await blockFiles(dir)).toEqual([]);
    // A source from before the drop still reads, and writes nothing of the dropped version.
    expect(sha256(await again.read(0, IMAGE.length))).toBe(sha256(IMAGE));
    await cache.flush();
    expect(cache.stats().blocks).toBe(0);
    // Asked for again, the version starts afresh and is cached.
    expect(sha256(await cache.source(upstream).read(0, IMAGE.length))).toBe(sha256(IMAGE));
    await cache.flush();
    expect(cache.stats().blocks).toBe(BLOCKS);
  });

  it("counts each base version's bytes on disk and fetched from upstream, as blocks are written and evicted", async () => {
    const budget = 3 * MiB;
    const dir = join(scratch.dir, 'per-source');
    const cache = await newCache({ dir, budgetBytes: budget, readaheadBlocks: 0 });
    const upstream = await openHttpSource(server.url, httpOpts);
    const src = cache.source(upstream);
    expect(cache.sourceStats(src.versionKey)).toEqual({ cachedBytes: 0, upstreamBytes: 0 });
    expect(cache.sourceStats('0'.repeat(32))).toEqual({ cachedBytes: 0, upstreamBytes: 0 });

    // Written: two whole blocks on disk, two blocks fetched.
    await src.read(0, 2 * MiB);
    await cache.flush();
    expect(cache.sourceStats(src.versionKey)).toEqual({ cachedBytes: 2 * MiB, upstreamBytes: 2 * MiB });

    // The whole image through a 3 MiB budget: blocks are evicted as others are written; the figure
    // follows the index exactly, and every fetched byte is counted once.
    expect(sha256(await src.read(0, IMAGE.length))).toBe(sha256(IMAGE));
    await cache.flush();
    const after = cache.sourceStats(src.versionKey);
    expect(cache.stats().evictions).toBeGreaterThan(0);
    expect(after.cachedBytes).toBe(cache.stats().bytesUsed);
    expect(after.cachedBytes).toBeLessThanOrEqual(budget);
    expect(after.cachedBytes).toBeGreaterThan(0);
    expect(after.upstreamBytes).toBe(cache.stats().upstreamBytes);
    expect(after.upstreamBytes).toBeGreaterThanOrEqual(IMAGE.length);

    // Forgotten without its blocks: they stay on disk, and so do the figures.
    cache.forgetSource(src.versionKey);
    expect(cache.sourceStats(src.versionKey)).toEqual(after);
    // Forgotten with its blocks: nothing of it is left to count.
    cache.forgetSource(src.versionKey, { dropBlocks: true });
    await cache.flush();
    expect(cache.sourceStats(src.versionKey)).toEqual({ cachedBytes: 0, upstreamBytes: 0 });
    expect(cache.stats().bytesUsed).toBe(0);
  });

  it("counts a version's blocks found on disk at start, and nothing fetched yet", async () => {
    const dir = join(scratch.dir, 'per-source-restart');
    const first = await newCache({ dir });
    const vk = first.source(await openHttpSource(server.url, httpOpts)).versionKey;
    await first.source(await openHttpSource(server.url, httpOpts)).read(0, IMAGE.length);
    await first.close();
    const again = await newCache({ dir });
    expect(again.sourceStats(vk)).toEqual({ cachedBytes: IMAGE.length, upstreamBytes: 0 });
  });

  it('counts the bytes of a sequential fill against its version', async () => {
    server.misbehave.ignoreRange = true;
    const cache = await newCache();
    const src = cache.source(await openHttpSource(server.url, httpOpts));
    expect(sha256(await src.read(0, IMAGE.length))).toBe(sha256(IMAGE));
    await cache.flush();
    expect(cache.sourceStats(src.versionKey)).toEqual({ cachedBytes: IMAGE.length, upstreamBytes: IMAGE.length });
  });

  it('gives up a block fetch after its total budget although the upstream trickles bytes forever', async () => {
    // Every request gets 1000 bytes, then silence: each retry makes progress, so retries alone
    // never end. Only the budget for the whole block fetch stops it.
    const cache = await newCache({ readaheadBlocks: 0, fetchTimeoutMs: 1_500 });
    const src = cache.source(await openHttpSource(server.url, { ...httpOpts, bodyTimeoutMs: 300, maxRetries: 2 }));
    server.misbehave.stallAfterBytes = 1000;
    const started = Date.now();
    const err = await src.read(0, 10).catch((e: unknown) => e);
    expect((err as UpstreamError).code).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(12_000);
    expect(cache.stats().errors).toBe(1);
    expect(cache.stats().blocks).toBe(0);
  }, 30_000);

  it('gives up a sequential fill that stalls for longer than the block budget', async () => {
    server.misbehave.ignoreRange = true;
    const cache = await newCache({ fetchTimeoutMs: 1_500 });
    const upstream = await openHttpSource(server.url, { ...httpOpts, bodyTimeoutMs: 60_000 });
    server.misbehave.stallAfterBytes = MiB + 5;
    const err = await cache
      .source(upstream)
      .read(3 * MiB, 10)
      .catch((e: unknown) => e);
    expect((err as UpstreamError).code).toBe('UPSTREAM_TIMEOUT');
  }, 30_000);

  it('reads an upstream that ignores Range with one sequential download', async () => {
    server.misbehave.ignoreRange = true;
    const cache = await newCache();
    const upstream = await openHttpSource(server.url, httpOpts);
    expect(upstream.supportsRanges).toBe(false);
    server.log.length = 0;
    const src = cache.source(upstream);
    const reads = Array.from({ length: 10 }, (_, i) => {
      const off = (i * 640_000) % IMAGE.length;
      const len = Math.min(IMAGE.length - off, 700_000);
      return src.read(off, len).then((b) => expect(sha256(b)).toBe(sha256(IMAGE.subarray(off, off + len))));
    });
    await Promise.all(reads);
    expect(sha256(await src.read(0, IMAGE.length))).toBe(sha256(IMAGE));
    expect(server.log.filter((e) => e.method === 'GET')).toHaveLength(1);
  });
});
