// A cluster's patch sets, computed in its primary. A worker asks here (op `patchset`) when its own
// memo misses; the primary's pool computes each (base version, edits) once for every worker, in
// the primary's threads, and keeps it. Workers start no patch-set thread, and do not index bases:
// when each computed for itself, every worker that saw a new base indexed it (about 25 MiB at its
// peak for a 512 MiB image) and every worker that saw new nodes started its own thread (20-30
// MiB), so the memory a wave of new nodes cost grew with the number of workers.
//
// The base's context (its index and boot configs, src/remaster/base-context.ts) is the version's,
// prepared by the primary once, before it answers the first worker's open of it
// (src/cluster/primary.ts), from its own cache; it goes with the version.

import type { NormalizedEdits } from '../bootconfig/index.js';
import type { BaseContext } from '../remaster/base-context.js';
import type { RemasterResult } from '../remaster/compute.js';
import { createRemasterPool, type RemasterPool } from '../remaster/pool.js';

/**
 * The primary's patch-set thread exits after this long without a computation (a single process's
 * waits 10 s: PATCH_THREAD_IDLE_MS). Patch sets come in bursts (a wave's registrations), and the
 * BMCs' reads follow at once: with 10 s the thread (20-30 MiB) was still alive through the start
 * of the wave. bench/rss-bench.ts at --workers 2, 200 clients, wave 1, peak of the summed RSS:
 * 258-268 MiB with 10 s (two runs), 251-256 with 1 s (two runs). A computation after a quiet second waits for a thread to
 * start: 70-95 ms instead of 15-20 (the bench image, measured six times each).
 */
export const PRIMARY_THREAD_IDLE_MS = 1000;

export interface PrimaryPatchSetsOptions {
  /** Threads computing patch sets (--remaster-threads). */
  readonly threads: number;
  /** The context of a base version this primary serves (rejects if it no longer serves it). */
  readonly contextOf: (vk: string) => Promise<BaseContext>;
  readonly onComputation?: (seconds: number, ok: boolean) => void;
  /** The pool's onThreadRunning (src/remaster/pool.ts). */
  readonly onThreadRunning?: () => void;
  /** Overrides the idle time after which a thread exits (tests). */
  readonly idleThreadsExitMs?: number;
}

export interface PrimaryPatchSets {
  patchSet(vk: string, edits: NormalizedEdits, node?: string): Promise<RemasterResult>;
  /** A version that is no longer served: its patch sets go. */
  forget(vk: string): void;
  readonly pool: RemasterPool;
  close(): Promise<void>;
}

export function createPrimaryPatchSets(options: PrimaryPatchSetsOptions): PrimaryPatchSets {
  const pool = createRemasterPool({
    workers: options.threads,
    idleThreadsExitMs: options.idleThreadsExitMs ?? PRIMARY_THREAD_IDLE_MS,
    ...(options.onComputation ? { onComputation: options.onComputation } : {}),
    ...(options.onThreadRunning ? { onThreadRunning: options.onThreadRunning } : {}),
  });
  return {
    pool,
    patchSet: (vk, edits, node) => pool.patchSet(vk, () => options.contextOf(vk), edits, node),
    forget: (vk) => pool.forgetBase(vk),
    close: () => pool.close(),
  };
}
