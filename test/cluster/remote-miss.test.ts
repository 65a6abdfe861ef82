// A cluster worker's miss: the primary puts the block on disk and names its file, and the worker
// sends it from that file, so no block bytes cross between the processes. The "primary" here is
// a real block cache over the same directory and a real HTTP upstream, called as functions; the
// IPC path itself runs in cluster.test.ts. The bytes are asked for only when the named file is
// gone before the worker opens it, or when the primary could not keep the block.

import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { blockFileName, versionDirName } from '../../src/cache/block-file.js';
import { createBlockCache, type BlockCache, type BlockOnDisk, type CachedSource } from '../../src/cache/block-cache.js';
import { RemoteBlockCache } from '../../src/cluster/remote-cache.js';
import type { Chunk } from '../../src/io/file-span.js';
import { readSpan } from '../../src/io/file-span.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import type { UpstreamSource } from '../../src/upstream/types.js';
import { scratchDir } from '../helpers/tools.js';
import { patternBytes, sha256, startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';

const MiB = 1024 * 1024;
const BLOCK = MiB;
const IMAGE = patternBytes(3 * MiB + 4096, 5);
const agent = createUpstreamAgent({ connectTimeoutMs: 2_000 });
const never = new AbortController().signal;

let server: FixtureServer;
let scratch: { dir: string; cleanup: () => Promise<void> };
let n = 0;
const closing: Array<{ close(): Promise<void> }> = [];

type Answer = BlockOnDisk | { readonly bytes: Uint8Array };

async function setup(answer?: (primary: CachedSource, index: number) => Promise<Answer>) {
  const dir = join(scratch.dir, `c${n++}`);
  const primaryCache: BlockCache = await createBlockCache({ dir, budgetBytes: 64 * MiB, blockSize: BLOCK, readaheadBlocks: 0 });
  closing.push(primaryCache);
  const upstream: UpstreamSource = await openHttpSource(server.url, { dispatcher: agent });
  const primary = primaryCache.source(upstream);
  const calls = { ensure: 0, bytes: 0 };
  const worker = new RemoteBlockCache({
    dir,
    blockSize: BLOCK,
    ensureBlock: async (_vk, index) => {
      calls.ensure++;
      return answer ? answer(primary, index) : primary.ensure!(index, never);
    },
    fetchBlock: async (_vk, index) => {
      calls.bytes++;
      return primary.read(index * BLOCK, Math.min(BLOCK, IMAGE.length - index * BLOCK));
    },
    prefetch: () => {},
  });
  closing.push(worker);
  return { dir, primary, calls, source: worker.source(upstream) };
}

/** The range through the worker's `spans`: the exact bytes, and how many chunks were file spans. */
async function throughSpans(source: CachedSource, offset: number, length: number): Promise<{ sha: string; files: number; buffers: number }> {
  const parts: Uint8Array[] = [];
  let files = 0;
  let buffers = 0;
  for await (const c of source.spans!(offset, length) as AsyncIterable<Chunk>) {
    if (c instanceof Uint8Array) {
      buffers++;
      parts.push(c);
    } else {
      files++;
      try {
        parts.push(new Uint8Array(await readSpan(c, 256 * 1024)));
      } finally {
        c.release();
      }
    }
  }
  return { sha: sha256(Buffer.concat(parts)), files, buffers };
}

beforeAll(async () => {
  scratch = await scratchDir('isoproxy-remote-miss-');
  server = await startFixtureServer(IMAGE);
});
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c.close();
});
afterAll(async () => {
  await server.close();
  await agent.close();
  await scratch.cleanup();
});

describe("a worker's miss", () => {
  it('is answered with a file the worker sends from: every chunk of a cold range is a file span, and no bytes are asked for', async () => {
    const { calls, source } = await setup();
    const r = await throughSpans(source, 1000, IMAGE.length - 1000);
    expect(r.sha).toBe(sha256(IMAGE.subarray(1000)));
    expect(r.buffers).toBe(0);
    expect(r.files).toBeGreaterThanOrEqual(4);
    expect(calls).toEqual({ ensure: 4, bytes: 0 });
    expect(server.rangeGets()).toHaveLength(4);
  });

  it('shares one question per block among the readers of the process', async () => {
    const { calls, source } = await setup();
    const all = await Promise.all(Array.from({ length: 6 }, () => throughSpans(source, 0, 2 * MiB)));
    for (const r of all) expect(r.sha).toBe(sha256(IMAGE.subarray(0, 2 * MiB)));
    expect(calls.ensure).toBe(2);
    expect(calls.bytes).toBe(0);
  });

  it('asks for the bytes when the named file is gone before the worker opens it', async () => {
    const { dir, calls, source } = await setup(async (primary, index) => {
      const a = (await primary.ensure!(index, never)) as BlockOnDisk;
      // Evicted between the answer and the worker's open.
      await unlink(join(dir, versionDirName(primary.versionKey, BLOCK), blockFileName({ index, lengthBytes: a.length, crc: a.crc })));
      return a;
    });
    const r = await throughSpans(source, 0, MiB);
    expect(r.sha).toBe(sha256(IMAGE.subarray(0, MiB)));
    expect(calls).toEqual({ ensure: 1, bytes: 1 });
  });

  it('serves the bytes the primary hands over when it could not keep the block', async () => {
    const { calls, source } = await setup(async (primary, index) => ({ bytes: await primary.read(index * BLOCK, BLOCK) }));
    const r = await throughSpans(source, 0, MiB);
    expect(r.sha).toBe(sha256(IMAGE.subarray(0, MiB)));
    expect(r.buffers).toBeGreaterThan(0);
    expect(calls).toEqual({ ensure: 1, bytes: 0 });
  });
});
