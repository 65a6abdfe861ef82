// What the parts of the block cache (index, writer, flights, sequential fill, block streams) share:
// the records they pass each other and the counters they all add to. Internal to src/cache; the
// public types are in block-cache.ts.

import { UpstreamError } from '../errors.js';
import type { UpstreamSource } from '../upstream/types.js';
import type { CheckRecord } from './checked-file.js';

/** A block file in the index. */
export interface Block {
  readonly key: string;
  readonly path: string;
  readonly length: number;
  readonly crc: number;
  /** mtime bumped by this process, so a restart keeps the recency order. */
  touched: boolean;
  /** The file as this process last checked it whole (checked-file.ts). */
  readonly check: CheckRecord;
}

/** Per base version: one, whoever asks, so sequential detection works across requests. */
export interface SourceState {
  upstream: UpstreamSource;
  readonly vk: string;
  /** The version's directory of block files. */
  readonly dir: string;
  readonly size: number;
  readonly blockCount: number;
  /** Where recent streams ended: a stream starting at one of them is sequential. */
  readonly recentEnds: number[];
  fillRunning: boolean;
  /** Forgotten with its blocks: reads still work, nothing of it is written any more. */
  dropped: boolean;
}

/** One upstream fetch of a block, shared by every reader waiting for it. */
export interface Flight {
  readonly promise: Promise<Uint8Array>;
  readonly controller: AbortController;
  refs: number;
  /** Runs to the end whoever waits (sequential fills). */
  readonly detached: boolean;
  settled: boolean;
}

export interface Counters {
  hits: number;
  misses: number;
  evictions: number;
  upstreamBytes: number;
  upstreamRequests: number;
  errors: number;
}

/**
 * Arms the budget of one upstream fetch: when it runs out, `controller` aborts with
 * UPSTREAM_TIMEOUT (an error readers see and the cache counts, not a silent abort). Returns the
 * disarm function.
 */
export function armFetchBudget(controller: AbortController, ms: number, url: string, what: string): () => void {
  const timer = setTimeout(() => controller.abort(new UpstreamError('UPSTREAM_TIMEOUT', url, `${what} not fetched within ${ms} ms`)), ms);
  return () => clearTimeout(timer);
}

export function blockKey(vk: string, index: number): string {
  return `${vk}/${index}`;
}

/** Bytes of block `index` of a version (the last block may be short). */
export function blockLength(state: SourceState, blockSize: number, index: number): number {
  return Math.min(blockSize, state.size - index * blockSize);
}

/** Background work (writes, unlinks, fills) that flush() and close() wait for. */
export class Tasks {
  private readonly pending = new Set<Promise<void>>();

  track(p: Promise<void>): void {
    this.pending.add(p);
    p.finally(() => this.pending.delete(p)).catch(() => {});
  }

  /** Resolves when nothing is pending, including work started by work that finished meanwhile. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }
}
