// How a cluster worker gets a block (src/cluster/remote-cache.ts reads ranges over it): the
// block's file, open and trusted, when a listing or the primary named it (known-files.ts); else the
// primary is asked to put it on disk (fetching it if it must) and names its file, one request per
// block however many readers of this process wait for it. Its bytes cross only when the primary
// could not keep it, or its file went before this process opened it. A file a reader opens is reported to the primary (read-reports.ts) so its
// LRU sees what the workers read; a miss asks the primary to fetch the blocks ahead too.

import type { BlockOnDisk, StreamStats } from '../cache/block-cache.js';
import { openCheckedNow } from '../cache/checked-file.js';
import { FdCache, type FdLease } from '../cache/fd-cache.js';
import type { RecentEnds } from '../cache/recent-ends.js';
import { openKnown, type KnownFiles, type Known } from './known-files.js';
import { ReadReports } from './read-reports.js';

export interface RemoteBlocksOptions {
  readonly blockSize: number;
  /** A block's bytes from the primary (fetched, or read from its cache). */
  readonly fetchBlock: (vk: string, index: number) => Promise<Uint8Array>;
  /**
   * A block on disk, fetched by the primary first if missing: the CRC and length that name its
   * file, or its bytes when the primary's cache could not keep it. Optional: without it a miss
   * asks for the bytes (`fetchBlock`).
   */
  readonly ensureBlock?: (vk: string, index: number) => Promise<BlockOnDisk | { readonly bytes: Uint8Array }>;
  /** Asks the primary to fetch blocks ahead of a reader (one-way). */
  readonly prefetch: (vk: string, indexes: readonly number[]) => void;
  /** Tells the primary these blocks were read from their files (one-way, batched here). */
  readonly reportReads?: (vk: string, indexes: readonly number[]) => void;
  /** The identity of a block file as the primary checked it whole (BlockCache.checkedIdentity). */
  readonly checkedIdentity?: (vk: string, index: number) => Promise<string | undefined>;
  readonly maxOpenFiles?: number;
}

/** What a worker knows of one base version. */
export interface VersionState {
  readonly vk: string;
  readonly size: number;
  readonly blockCount: number;
  readonly known: KnownFiles;
  readonly recentEnds: RecentEnds;
}

/** A block: its file open and trusted, or its bytes from the primary. */
export type Handle = { readonly bytes: Uint8Array } | { readonly lease: FdLease; readonly known: Known };

export const releaseHandle = (h: Handle): void => {
  if ('lease' in h) h.lease.release();
};

/** The question asked under `key` now, or `ask()` asked and kept there until it settles. */
function shared<T>(asked: Map<string, Promise<T>>, key: string, ask: () => Promise<T>): Promise<T> {
  let p = asked.get(key);
  if (!p) {
    p = ask().finally(() => asked.delete(key));
    asked.set(key, p);
  }
  return p;
}

export class RemoteBlocks {
  readonly fds: FdCache;
  readonly counters = { hits: 0, misses: 0, errors: 0 };
  readonly reads: ReadReports | undefined;
  /** Blocks asked of the primary now: the readers of this process share one request. */
  private readonly asking = new Map<string, Promise<Uint8Array>>();
  /** Blocks asked of the primary to put on disk now, shared the same way. */
  private readonly ensuring = new Map<string, Promise<BlockOnDisk | { readonly bytes: Uint8Array }>>();

  constructor(private readonly options: RemoteBlocksOptions) {
    this.fds = new FdCache(Math.max(4, options.maxOpenFiles ?? 256));
    this.reads = options.reportReads ? new ReadReports(options.reportReads) : undefined;
  }

  /** Block `index`: its file open and checked, or its bytes from the primary (reading ahead to `aheadTo`). */
  async open(st: VersionState, index: number, stats: StreamStats | undefined, aheadTo: number): Promise<Handle> {
    const blockLen = Math.min(this.options.blockSize, st.size - index * this.options.blockSize);
    let known = await st.known.find(index);
    if (known && known.length !== blockLen) {
      st.known.forget(index);
      known = undefined;
    }
    if (known) {
      const lease = await openKnown(
        this.fds,
        known,
        (identity) => this.primaryChecked(st.vk, index, identity),
        () => this.counters.errors++,
      );
      if (lease) {
        this.countHit(st, index, stats);
        return { lease, known };
      }
      st.known.forget(index);
    }
    this.counters.misses++;
    if (stats) {
      stats.misses++;
      stats.upstreamBytes += blockLen;
    }
    this.readAhead(st, index, aheadTo);
    const onDisk = await this.fromPrimary(st, index);
    if (onDisk) return onDisk;
    const bytes = await this.fetch(st.vk, index);
    // The primary writes this block under the name its CRC gives: later streams read the file.
    st.known.learn(index, bytes);
    return { bytes };
  }

  /**
   * A missing block through the primary, as a file when it has one: the primary fetches the block
   * if it must and answers once its file is whole, so no block bytes cross the IPC channel and the
   * first reader of a block sends it from its file like every later one. Its bytes when the
   * primary could not keep it; undefined when its file went before this process opened it (the
   * caller then asks for the bytes).
   */
  private async fromPrimary(st: VersionState, index: number): Promise<Handle | undefined> {
    const ensureBlock = this.options.ensureBlock;
    if (!ensureBlock) return undefined;
    const answer = await shared(this.ensuring, `${st.vk}/${index}`, () => ensureBlock(st.vk, index));
    if ('bytes' in answer) {
      st.known.learn(index, answer.bytes);
      return { bytes: answer.bytes };
    }
    const known = st.known.learnFile(index, answer.crc, answer.length);
    const lease = await openKnown(
      this.fds,
      known,
      (identity) => this.primaryChecked(st.vk, index, identity),
      () => this.counters.errors++,
    );
    if (lease) return { lease, known };
    st.known.forget(index);
    return undefined;
  }

  /**
   * `open` without waiting, when its file is open here and trusted already; undefined otherwise.
   * Counts nothing: the caller counts the hit (`countHit`) once it uses the lease.
   */
  leaseNow(st: VersionState, index: number, blockLen: number): FdLease | undefined {
    const known = st.known.get(index);
    if (known?.length !== blockLen) return undefined;
    return openCheckedNow(this.fds, known.path, known.check, known.length);
  }

  /** Block `index`'s bytes from the primary (one request for all readers of this process). */
  fetch(vk: string, index: number): Promise<Uint8Array> {
    return shared(this.asking, `${vk}/${index}`, () => this.options.fetchBlock(vk, index));
  }

  /** A read of block `index` served from its file here: counted, and reported to the primary's LRU. */
  countHit(st: VersionState, index: number, stats: StreamStats | undefined): void {
    this.counters.hits++;
    if (stats) stats.hits++;
    this.reads?.note(st.vk, index);
  }

  private readAhead(st: VersionState, index: number, aheadTo: number): void {
    const limit = Math.min(st.blockCount - 1, aheadTo);
    const wanted: number[] = [];
    for (let b = index + 1; b <= limit; b++) if (!st.known.has(b)) wanted.push(b);
    if (wanted.length > 0) this.options.prefetch(st.vk, wanted);
  }

  private async primaryChecked(vk: string, index: number, identity: string): Promise<boolean> {
    if (!this.options.checkedIdentity) return false;
    return (await this.options.checkedIdentity(vk, index).catch(() => undefined)) === identity;
  }
}
