// How many block files a server keeps open, and why it matters: the block cache's descriptor LRU
// under a whole read (a cyclic scan of the image's blocks). With fewer descriptors than blocks,
// every block is reopened on every pass, through the thread pool; with one per block of the
// budget, a second pass finds every file open. Real cache, real HTTP upstream, real block files.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlockCache } from '../../src/cache/block-cache.js';
import {
  blockFilesKeptOpen,
  DEFAULT_DESCRIPTOR_LIMIT,
  MAX_OPEN_BLOCK_FILES,
  parseDescriptorLimit,
  processDescriptorLimit,
} from '../../src/cache/open-files.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import { scratchDir } from '../helpers/tools.js';
import { patternBytes, startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';

const MiB = 1024 * 1024;
const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            20000                524288               files
Max locked memory         8388608              8388608              bytes
`;

describe('blockFilesKeptOpen', () => {
  it('keeps one per block of the budget, within MAX_OPEN_BLOCK_FILES and half the descriptor limit', () => {
    expect(blockFilesKeptOpen(2200 * MiB, 2 * MiB, 20000)).toBe(1100);
    expect(blockFilesKeptOpen(2200 * MiB + 1, 2 * MiB, 20000)).toBe(1101);
    expect(blockFilesKeptOpen(100 * 1024 * MiB, 2 * MiB, 1_000_000)).toBe(MAX_OPEN_BLOCK_FILES);
    expect(blockFilesKeptOpen(100 * 1024 * MiB, 2 * MiB, 1024)).toBe(512);
    expect(blockFilesKeptOpen(MiB, 2 * MiB, 20000)).toBe(4);
    expect(blockFilesKeptOpen(100 * 1024 * MiB, 2 * MiB, 3)).toBe(4);
  });

  it("reads the soft limit from /proc/self/limits' text, and falls back when it is not there", () => {
    expect(parseDescriptorLimit(LIMITS)).toBe(20000);
    expect(parseDescriptorLimit(LIMITS.replace('20000 ', 'unlimited'))).toBe(Number.MAX_SAFE_INTEGER);
    expect(parseDescriptorLimit('')).toBeUndefined();
    expect(parseDescriptorLimit('Max open files            lots                 lots                 files')).toBeUndefined();
    expect(parseDescriptorLimit('Max open files            -3                   5                    files')).toBeUndefined();
    const own = processDescriptorLimit();
    expect(Number.isSafeInteger(own) && own >= 1).toBe(true);
    expect(DEFAULT_DESCRIPTOR_LIMIT).toBe(1024);
  });
});

describe('block files kept open under a whole read', () => {
  // 6 MiB in 1 MiB blocks: 6 blocks.
  const IMAGE = patternBytes(6 * MiB, 3);
  const agent = createUpstreamAgent({ connectTimeoutMs: 2_000 });
  let server: FixtureServer;
  let scratch: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-open-files-');
    server = await startFixtureServer(IMAGE);
  });
  afterAll(async () => {
    await server.close();
    await agent.close();
    await scratch.cleanup();
  });

  /** After two whole reads, the blocks whose files are still open (spansNow hands them out). */
  async function openAfterTwoPasses(maxOpenFiles: number, tag: string): Promise<number[]> {
    const budgetBytes = 64 * MiB;
    const cache = await createBlockCache({
      dir: join(scratch.dir, tag),
      budgetBytes,
      blockSize: MiB,
      readaheadBlocks: 0,
      chunkBytes: 256 * 1024,
      maxOpenFiles,
    });
    try {
      const src = cache.source(await openHttpSource(server.url, { dispatcher: agent }));
      for (let pass = 0; pass < 2; pass++) {
        for await (const c of src.spans!(0, IMAGE.length)) if (!(c instanceof Uint8Array)) c.release();
        await cache.flush();
      }
      const open: number[] = [];
      for (let b = 0; b < 6; b++) {
        const spans = src.spansNow!(b * MiB, 1000);
        if (spans) open.push(b);
        for (const s of spans ?? []) s.release();
      }
      return open;
    } finally {
      await cache.close();
    }
  }

  it('with one descriptor per block of the budget, every block file is still open after a whole read', async () => {
    expect(await openAfterTwoPasses(blockFilesKeptOpen(64 * MiB, MiB, 20000), 'per-block')).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('with fewer descriptors than blocks, a whole read leaves only its last blocks open (each pass reopens them all)', async () => {
    expect(await openAfterTwoPasses(4, 'fewer')).toEqual([2, 3, 4, 5]);
  });
});
