// The byte budget is a bound on the disk, not only on the index: with a small budget and several
// cold streams over two bases at once, the directory's files (blocks and temporary files of writes
// in flight) are sampled over and over while the streams run. The cache promises at most the
// budget at every instant; the assertion allows one block per concurrent stream on top, because a
// sample (readdir, then a stat per file) is not atomic: a block evicted in one version directory
// and one written in the other can both be counted by one sample.
//
// The disk is made slow the way a loaded one is: writeFile returns some time after the bytes are
// in the file, so temporary files of many writes sit on disk at once (as in the field, where 31 MB
// of temporary files stood beside a 16 MiB budget).

import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createBlockCache } from '../../src/cache/block-cache.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import { scratchDir } from '../helpers/tools.js';
import { collect, patternBytes, sha256, startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof fs.writeFile = async (...args) => {
    await fs.writeFile(...args);
    await new Promise((r) => setTimeout(r, 100));
  };
  return { ...fs, writeFile };
});

const MiB = 1024 * 1024;
const IMAGES = [patternBytes(12 * MiB + 100, 61), patternBytes(10 * MiB + 7, 62)];

/** Bytes of every file under `dir`: block files and temporary files alike. */
async function diskUse(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  let total = 0;
  for (const e of entries) {
    if (!e.isFile()) continue;
    total += await stat(join(e.parentPath, e.name)).then(
      (s) => s.size,
      () => 0,
    );
  }
  return total;
}

describe('block cache disk budget under concurrency', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let servers: FixtureServer[];
  const agent = createUpstreamAgent();

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-budget-');
    servers = await Promise.all(IMAGES.map((img) => startFixtureServer(img)));
    // A slightly slow upstream (1 ms per 64 KiB) gives the sampler time to look many times.
    for (const s of servers) s.misbehave.dripMs = 1;
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await agent.close();
    await scratch.cleanup();
  });

  it('never holds more than the budget on disk, temporary files included, while cold streams run', async () => {
    const dir = join(scratch.dir, 'cache');
    const budget = 4 * MiB;
    const streams = 4;
    const cache = await createBlockCache({ dir, budgetBytes: budget, blockSize: MiB, readaheadBlocks: 8, chunkBytes: 256 * 1024 });
    try {
      const sources = await Promise.all(servers.map(async (s) => cache.source(await openHttpSource(s.url, { dispatcher: agent }))));
      let running = true;
      const samples: number[] = [];
      const sampler = (async () => {
        while (running) {
          samples.push(await diskUse(dir));
          await new Promise((r) => setImmediate(r));
        }
      })();
      const readers = Array.from({ length: streams }, async (_, i) => {
        const b = i % 2;
        for (let round = 0; round < 2; round++) {
          const h = sha256(await collect(sources[b]!.stream(0, IMAGES[b]!.length)));
          expect(h).toBe(sha256(IMAGES[b]!));
        }
      });
      await Promise.all(readers);
      await cache.flush();
      running = false;
      await sampler;
      samples.push(await diskUse(dir));
      const worst = Math.max(...samples);
      expect(worst, `worst of ${samples.length} samples: ${worst} bytes`).toBeLessThanOrEqual(budget + streams * MiB);
      expect(samples.length).toBeGreaterThan(20);
      expect(samples.at(-1)!).toBeLessThanOrEqual(budget);
    } finally {
      await cache.close();
    }
  }, 60_000);
});
