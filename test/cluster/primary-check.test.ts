// A worker trusts the primary's whole-file check of a block file when its own open file has the
// identity the primary checked (same inode, size, ctime): one check per block for all workers.
// Here the "primary" is a function, since the point is what the worker does with its answer; the
// real IPC path runs in cluster.test.ts. The block file is deliberately named with a wrong CRC, so
// whether the worker read and checked it itself shows in whether it serves it.

import { mkdir, mkdtemp, open, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { blockFileName, versionDirName } from '../../src/cache/block-file.js';
import { fileState } from '../../src/cache/checked-file.js';
import { RemoteBlockCache } from '../../src/cluster/remote-cache.js';
import { readSpan } from '../../src/io/file-span.js';
import type { UpstreamSource } from '../../src/upstream/types.js';

const BLOCK = 64 * 1024;
let dir: string | undefined;

afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function setup(answer: (identity: string) => string | undefined, rightCrc = false) {
  dir = await mkdtemp(join(tmpdir(), 'isoproxy-primary-check-'));
  const upstream = { size: BLOCK, version: { url: 'http://u/a.iso', size: BLOCK, etag: '"a"' } } as unknown as UpstreamSource;
  let fetched = 0;
  let asked = 0;
  let identity = '';
  const cache = new RemoteBlockCache({
    dir,
    blockSize: BLOCK,
    fetchBlock: async () => {
      fetched++;
      return new Uint8Array(BLOCK).fill(7);
    },
    prefetch: () => {},
    checkedIdentity: async () => {
      asked++;
      return answer(identity);
    },
  });
  const source = cache.source(upstream);
  const versionDir = join(dir, versionDirName(source.versionKey, BLOCK));
  await mkdir(versionDir, { recursive: true });
  const content = new Uint8Array(BLOCK).fill(1);
  const path = join(versionDir, blockFileName({ index: 0, lengthBytes: BLOCK, crc: rightCrc ? crc32(content) >>> 0 : 0x12345678 }));
  await writeFile(path, content);
  // An old file: its check is not provisional.
  const old = new Date(Date.now() - 10_000);
  await utimes(path, old, old);
  await new Promise((r) => setTimeout(r, 1_100));
  // The identity as the primary's check records it (the same function reads it).
  const handle = await open(path, 'r');
  identity = fileState(handle).identity!;
  await handle.close();
  return { cache, source, counts: () => ({ fetched, asked }) };
}

describe("a worker and the primary's check", () => {
  it('serves a block file the primary vouches for, without reading it whole itself', async () => {
    const { cache, source, counts } = await setup((identity) => identity);
    const bytes = await source.read(0, 16);
    expect([...bytes]).toEqual(new Array(16).fill(1));
    expect(counts()).toEqual({ fetched: 0, asked: 1 });
    await cache.close();
  });

  it('checks a block file once for many readers that reach it at once, and serves every one of them', async () => {
    // A cold wave: a hundred readers of one worker arrive at a block whose file this process has
    // not checked; each used to read and check it whole.
    const { cache, source, counts } = await setup(() => undefined, true);
    const spanBytes = async (offset: number): Promise<number[]> => {
      const out: number[] = [];
      for await (const c of source.spans!(offset, 16)) {
        if (c instanceof Uint8Array) out.push(...c);
        else {
          out.push(...(await readSpan(c, 16)));
          c.release();
        }
      }
      return out;
    };
    // Each reader streams its range, as the image route's writer does (small reads share a block read).
    const reads = await Promise.all(Array.from({ length: 50 }, (_, i) => spanBytes(i * 100)));
    for (const bytes of reads) expect(bytes).toEqual(new Array(16).fill(1));
    // One question to the primary (it has no check of its own), one whole check here, no fetch.
    expect(counts()).toEqual({ fetched: 0, asked: 1 });
    await cache.close();
  });

  it('checks the file itself when the primary names another identity, and refuses a bad one', async () => {
    const { cache, source, counts } = await setup(() => '1:2:3');
    const bytes = await source.read(0, 16);
    // The file's CRC does not match its name: the worker dropped it and asked the primary for the bytes.
    expect([...bytes]).toEqual(new Array(16).fill(7));
    expect(counts()).toEqual({ fetched: 1, asked: 1 });
    await cache.close();
  });
});
