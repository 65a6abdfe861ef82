// A cluster's patch sets, computed once per (base, edits) across its workers. Each worker still
// computes deterministically and memoizes what it serves (src/remaster/pool.ts); before it
// computes, it asks the primary here:
// - a patch set some worker has computed is handed over (structured clone: a few KiB, or the
//   archives of a node's files);
// - one being computed by another worker is waited for, and handed over when it is put;
// - otherwise the asker claims the key and computes, then puts the result (or says it failed).
// So a node seen by every worker costs one computation and one patch-set thread's memory, not one
// per worker. A claim whose worker died, failed or took longer than CLAIM_WAIT_MS lets its
// waiters compute themselves: the same patch set either way, only computed twice.

import { LRUCache } from 'lru-cache';
import type { RemasterResult } from '../remaster/compute.js';
import type { ClaimAnswer } from '../remaster/pool.js';

/** Patch sets kept; each a few KiB without files. */
const MAX_ENTRIES = 4096;
/** Bytes of overlays kept (a node's files make its patch set large). */
const MAX_BYTES = 128 * 1024 * 1024;
/** How long a worker waits for another's computation before computing itself. */
export const CLAIM_WAIT_MS = 30_000;

const COMPUTE: ClaimAnswer = { compute: true };

interface Claim {
  readonly worker: number;
  readonly waiters: Array<(a: ClaimAnswer) => void>;
  readonly timer: NodeJS.Timeout;
}

export interface SharedPatchSetStats {
  /** Claims answered with a patch set (at once or after waiting). */
  handedOver: number;
  /** Claims answered "compute": first askers, and waiters whose claimant did not deliver. */
  computeGranted: number;
}

export class SharedPatchSets {
  private readonly results = new LRUCache<string, RemasterResult>({
    max: MAX_ENTRIES,
    maxSize: MAX_BYTES,
    sizeCalculation: (r) => Math.max(1024, r.report.overlayBytes),
  });
  private readonly claims = new Map<string, Claim>();
  readonly stats: SharedPatchSetStats = { handedOver: 0, computeGranted: 0 };

  constructor(private readonly waitMs = CLAIM_WAIT_MS) {}

  claim(key: string, worker: number): Promise<ClaimAnswer> {
    const result = this.results.get(key);
    if (result) {
      this.stats.handedOver++;
      return Promise.resolve({ result });
    }
    const claim = this.claims.get(key);
    if (claim && claim.worker !== worker) return new Promise((resolve) => claim.waiters.push(resolve));
    // First asker (or the claimant asking again): it computes.
    if (!claim) {
      const timer = setTimeout(() => this.release(key), this.waitMs);
      timer.unref();
      this.claims.set(key, { worker, waiters: [], timer });
    }
    this.stats.computeGranted++;
    return Promise.resolve(COMPUTE);
  }

  /** A computed patch set: kept, and handed to whoever waits for it. */
  put(key: string, result: RemasterResult): void {
    this.results.set(key, result);
    const claim = this.claims.get(key);
    if (!claim) return;
    this.claims.delete(key);
    clearTimeout(claim.timer);
    this.stats.handedOver += claim.waiters.length;
    for (const w of claim.waiters) w({ result });
  }

  /** The claimant's computation failed: its waiters compute (and fail the same way, with their own error). */
  failed(key: string): void {
    this.release(key);
  }

  /** A worker exited: the keys it claimed go to their waiters. */
  workerGone(worker: number): void {
    for (const [key, claim] of [...this.claims]) if (claim.worker === worker) this.release(key);
  }

  /** Patch sets of a base version that went (each key starts with the version's id). */
  forgetBase(baseId: string): void {
    for (const key of [...this.results.keys()]) if (key.startsWith(`${baseId}\u0000`)) this.results.delete(key);
  }

  private release(key: string): void {
    const claim = this.claims.get(key);
    if (!claim) return;
    this.claims.delete(key);
    clearTimeout(claim.timer);
    // Waiters compute concurrently now; whichever puts first is kept (they are byte-identical).
    this.stats.computeGranted += claim.waiters.length;
    for (const w of claim.waiters) w(COMPUTE);
  }
}
