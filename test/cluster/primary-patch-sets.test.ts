// A cluster's patch sets, computed in its primary (src/cluster/primary-patch-sets.ts): one
// computation per (base version, edits) whatever the number of asking workers, the base's context
// prepared once from the primary's cache, errors with their class and code, nothing kept of a
// failure or of a version that went. Real block cache over a real HTTP upstream serving a real
// ISO 9660 image; the workers' side of the channel is in test/cluster/cluster.test.ts.

import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeEdits } from '../../src/bootconfig/index.js';
import { createBlockCache, type BlockCache, type CachedSource } from '../../src/cache/block-cache.js';
import { createPrimaryPatchSets } from '../../src/cluster/primary-patch-sets.js';
import { demoIsoSpec } from '../../src/demo/demo-iso.js';
import { BaseChangedError } from '../../src/errors.js';
import { memorySource } from '../../src/byte-source.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { writeIso } from '../../src/iso9660/writer.js';
import { prepareBase, type BaseContext } from '../../src/remaster/base-context.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import { baseContext } from '../../src/serving/bases.js';
import { createUpstreamAgent, openHttpSource } from '../../src/upstream/http-source.js';
import { scratchDir } from '../helpers/tools.js';
import { patternBytes, startFixtureServer, type FixtureServer } from '../upstream/fixture-server.js';

const MiB = 1024 * 1024;
const ISO = writeIso(demoIsoSpec());
const edits = (i: number) => normalizeEdits({ append: [`ipa-node=node-${i}`] });
const agent = createUpstreamAgent({ connectTimeoutMs: 2_000 });

let iso: FixtureServer;
let junk: FixtureServer;
let scratch: { dir: string; cleanup: () => Promise<void> };
let cache: BlockCache;
const sources = new Map<string, CachedSource>();

beforeAll(async () => {
  scratch = await scratchDir('isoproxy-primary-patch-');
  iso = await startFixtureServer(ISO);
  junk = await startFixtureServer(patternBytes(3 * MiB, 5));
  cache = await createBlockCache({ dir: join(scratch.dir, 'cache'), budgetBytes: 64 * MiB, blockSize: MiB, readaheadBlocks: 0 });
  sources.set('v-iso', cache.source(await openHttpSource(iso.url, { dispatcher: agent })));
  sources.set('v-junk', cache.source(await openHttpSource(junk.url, { dispatcher: agent })));
});
afterAll(async () => {
  await cache.close();
  await Promise.all([iso.close(), junk.close()]);
  await agent.close();
  await scratch.cleanup();
});

/** The primary's contexts as src/cluster/primary.ts keeps them: one per version, with its log. */
function contexts(): { contextOf: (vk: string) => Promise<BaseContext>; indexed: () => number; reads: () => number } {
  const lines: string[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
  let reads = 0;
  const byVk = new Map<string, () => Promise<BaseContext>>();
  for (const [vk, src] of sources) {
    const counted = Object.create(src) as CachedSource;
    counted.read = (...args: Parameters<CachedSource['read']>) => {
      reads++;
      return src.read(...args);
    };
    byVk.set(vk, baseContext(counted, { url: `http://upstream/${vk}`, version: vk, size: src.size }, logger));
  }
  return {
    contextOf: async (vk) => {
      const c = byVk.get(vk);
      if (!c) throw new BaseChangedError('', `base version ${vk} is no longer served`);
      return c();
    },
    indexed: () => lines.filter((l) => JSON.parse(l).msg === 'base indexed').length,
    reads: () => reads,
  };
}

describe("a cluster primary's patch sets", () => {
  it('computes each (version, edits) once for every asking worker, the same bytes as in process', async () => {
    const c = contexts();
    const primary = createPrimaryPatchSets({ threads: 1, contextOf: c.contextOf });
    try {
      // Eight workers asking for two nodes at once.
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => primary.patchSet('v-iso', edits(i % 2), `node-${i % 2}`)));
      const source = memorySource(ISO);
      const ctx = await prepareBase(await buildIndex(source), source);
      for (const [i, a] of answers.entries()) expect(a.patchSet.digest).toBe(computePatchSet(ctx, edits(i % 2)).patchSet.digest);
      expect(primary.pool.stats.computations).toBe(2);
      expect(c.indexed()).toBe(1);
      // A version that went takes its patch sets with it: asked again, one is computed again.
      primary.forget('v-iso');
      await primary.patchSet('v-iso', edits(0), 'node-0');
      expect(primary.pool.stats.computations).toBe(3);
    } finally {
      await primary.close();
    }
  });

  it('answers a malformed base as the ISO format error it is, and keeps no failure', async () => {
    const c = contexts();
    const primary = createPrimaryPatchSets({ threads: 1, contextOf: c.contextOf });
    try {
      await expect(primary.patchSet('v-junk', edits(1))).rejects.toMatchObject({ code: 'ISO_FORMAT' });
      const first = c.reads();
      expect(first).toBeGreaterThan(0);
      // Not kept: asked again, the base is read again (an upstream that was wrong may be fixed).
      await expect(primary.patchSet('v-junk', edits(1))).rejects.toMatchObject({ code: 'ISO_FORMAT' });
      expect(c.reads()).toBe(2 * first);
      await expect(primary.patchSet('v-gone', edits(1))).rejects.toBeInstanceOf(BaseChangedError);
      expect(primary.pool.stats.computations).toBe(0);
      expect(c.indexed()).toBe(0);
    } finally {
      await primary.close();
    }
  });
});
