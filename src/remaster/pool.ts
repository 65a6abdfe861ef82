// The patch-set service: computes patch sets in a piscina worker pool (the main thread never
// blocks on it), memoizes results in a bounded LRU keyed by (base identity, digest of edits), and
// shares one computation between concurrent requests for the same key (single-flight). A cluster
// worker's pool computes nothing itself: it asks its primary (`remote`), whose pool computes.
//
// Workers run the compiled workers/remaster.js from dist/ in every context (tests, npm start,
// the bin): `npm test` and `npm start` build first, so one code path loads them.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type { Piscina } from 'piscina';
import { LRUCache } from 'lru-cache';
import { editsDigestInput, type NormalizedEdits } from '../bootconfig/index.js';
import { fromResult, IsoproxyError, type Result } from '../errors.js';
import type { BaseContext } from './base-context.js';
import type { RemasterResult } from './compute.js';
import { resultBytes } from './result-bytes.js';

export interface RemasterPoolOptions {
  /** Worker threads (default: 2, at most the number of cores). */
  readonly workers?: number;
  /** Memoized patch sets (default 4096; each is kilobytes, or up to a few MiB with files). */
  readonly memoEntries?: number;
  /**
   * Bytes of overlays the memo may hold (default 512 MiB): a node with files carries their
   * archive once per initrd, up to the per-node file limit (4 MiB by default), so a count alone
   * would let 4096 such nodes hold gigabytes.
   */
  readonly memoBytes?: number;
  /**
   * When set, no thread is kept waiting: threads start when a patch set is asked for and exit
   * after this many milliseconds without one. A patch set is computed once per (base, edits) and
   * memoized, so a wave's transfers need none; a thread idle for the whole wave is memory (its
   * own V8 heap, about 30 MiB) in every serving process of a cluster. Default: one thread is
   * started with the pool and kept; others exit after 60 s idle.
   */
  readonly idleThreadsExitMs?: number;
  /** Called after each computation with its duration (for a latency histogram). */
  readonly onComputation?: (seconds: number, ok: boolean) => void;
  /**
   * Called once a thread is running, and after each computation: a serving process sets its V8
   * heap flags again there, since Node resets them when a thread starts (src/heap-growth.ts).
   */
  readonly onThreadRunning?: () => void;
  /**
   * Where patch sets are computed when not here: a cluster worker asks its primary, which
   * computes each once for every worker (src/cluster/primary-patch-sets.ts). This pool then
   * starts no threads; it keeps its memo and joins concurrent requests as before.
   */
  readonly remote?: RemotePatchSets;
}

/** A base's context, or the promise of it (prepared when first asked for: src/serving/bases.ts). */
export type BaseContextOf = () => BaseContext | Promise<BaseContext>;

/** Computes a patch set in another process: the base version's id, the edits and the node. */
export type RemotePatchSets = (baseId: string, edits: NormalizedEdits, node?: string) => Promise<RemasterResult>;

export interface RemasterStats {
  computations: number;
  memoHits: number;
  sharedInFlight: number;
  failures: number;
  /** Patch sets another process computed (`remote`). */
  fromOthers: number;
}

export interface RemasterPool {
  /**
   * The node's patch set for these edits on this base, computed once per (base, edits). The
   * base's context is asked for only when this process computes the patch set (not from the memo,
   * nor with a `remote`).
   */
  patchSet(baseId: string, context: BaseContextOf, edits: NormalizedEdits, node?: string): Promise<RemasterResult>;
  /** Drops memoized results of a base (when it changes). */
  forgetBase(baseId: string): void;
  /**
   * Starts a thread now when none is running (a no-op with a `remote`); settles once it has (never
   * rejects). Called when a base starts being indexed: its first patch set follows the index, and
   * a thread's start (an isolate and the engine's modules, 60-80 ms here) then runs beside the
   * index instead of after it.
   */
  warmUp(): Promise<void>;
  readonly stats: RemasterStats;
  close(): Promise<void>;
}

/** The sha256 of canonical edits, once per normalized object (asked on every range request). */
const editsDigests = new WeakMap<NormalizedEdits, string>();

/** Key of a (base, edits) pair: the base's identity and the sha256 of the canonical edits. */
export function memoKey(baseId: string, edits: NormalizedEdits): string {
  let digest = editsDigests.get(edits);
  if (digest === undefined) {
    digest = createHash('sha256').update(editsDigestInput(edits)).digest('hex');
    editsDigests.set(edits, digest);
  }
  return `${baseId}\u0000${digest}`;
}

/**
 * A patch-set thread exits after this long without a computation (serving processes): a wave's
 * transfers use memoized patch sets, and an idle thread holds 20-30 MiB. The first computation
 * after a quiet spell waits for a thread to start (tens of milliseconds), once per new node.
 */
export const PATCH_THREAD_IDLE_MS = 10_000;

