// CachedSource.ensure: a block put on disk for a reader in another process (a cluster worker),
// answered with the CRC and length that name its file, whole and checked; its bytes only when the
// cache cannot keep it. Real cache, real HTTP upstream (the fixture server), real block files.

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBlockCache, type BlockCache, type CachedSource } from '../../src/cache/block-cache.js';
import { blockFileName } from '../../src/cache/block-file.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import { scratchDir } from '../helpers/tools.js';
import { patternBytes, sha256, startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';

const MiB = 1024 * 1024;
// 4 MiB + 500 bytes with 1 MiB blocks: 5 blocks, the last one short.
const IMAGE = patternBytes(4 * MiB + 500, 11);
const agent = createUpstreamAgent({ connectTimeoutMs: 2_000 });
const never = new AbortController().signal;

let server: FixtureServer;
let scratch: { dir: string; cleanup: () => Promise<void> };
let n = 0;
const opened: BlockCache[] = [];

async function newSource(budgetBytes = 64 * MiB): Promise<{ dir: string; cache: BlockCache; src: CachedSource }> {
  const dir = join(scratch.dir, `c${n++}`);
  const cache = await createBlockCache({ dir, budgetBytes, blockSize: MiB, readaheadBlocks: 0 });
  opened.push(cache);
  const src = cache.source(await openHttpSource(server.url, { dispatcher: agent }));
  return { dir, cache, src };
}

/** The path of block `index`'s file as an answer names it. */
async function fileOf(dir: string, index: number, a: { crc: number; length: number }): Promise<string> {
  const version = (await readdir(dir)).find((d) => !d.startsWith('.'))!;
  return join(dir, version, blockFileName({ index, lengthBytes: a.length, crc: a.crc }));
}

const slice = (index: number): Uint8Array => IMAGE.subarray(index * MiB, Math.min(IMAGE.length, (index + 1) * MiB));

beforeAll(async () => {
  scratch = await scratchDir('isoproxy-ensure-');
  server = await startFixtureServer(IMAGE);
});
afterEach(async () => {
  for (const c of opened.splice(0)) await c.close();
});
afterAll(async () => {
  await server.close();
  await agent.close();
  await scratch.cleanup();
});

describe('CachedSource.ensure', () => {
  it('fetches a missing block once for every concurrent asker and answers once its file is whole on disk', async () => {
    const { dir, src } = await newSource();
    const before = server.rangeGets().length;
    const answers = await Promise.all(Array.from({ length: 5 }, () => src.ensure!(2, never)));
    expect(server.rangeGets().length - before).toBe(1);
    for (const a of answers) {
      expect('bytes' in a).toBe(false);
      expect(a).toEqual({ crc: crc32(slice(2)) >>> 0, length: MiB });
    }
    const a = answers[0] as { crc: number; length: number };
    expect(sha256(await readFile(await fileOf(dir, 2, a)))).toBe(sha256(slice(2)));
  });

  it('answers a block on disk without asking upstream, the short last block with its own length', async () => {
    const { cache, src } = await newSource();
    await src.ensure!(4, never);
    const before = server.rangeGets().length;
    const hits = cache.stats().hits;
    expect(await src.ensure!(4, never)).toEqual({ crc: crc32(slice(4)) >>> 0, length: 500 });
    expect(server.rangeGets().length).toBe(before);
    expect(cache.stats().hits).toBe(hits + 1);
  });

  it('refuses a block outside the image', async () => {
    const { src } = await newSource();
    for (const index of [-1, 5, 1.5, Number.NaN]) await expect(src.ensure!(index, never)).rejects.toThrow(RangeError);
  });

  it('checks a changed file before naming it: a corrupt block is dropped, fetched again and named whole', async () => {
    const { dir, src } = await newSource();
    const a = (await src.ensure!(1, never)) as { crc: number; length: number };
    const path = await fileOf(dir, 1, a);
    const bytes = await readFile(path);
    bytes[100] = bytes[100]! ^ 0xff;
    await writeFile(path, bytes);
    const before = server.rangeGets().length;
    expect(await src.ensure!(1, never)).toEqual(a);
    expect(server.rangeGets().length - before).toBe(1);
    expect(sha256(await readFile(path))).toBe(sha256(slice(1)));
  });

  it('hands out the bytes when the cache cannot keep the block (a budget smaller than a block)', async () => {
    const { src } = await newSource(MiB / 2);
    const a = await src.ensure!(0, never);
    expect('bytes' in a).toBe(true);
    expect(sha256((a as { bytes: Uint8Array }).bytes)).toBe(sha256(slice(0)));
  });
});
