// What the parts of the block cache (index, writer, flights, sequential fill, block streams) share:
// the records they pass each other and the counters they all add to. Internal to src/cache; the
// public types are in block-cache.ts.

import type { RecentEnds } from './recent-ends.js';
import { UpstreamError } from '../errors.js';
import type { UpstreamSource } from '../upstream/types.js';
import type { CheckRecord } from './checked-file.js';
import type { FdLease } from './fd-cache.js';
import { fileSpan, type FileSpan } from '../io/file-span.js';

/** A block file in the index. */
export interface Block {
  readonly key: string;
  /** The base version it belongs to (its per-version figures in SourceTally). */
  readonly vk: string;
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
  readonly recentEnds: RecentEnds;
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
  /** Its write to disk, once the bytes are in (the block is in the index after, unless the cache could not keep it). */
  stored?: Promise<void>;
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

/** A range's share of one block: the block, where in it the share starts, its bytes, the block's length. */
export interface BlockPart {
  readonly index: number;
  readonly inBlock: number;
  readonly length: number;
  readonly blockLen: number;
}

/**
 * The most blocks a range handed out at once may cover: a small range that crosses one block
 * boundary (an eighth of random 256 KiB ranges over 2 MiB blocks) is two spans, not a stream.
 */
export const MAX_BLOCKS_AT_ONCE = 2;

/**
 * Where [offset, offset + length) lies when it is non-empty, inside the image and across at most
 * `maxBlocks` blocks: its part of each block, in order. Undefined otherwise.
 */
export function blockParts(offset: number, length: number, size: number, blockSize: number, maxBlocks = 1): BlockPart[] | undefined {
  if (!(length > 0 && offset >= 0 && offset + length <= size)) return undefined;
  const first = Math.floor(offset / blockSize);
  const last = Math.floor((offset + length - 1) / blockSize);
  if (last - first + 1 > maxBlocks) return undefined;
  const parts: BlockPart[] = [];
  for (let index = first; index <= last; index++) {
    const blockStart = index * blockSize;
    const from = Math.max(offset, blockStart);
    const to = Math.min(offset + length, blockStart + blockSize);
    parts.push({ index, inBlock: from - blockStart, length: to - from, blockLen: Math.min(blockSize, size - blockStart) });
  }
  return parts;
}

/**
 * One span per part when `leaseNow` gives every part's file at once; undefined otherwise, with the
 * leases taken before the one that failed released (all or none). Each span releases its lease.
 */
export function spansOfParts(parts: readonly BlockPart[], leaseNow: (part: BlockPart) => FdLease | undefined): FileSpan[] | undefined {
  const leases: FdLease[] = [];
  for (const part of parts) {
    const lease = leaseNow(part);
    if (!lease) {
      for (const l of leases) l.release();
      return undefined;
    }
    leases.push(lease);
  }
  return parts.map((part, i) => {
    const lease = leases[i]!;
    return fileSpan(lease.handle.fd, part.inBlock, part.length, () => lease.release());
  });
}

/** One base version's share of the cache, for the status page's bases panel. */
export interface SourceStats {
  /** Bytes of its blocks in the index (on disk). */
  readonly cachedBytes: number;
  /** Bytes fetched from upstream for it since this process started (or since it was dropped). */
  readonly upstreamBytes: number;
}

/** Versions whose upstream bytes are remembered at most: the oldest goes first past it. */
export const MAX_TALLIED_VERSIONS = 1024;

/**
 * Per base version: the bytes of its blocks on disk (kept by the index as blocks come and go) and
 * the bytes fetched from upstream for it (added by the fetches). O(1) per change. Cached bytes
 * are bounded by what is on disk (an entry goes at 0); upstream figures by MAX_TALLIED_VERSIONS.
 */
export class SourceTally {
  private readonly cached = new Map<string, number>();
  private readonly upstream = new Map<string, number>();

  constructor(private readonly maxVersions = MAX_TALLIED_VERSIONS) {}

  addCached(vk: string, bytes: number): void {
    const next = (this.cached.get(vk) ?? 0) + bytes;
    if (next > 0) this.cached.set(vk, next);
    else this.cached.delete(vk);
  }

  addUpstream(vk: string, bytes: number): void {
    const was = this.upstream.get(vk);
    if (was === undefined && this.upstream.size >= this.maxVersions) {
      const oldest = this.upstream.keys().next().value;
      if (oldest !== undefined) this.upstream.delete(oldest);
    }
    this.upstream.set(vk, (was ?? 0) + bytes);
  }

  /** A version that will never be read again: its upstream figure goes (its blocks go one by one). */
  forget(vk: string): void {
    this.upstream.delete(vk);
  }

  stats(vk: string): SourceStats {
    return { cachedBytes: this.cached.get(vk) ?? 0, upstreamBytes: this.upstream.get(vk) ?? 0 };
  }
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
