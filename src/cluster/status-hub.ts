// The status view of a cluster, kept in its primary: one tracker for every worker's transfers.
// Each worker sends what its transfers did in batches (src/status/relay.ts, a few per second);
// this applies them once. A worker's /ui and `isoproxy status` requests ask here for the
// snapshot, with that worker's open bases (only a worker knows which bases it is indexing or
// failed to index) and its view of the cache (the primary's figures; the primary puts every
// part's hits and misses in it, src/cluster/primary.ts), so the page shows the whole cluster
// whichever worker answers.
//
// Before, the primary handed each batch on to every other worker, and each worker kept its own
// tracker of every transfer: each of N workers applied every request's events, so the cluster
// spent N times the work on it, and the primary serialized every batch N - 1 times. A snapshot is
// asked about once a second per open page; the events come with every request.

import type { CacheStats, SourceStats } from '../cache/block-cache.js';
import type { Logger } from '../logger.js';
import type { NodeStore } from '../registry/store.js';
import { STORE_SOURCE } from '../serving/store-source.js';
import { unpackBatch } from '../status/relay-wire.js';
import type { BaseInfo, CacheInfo, SnapshotQuery, StatusSnapshot } from '../status/types.js';
import { wireStatus, type LocalStatusWiring } from '../status/wiring.js';

/** Bases a worker may send with a snapshot request (it keeps 64 open). */
const MAX_BASES = 256;

export interface StatusHubOptions {
  readonly store: NodeStore;
  readonly logger: Logger;
  readonly cache: { stats(): CacheStats; sourceStats(versionKey: string): SourceStats };
  readonly cacheBudgetBytes: number;
  readonly stallAfterMs?: number;
}

export class StatusHub {
  private readonly wiring: LocalStatusWiring;
  /** The asking worker's bases and cache view, for the snapshot being made. */
  private bases: readonly BaseInfo[] = [];
  private cacheView: CacheInfo | undefined;

  constructor(options: StatusHubOptions) {
    this.wiring = wireStatus({
      store: options.store,
      storeSource: STORE_SOURCE,
      logger: options.logger,
      cache: options.cache,
      cacheBudgetBytes: options.cacheBudgetBytes,
      ...(options.stallAfterMs !== undefined ? { stallAfterMs: options.stallAfterMs } : {}),
      baseInfos: () => this.bases,
      cacheInfo: () => this.cacheView,
    });
  }

  /** A batch of what worker `worker`'s transfers did (packed: src/status/relay-wire.ts). */
  apply(worker: number, batch: unknown): void {
    this.wiring.applyRelayed(worker, unpackBatch(batch));
  }

  /** A worker exited: its open transfers end, aborted. */
  workerGone(worker: number): void {
    this.wiring.originGone(worker);
  }

  /** The whole cluster's view, with the asking worker's bases and cache view. */
  snapshot(query: SnapshotQuery, bases: unknown, cache?: unknown): StatusSnapshot {
    this.bases = Array.isArray(bases) ? (bases.slice(0, MAX_BASES) as BaseInfo[]) : [];
    this.cacheView = typeof cache === 'object' && cache !== null ? (cache as CacheInfo) : undefined;
    try {
      return this.wiring.tracker.snapshot(typeof query === 'object' && query !== null ? query : {});
    } finally {
      this.bases = [];
      this.cacheView = undefined;
    }
  }

  sourceOf(name: string): string | undefined {
    return typeof name === 'string' ? this.wiring.tracker.sourceOf(name) : undefined;
  }

  close(): void {
    this.wiring.close();
  }
}
