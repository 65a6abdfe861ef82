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
import { createRemasterPool, type RemasterPool } from '../../src/remaster/pool.js';
import { resultBytes } from '../../src/remaster/result-bytes.js';
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
    const inWorker = await pool.patchSet('base-a', () => ctx, edits(1), 'node-1');
    const inProcess = computePatchSet(ctx, edits(1), { node: 'node-1' });
    expect(inWorker.patchSet.digest).toBe(inProcess.patchSet.digest);
    expect(inWorker.patchSet.overlays).toEqual(inProcess.patchSet.overlays);
  });

  it('shares one computation between concurrent requests and memoizes the result', async () => {
    const before = { ...pool.stats };
    const results = await Promise.all(Array.from({ length: 20 }, () => pool.patchSet('base-a', () => ctx, edits(2))));
    expect(new Set(results.map((r) => r.patchSet.digest)).size).toBe(1);
    expect(pool.stats.computations - before.computations).toBe(1);
    expect(pool.stats.sharedInFlight - before.sharedInFlight).toBe(19);
    await pool.patchSet('base-a', () => ctx, edits(2));
    expect(pool.stats.memoHits - before.memoHits).toBe(1);
    expect(pool.stats.computations - before.computations).toBe(1);
  });

  it('counts the report texts of a result against the memo bytes, not only its overlays', async () => {
    const result = computePatchSet(ctx, edits(7));
    const texts = result.report.edits.flatMap((e) => e.report.configs).reduce((n, c) => n + c.text.length, 0);
    expect(texts).toBeGreaterThan(0);
    expect(resultBytes(result)).toBeGreaterThanOrEqual(result.report.overlayBytes + texts);
    // A memo with room for the overlays but not the texts keeps nothing: the same edits compute again.
    const small = createRemasterPool({ workers: 1, memoBytes: Math.max(1024, resultBytes(result) - 1) });
    try {
      await small.patchSet('base-a', () => ctx, edits(7));
      await small.patchSet('base-a', () => ctx, edits(7));
      expect(small.stats).toMatchObject({ computations: 2, memoHits: 0 });
    } finally {
      await small.close();
    }
  });

  it('gives distinct nodes distinct digests and keys results by base', async () => {
    const a = await pool.patchSet('base-a', () => ctx, edits(3));
    const b = await pool.patchSet('base-a', () => ctx, edits(4));
    expect(a.patchSet.digest).not.toBe(b.patchSet.digest);
    const before = pool.stats.computations;
    await pool.patchSet('base-b', () => ctx, edits(3));
    expect(pool.stats.computations).toBe(before + 1);
  });

  it('with idle threads exiting, computes again after its thread went away', async () => {
    // Each thread start is told (a serving process sets its heap flags again: src/heap-growth.ts).
    let running = 0;
    const lazy = createRemasterPool({ workers: 1, idleThreadsExitMs: 20, onThreadRunning: () => running++ });
    try {
      const first = await lazy.patchSet('base-a', () => ctx, edits(6));
      const afterFirst = running;
      expect(afterFirst).toBeGreaterThanOrEqual(1);
      await new Promise((r) => setTimeout(r, 200));
      const second = await lazy.patchSet('base-a', () => ctx, edits(7));
      expect(running).toBeGreaterThan(afterFirst);
      expect(second.patchSet.digest).toBe(computePatchSet(ctx, edits(7)).patchSet.digest);
      expect(first.patchSet.digest).not.toBe(second.patchSet.digest);
      expect(lazy.stats.computations).toBe(2);
    } finally {
      await lazy.close();
    }
  });

  it('starts a thread while a slow base context is prepared, and none beside a context at hand', async () => {
    // onThreadRunning is told of each thread start and after each computation: calls before the
    // context is ready can only be thread starts.
    const calls: string[] = [];
    const lazy = createRemasterPool({ workers: 2, idleThreadsExitMs: 5_000, onThreadRunning: () => calls.push('running') });
    try {
      const slow = async (): Promise<BaseContext> => {
        await new Promise((r) => setTimeout(r, 400));
        calls.push('context ready');
        return ctx;
      };
      const a = await lazy.patchSet('base-slow', slow, edits(8));
      expect(calls.indexOf('running')).toBeLessThan(calls.indexOf('context ready'));
      // One thread started (while preparing), then the computation on it: no second thread.
      expect(calls).toEqual(['running', 'context ready', 'running']);
      expect(a.patchSet.digest).toBe(computePatchSet(ctx, edits(8)).patchSet.digest);
    } finally {
      await lazy.close();
    }
    const fastCalls: string[] = [];
    const fast = createRemasterPool({ workers: 2, idleThreadsExitMs: 5_000, onThreadRunning: () => fastCalls.push('running') });
    try {
      await fast.patchSet('base-fast', () => ctx, edits(9));
      // The thread the computation started, and the call after it.
      expect(fastCalls).toEqual(['running', 'running']);
    } finally {
      await fast.close();
    }
  });

  it('starts a thread on warmUp, once, and computes on it without starting another', async () => {
    const calls: string[] = [];
    const lazy = createRemasterPool({ workers: 2, idleThreadsExitMs: 5_000, onThreadRunning: () => calls.push('running') });
    try {
      const warming = lazy.warmUp();
      void lazy.warmUp();
      // The thread a base's index would run beside, up once the warm-up has run on it.
      await warming;
      expect(calls).toEqual(['running']);
      await lazy.patchSet('base-warm', () => ctx, edits(10));
      // The computation's own call, on the thread already running: no second start.
      expect(calls).toEqual(['running', 'running']);
    } finally {
      await lazy.close();
    }
  });

  it('brings errors back across the worker boundary with their class and code', async () => {
    const bare = { ...ctx, configs: [], fats: [] };
    const failed = pool.patchSet('base-bare', () => bare, edits(5), 'node-5');
    await expect(failed).rejects.toBeInstanceOf(RemasterError);
    await expect(failed).rejects.toMatchObject({ code: 'NO_KERNEL_LINES', message: expect.stringContaining('node node-5') });
    expect(pool.stats.failures).toBeGreaterThan(0);
  });

  it('with a remote, computes nothing itself: the answer is memoized and one ask serves concurrent requests', async () => {
    // The remote stands for a cluster's primary (test/cluster/primary-patch-sets.test.ts has the
    // primary's side; test/cluster/cluster.test.ts both across real processes).
    const asked: string[] = [];
    const worker = createRemasterPool({
      remote: (baseId, e, node) => {
        asked.push(`${baseId} ${node}`);
        return pool.patchSet(baseId, () => ctx, e, node);
      },
    });
    // The worker never prepares a base's context: that is what keeps a cluster's workers from indexing.
    const noContext = (): never => {
      throw new Error('a pool with a remote asked for the base context');
    };
    try {
      const results = await Promise.all(Array.from({ length: 5 }, () => worker.patchSet('base-a', noContext, edits(8), 'node-8')));
      const again = await worker.patchSet('base-a', noContext, edits(8), 'node-8');
      expect(asked).toEqual(['base-a node-8']);
      expect(new Set([...results, again].map((r) => r.patchSet.digest))).toEqual(new Set([computePatchSet(ctx, edits(8)).patchSet.digest]));
      expect(worker.stats).toMatchObject({ computations: 0, fromOthers: 1, sharedInFlight: 4, memoHits: 1 });
      // A result that arrives after its base was forgotten is handed to its waiters, not kept.
      const pending = worker.patchSet('base-a', noContext, edits(9), 'node-9');
      worker.forgetBase('base-a');
      await pending;
      await worker.patchSet('base-a', noContext, edits(9), 'node-9');
      expect(asked).toEqual(['base-a node-8', 'base-a node-9', 'base-a node-9']);
      // A failure comes back as it is, and is not kept: the next request asks again.
      const bare = { ...ctx, configs: [], fats: [] };
      let failedAsks = 0;
      const failing = createRemasterPool({
        remote: (id, e) => {
          failedAsks++;
          return pool.patchSet(id, () => bare, e);
        },
      });
      await expect(failing.patchSet('base-bare', noContext, edits(10))).rejects.toMatchObject({ code: 'NO_KERNEL_LINES' });
      await expect(failing.patchSet('base-bare', noContext, edits(10))).rejects.toBeInstanceOf(RemasterError);
      expect(failedAsks).toBe(2);
      expect(failing.stats.fromOthers).toBe(0);
      await failing.close();
    } finally {
      await worker.close();
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
