// The patch-set pool: computations run in piscina workers (the compiled workers/remaster.js),
// are memoized by (base, edits), shared while in flight, and give the same digest as the
// in-process engine and as another process.

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memorySource } from '../../src/byte-source.js';
import { normalizeEdits } from '../../src/bootconfig/index.js';
import { demoIsoSpec } from '../../src/demo/demo-iso.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { writeIso } from '../../src/iso9660/writer.js';
import { prepareBase, type BaseContext } from '../../src/remaster/base-context.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import { createRemasterPool, type PatchSetShare, type RemasterPool } from '../../src/remaster/pool.js';
import { SharedPatchSets } from '../../src/cluster/patch-sets.js';
import { scratchDir } from '../helpers/tools.js';
import { RemasterError } from '../../src/errors.js';

const edits = (i: number) => normalizeEdits({ append: [`ipa-node=node-${i}`], set: { 'ipa-debug': '0' } });

describe('remaster pool', () => {
  let ctx: BaseContext;
  let pool: RemasterPool;
  let image: Uint8Array;
  beforeAll(async () => {
    image = writeIso(demoIsoSpec());
    const source = memorySource(image);
    ctx = await prepareBase(await buildIndex(source), source);
    pool = createRemasterPool({ workers: 2 });
  });
  afterAll(async () => {
    await pool?.close();
  });

  it('computes in a worker the same patch set as the engine in process', async () => {
    const inWorker = await pool.patchSet('base-a', ctx, edits(1), 'node-1');
    const inProcess = computePatchSet(ctx, edits(1), { node: 'node-1' });
    expect(inWorker.patchSet.digest).toBe(inProcess.patchSet.digest);
    expect(inWorker.patchSet.overlays).toEqual(inProcess.patchSet.overlays);
  });

  it('shares one computation between concurrent requests and memoizes the result', async () => {
    const before = { ...pool.stats };
    const results = await Promise.all(Array.from({ length: 20 }, () => pool.patchSet('base-a', ctx, edits(2))));
    expect(new Set(results.map((r) => r.patchSet.digest)).size).toBe(1);
    expect(pool.stats.computations - before.computations).toBe(1);
    expect(pool.stats.sharedInFlight - before.sharedInFlight).toBe(19);
    await pool.patchSet('base-a', ctx, edits(2));
    expect(pool.stats.memoHits - before.memoHits).toBe(1);
    expect(pool.stats.computations - before.computations).toBe(1);
  });

  it('gives distinct nodes distinct digests and keys results by base', async () => {
    const a = await pool.patchSet('base-a', ctx, edits(3));
    const b = await pool.patchSet('base-a', ctx, edits(4));
    expect(a.patchSet.digest).not.toBe(b.patchSet.digest);
    const before = pool.stats.computations;
    await pool.patchSet('base-b', ctx, edits(3));
    expect(pool.stats.computations).toBe(before + 1);
  });

  it('with idle threads exiting, computes again after its thread went away', async () => {
    const lazy = createRemasterPool({ workers: 1, idleThreadsExitMs: 20 });
    try {
      const first = await lazy.patchSet('base-a', ctx, edits(6));
      await new Promise((r) => setTimeout(r, 200));
      const second = await lazy.patchSet('base-a', ctx, edits(7));
      expect(second.patchSet.digest).toBe(computePatchSet(ctx, edits(7)).patchSet.digest);
      expect(first.patchSet.digest).not.toBe(second.patchSet.digest);
      expect(lazy.stats.computations).toBe(2);
    } finally {
      await lazy.close();
    }
  });

  it('brings errors back across the worker boundary with their class and code', async () => {
    const bare = { ...ctx, configs: [], fats: [] };
    const failed = pool.patchSet('base-bare', bare, edits(5), 'node-5');
    await expect(failed).rejects.toBeInstanceOf(RemasterError);
    await expect(failed).rejects.toMatchObject({ code: 'NO_KERNEL_LINES', message: expect.stringContaining('node node-5') });
    expect(pool.stats.failures).toBeGreaterThan(0);
  });

  it('with a share between processes, computes each patch set once for all of them', async () => {
    // Two pools standing for two cluster workers, the primary's share between them in process
    // (test/cluster/cluster.test.ts has the same across real processes).
    const primary = new SharedPatchSets();
    const shareOf = (worker: number): PatchSetShare => ({
      claim: (key) => primary.claim(key, worker),
      put: (key, result) => primary.put(key, result),
      failed: (key) => primary.failed(key),
    });
    const a = createRemasterPool({ workers: 1, shared: shareOf(1) });
    const b = createRemasterPool({ workers: 1, shared: shareOf(2) });
    try {
      const first = await a.patchSet('base-a', ctx, edits(8), 'node-8');
      const handed = await b.patchSet('base-a', ctx, edits(8), 'node-8');
      expect(handed.patchSet.digest).toBe(first.patchSet.digest);
      expect([a.stats.computations, b.stats.computations, b.stats.fromOthers]).toEqual([1, 0, 1]);
      // Both at once: one computes, the other waits for it.
      const [x, y] = await Promise.all([a.patchSet('base-a', ctx, edits(9)), b.patchSet('base-a', ctx, edits(9))]);
      expect(x.patchSet.digest).toBe(y.patchSet.digest);
      expect(a.stats.computations + b.stats.computations).toBe(2);
      // A failure is not handed over: the other computes, and fails with its own error.
      const bare = { ...ctx, configs: [], fats: [] };
      await expect(a.patchSet('base-bare', bare, edits(10))).rejects.toMatchObject({ code: 'NO_KERNEL_LINES' });
      await expect(b.patchSet('base-bare', bare, edits(10))).rejects.toMatchObject({ code: 'NO_KERNEL_LINES' });
      expect(b.stats.failures).toBe(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('computes itself when the share cannot answer', async () => {
    const broken: PatchSetShare = { claim: () => Promise.reject(new Error('cluster peer went away')), put: () => {}, failed: () => {} };
    const alone = createRemasterPool({ workers: 1, shared: broken });
    try {
      const r = await alone.patchSet('base-a', ctx, edits(11));
      expect(r.patchSet.digest).toBe(computePatchSet(ctx, edits(11)).patchSet.digest);
      expect(alone.stats.computations).toBe(1);
    } finally {
      await alone.close();
    }
  });

  it('gives the same digest in another process (the CLI)', async () => {
    const { dir, cleanup } = await scratchDir();
    try {
      const iso = join(dir, 'demo.iso');
      await writeFile(iso, image);
      const { stdout } = await promisify(execFile)(process.execPath, [
        'bin/isoproxy.js',
        'preview',
        iso,
        '--append',
        'ipa-node=node-1',
        '--set',
        'ipa-debug=0',
        '--json',
      ]);
      expect(JSON.parse(stdout).digest).toBe(computePatchSet(ctx, edits(1)).patchSet.digest);
    } finally {
      await cleanup();
    }
  });
});
