// CachedSource.spansNow: a range in one or two blocks whose files are open and trusted already,
// handed out at once as file spans (the hot path of small ranges), and nothing in every other case, so
// that the streaming path (which opens, checks, drops or fetches) decides. Real cache, real HTTP
// upstream (the fixture server), real block files.

import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBlockCache, type BlockCache, type CachedSource } from '../../src/cache/block-cache.js';
import { readSpan, type FileSpan } from '../../src/io/file-span.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import { scratchDir } from '../helpers/tools.js';
import { collect, patternBytes, sha256, startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';

const MiB = 1024 * 1024;
// 4 MiB + 500 bytes with 1 MiB blocks: 5 blocks, the last one short.
const IMAGE = patternBytes(4 * MiB + 500, 7);
const agent = createUpstreamAgent({ connectTimeoutMs: 2_000 });

let server: FixtureServer;
let scratch: { dir: string; cleanup: () => Promise<void> };
let n = 0;
const opened: BlockCache[] = [];

async function newSource(): Promise<{ dir: string; cache: BlockCache; src: CachedSource }> {
  const dir = join(scratch.dir, `c${n++}`);
  const cache = await createBlockCache({ dir, budgetBytes: 64 * MiB, blockSize: MiB, readaheadBlocks: 0, chunkBytes: 256 * 1024 });
  opened.push(cache);
  const src = cache.source(await openHttpSource(server.url, { dispatcher: agent }));
  return { dir, cache, src };
}

/**
 * Reads [offset, offset+length) through `spans` twice: the first read fetches missing blocks (and
 * hands out their bytes), the second opens each block's file here.
 */
async function throughSpans(cache: BlockCache, src: CachedSource, offset: number, length: number): Promise<void> {
  for (let i = 0; i < 2; i++) {
    for await (const c of src.spans!(offset, length)) if (!(c instanceof Uint8Array)) c.release();
    await cache.flush();
  }
}

async function bytesOf(span: FileSpan): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readSpan(span, 256 * 1024));
  } finally {
    span.release();
  }
}

beforeAll(async () => {
  scratch = await scratchDir('isoproxy-span-now-');
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

describe('CachedSource.spansNow', () => {
  it('hands out a range of a block read a moment ago as one span of its file, with the exact bytes, counted as a hit', async () => {
    const { cache, src } = await newSource();
    await throughSpans(cache, src, 0, IMAGE.length);
    const hits = cache.stats().hits;
    for (const [offset, length] of [
      [0, 256 * 1024],
      [MiB + 12345, 300_000],
      [3 * MiB, MiB],
      [4 * MiB, 500],
      [4 * MiB + 499, 1],
    ] as const) {
      const spans = src.spansNow!(offset, length);
      expect(spans, `${offset}+${length}`).toHaveLength(1);
      expect(sha256(await bytesOf(spans![0]!))).toBe(sha256(IMAGE.subarray(offset, offset + length)));
    }
    expect(cache.stats().hits).toBe(hits + 5);
  });

  it('hands out a range across one block boundary as two spans, one per block file, counted as two hits', async () => {
    const { cache, src } = await newSource();
    await throughSpans(cache, src, 0, IMAGE.length);
    const hits = cache.stats().hits;
    for (const [offset, length] of [
      [MiB - 10, 20],
      [2 * MiB - 128 * 1024, 256 * 1024],
      [3 * MiB + 1, MiB + 499], // into the short last block, to the image's end
    ] as const) {
      const spans = src.spansNow!(offset, length);
      expect(spans, `${offset}+${length}`).toHaveLength(2);
      expect(spans!.map((s) => s.length).reduce((a, b) => a + b)).toBe(length);
      const bytes = Buffer.concat([await bytesOf(spans![0]!), await bytesOf(spans![1]!)]);
      expect(sha256(bytes)).toBe(sha256(IMAGE.subarray(offset, offset + length)));
    }
    expect(cache.stats().hits).toBe(hits + 6);
  });

  it('gives nothing for a range across three blocks, past the end, empty, or with a block not on disk yet, and counts nothing then', async () => {
    const { cache, src } = await newSource();
    expect(src.spansNow!(0, 1000)).toBeUndefined(); // nothing cached yet
    await throughSpans(cache, src, 0, 2 * MiB);
    const before = cache.stats();
    expect(src.spansNow!(2 * MiB - 10, 20)).toBeUndefined(); // block 1 on disk, block 2 never read
    expect(src.spansNow!(2 * MiB, 1000)).toBeUndefined();
    expect(src.spansNow!(MiB - 10, MiB + 20)).toBeUndefined(); // three blocks
    expect(src.spansNow!(4 * MiB, 501)).toBeUndefined();
    expect(src.spansNow!(100, 0)).toBeUndefined();
    expect(src.spansNow!(-1, 10)).toBeUndefined();
    expect(cache.stats().hits).toBe(before.hits);
    expect(cache.stats().misses).toBe(before.misses);
  });

  it('gives nothing for a block file changed on disk; the stream then drops it and serves the exact bytes again', async () => {
    const { dir, cache, src } = await newSource();
    await throughSpans(cache, src, 0, IMAGE.length);
    const first = src.spansNow!(MiB, 1000);
    expect(first).toHaveLength(1);
    first![0]!.release();
    const version = (await readdir(dir)).find((d) => !d.startsWith('.'))!;
    const name = (await readdir(join(dir, version))).find((f) => f.startsWith('1-'))!;
    const path = join(dir, version, name);
    const bytes = await readFile(path);
    bytes[10] = bytes[10]! ^ 0x01;
    await writeFile(path, bytes);
    expect(src.spansNow!(MiB, 1000)).toBeUndefined();
    expect(sha256(await collect(src.stream(MiB, MiB)))).toBe(sha256(IMAGE.subarray(MiB, 2 * MiB)));
  });

  it('keeps a span readable after its block is evicted: the descriptor goes when the span is released', async () => {
    const { cache, src } = await newSource();
    await throughSpans(cache, src, 0, MiB);
    const span = src.spansNow!(1000, 5000)![0]!;
    expect(span).toBeDefined();
    cache.forgetSource(src.versionKey, { dropBlocks: true });
    expect(sha256(await bytesOf(span))).toBe(sha256(IMAGE.subarray(1000, 6000)));
  });
});