export function workerFile(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // From dist/src/remaster -> dist/workers; from src/remaster (vitest, tsx) -> <root>/dist/workers.
  const candidates = [join(here, '../../workers/remaster.js'), join(here, '../../dist/workers/remaster.js')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new IsoproxyError('WORKER_MISSING', `remaster worker not built (looked for ${candidates.join(', ')}); run \`npm run build\``);
  return found;
}

/**
 * The young generation of a patch-set thread, in MiB. V8's default let it grow to about 48 MiB
 * while it computes: 200 patch sets of the bench image in one thread peaked 50 MiB over the
 * process's RSS before; at 8 MiB, 30 MiB over, in the same time (2.1 s either way). At 4 MiB
 * it was 5% slower.
 */
export const THREAD_YOUNG_GENERATION_MB = 8;

/**
 * piscina, loaded when a pool starts threads: a cluster worker's pool asks the primary (`remote`)
 * and never does (loading it anyway cost a worker about 0.6 MiB of anonymous RSS, measured).
 */
const loadPiscina = (): typeof Piscina => (createRequire(import.meta.url)('piscina') as { Piscina: typeof Piscina }).Piscina;

function startThreads(options: RemasterPoolOptions): Piscina {
  const threads = Math.max(1, options.workers ?? 2);
  const lazy = options.idleThreadsExitMs !== undefined;
  const piscina = new (loadPiscina())({
    filename: workerFile(),
    minThreads: lazy ? 0 : 1,
    maxThreads: threads,
    idleTimeout: lazy ? Math.max(1, options.idleThreadsExitMs!) : 60_000,
    resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB },
  });
  const running = options.onThreadRunning;
  if (running) piscina.on('workerCreate', () => running());
  return piscina;
}

/** Starts a thread when none is running: the warm-up task only brings the engine in. Settles when it has. */
function warmThreads(threads: Piscina): Promise<void> {
  if (threads.threads.length > 0) return Promise.resolve();
  return threads.run({ warmUp: true }).then(
    () => {},
    () => {},
  );
}

/** How long a base's context may take before a thread is started beside it. */
export const WARM_UP_AFTER_MS = 5;

/**
 * The base's context, with a thread started meanwhile when none is running and the context is
 * not at hand within WARM_UP_AFTER_MS. A new base's context takes hundreds of milliseconds
 * (index, boot configs, FAT images) and a thread tens to start: a new base's first node paid one
 * after the other. A context already prepared starts no thread here, so a second one is never
 * started beside a thread about to take the computation.
 */
async function contextWhileWarming(threads: Piscina, context: BaseContextOf): Promise<BaseContext> {
  const timer = setTimeout(() => void warmThreads(threads), WARM_UP_AFTER_MS);
  try {
    return await context();
  } finally {
    clearTimeout(timer);
  }
}

export function createRemasterPool(options: RemasterPoolOptions = {}): RemasterPool {
  const computer: { readonly remote: RemotePatchSets } | { readonly threads: Piscina } = options.remote
    ? { remote: options.remote }
    : { threads: startThreads(options) };
  const memo = new LRUCache<string, RemasterResult>({
    max: options.memoEntries ?? 4096,
    maxSize: options.memoBytes ?? 512 * 1024 * 1024,
    // A patch set without files is a few KiB: count it as at least 1 KiB so the entry cap rules there.
    sizeCalculation: (r) => Math.max(1024, resultBytes(r)),
  });
  const inFlight = new Map<string, Promise<RemasterResult>>();
  const stats: RemasterStats = { computations: 0, memoHits: 0, sharedInFlight: 0, failures: 0, fromOthers: 0 };

  /**
   * Counts forgetBase calls: a result whose computation saw one (of any base: forgetting is rare)
   * is handed to its waiters but not kept, so one of a forgotten base never lands in the memo.
   */
  let forgets = 0;
  const keep = (key: string, result: RemasterResult, forgetsAtStart: number): void => {
    if (forgets === forgetsAtStart) memo.set(key, result);
  };

  async function compute(key: string, baseId: string, context: BaseContextOf, edits: NormalizedEdits, node?: string): Promise<RemasterResult> {
    const forgetsAtStart = forgets;
    if ('remote' in computer) {
      const result = await computer.remote(baseId, edits, node);
      stats.fromOthers++;
      keep(key, result, forgetsAtStart);
      return result;
    }
    const ctx = await contextWhileWarming(computer.threads, context);
    const started = performance.now();
    stats.computations++;
    const result = (await computer.threads.run({ ctx, edits, node })) as Result<RemasterResult>;
    options.onComputation?.((performance.now() - started) / 1000, result.ok);
    options.onThreadRunning?.();
    if (!result.ok) {
      stats.failures++;
      throw fromResult(result);
    }
    keep(key, result.value, forgetsAtStart);
    return result.value;
  }

  return {
    stats,
    patchSet(baseId, context, edits, node) {
      const key = memoKey(baseId, edits);
      const hit = memo.get(key);
      if (hit) {
        stats.memoHits++;
        return Promise.resolve(hit);
      }
      const pending = inFlight.get(key);
      if (pending) {
        stats.sharedInFlight++;
        return pending;
      }
      const p = compute(key, baseId, context, edits, node).finally(() => inFlight.delete(key));
      inFlight.set(key, p);
      return p;
    },
    forgetBase(baseId) {
      forgets++;
      for (const key of [...memo.keys()]) if (key.startsWith(`${baseId}\u0000`)) memo.delete(key);
    },
    warmUp() {
      return 'threads' in computer ? warmThreads(computer.threads) : Promise.resolve();
    },
    async close() {
      if ('threads' in computer) await computer.threads.destroy();
    },
  };
}
