// The block cache as a cluster worker sees it: the primary owns the cache directory, its index,
// its byte budget and every upstream fetch (src/cache behind src/cluster/primary.ts); a worker
// reads block files directly and asks the primary over IPC only for a block it cannot find on
// disk. So a block is fetched from upstream once whatever the number of processes (the primary's
// single-flight), and only one process ever writes or evicts.
//
// Finding a block: a worker learns block files from a listing of the version's directory and from
// the bytes the primary sends on a miss (src/cluster/known-files.ts). A file is CRC-checked in full the first time this process opens it and again after any change
// to it, as the primary's cache does (src/cache/checked-file.ts); chunks are read into pooled
// memory (src/io/chunk-pool.ts). The primary may evict (unlink) a file at any time: a worker that
// holds it open keeps reading it (POSIX), a new stream finds it gone (ENOENT, or a link count of 0
// seen by the fstat each open makes) and asks the primary again. So an evicted block's disk space
// outlives its eviction only by the streams reading it, never by a descriptor parked in the
// worker's open-file cache.
//
// Recency: a block this process opens from its file is reported to the primary (batched, one-way:
// src/cluster/read-reports.ts), which marks it recently used in its LRU; without that, the blocks
// the workers read most would be the first the primary evicts.

import { join } from 'node:path';
import { checkRange } from '../byte-source.js';
import {
  DEFAULT_CHUNK_BYTES,
  type BlockCache,
  type CacheStats,
  type CachedSource,
  type SourceStats,
  type StreamStats,
} from '../cache/block-cache.js';
import { versionDirName } from '../cache/block-file.js';
import { FdCache, type FdLease } from '../cache/fd-cache.js';
import { SmallReads } from '../cache/small-reads.js';
import { abortable } from '../io/abort.js';
import { fileSpan, type Chunk, type FileSpan } from '../io/file-span.js';
import { openCheckedNow } from '../cache/checked-file.js';
import { chunkPool } from '../io/chunk-pool.js';
import { readFully } from '../io/read-fully.js';
import type { UpstreamSource } from '../upstream/types.js';
import { versionKey } from '../upstream/validator.js';
import { KnownFiles, openKnown, type Known } from './known-files.js';
import { PrimaryFigures, type AskFigures } from './primary-figures.js';
import { ReadReports } from './read-reports.js';

const MiB = 1024 * 1024;
const RECENT_ENDS = 32;
const READAHEAD = 4;
/**
 * Bytes this process's streams may hold in chunks at once before their chunks get smaller. A
 * stream holds its reads in flight and the chunk its socket is still sending (the HTTP writer
 * waits for a drain, so one); at 1 MiB chunks, 100 slow clients of a worker held 300 MiB.
 */
const STREAMS_MEMORY = 32 * MiB;
const MIN_CHUNK = 64 * 1024;

export interface RemoteCacheOptions {
  readonly dir: string;
  readonly blockSize: number;
  /** A block's bytes from the primary (fetched, or read from its cache). */
  readonly fetchBlock: (vk: string, index: number) => Promise<Uint8Array>;
  /** Asks the primary to fetch blocks ahead of a reader (one-way). */
  readonly prefetch: (vk: string, indexes: readonly number[]) => void;
  /** The primary's cache figures: per version (bytes on disk, fetched from upstream) and whole. */
  readonly sourceStats?: AskFigures;
  /** Tells the primary these blocks were read from their files (one-way, batched here). */
  readonly reportReads?: (vk: string, indexes: readonly number[]) => void;
  /** The identity of a block file as the primary checked it whole (BlockCache.checkedIdentity). */
  readonly checkedIdentity?: (vk: string, index: number) => Promise<string | undefined>;
  readonly chunkBytes?: number;
  readonly readsInFlight?: number;
  readonly maxOpenFiles?: number;
}

interface VersionState {
  readonly vk: string;
  readonly size: number;
  readonly blockCount: number;
  readonly known: KnownFiles;
  readonly recentEnds: number[];
}

type Handle = { readonly bytes: Uint8Array } | { readonly lease: FdLease; readonly known: Known };

const releaseHandle = (h: Handle): void => {
  if ('lease' in h) h.lease.release();
};

export class RemoteBlockCache implements BlockCache {
  private readonly states = new Map<string, VersionState>();
  private readonly fds: FdCache;
  private readonly chunkBytes: number;
  private readonly readsInFlight: number;
  private openStreams = 0;
  private readonly counters = { hits: 0, misses: 0, errors: 0 };
  /** Blocks asked of the primary now: the readers of this process share one request. */
  private readonly asking = new Map<string, Promise<Uint8Array>>();
  private readonly small: SmallReads;
  private readonly figures: PrimaryFigures;
  private readonly reads: ReadReports | undefined;

  constructor(private readonly options: RemoteCacheOptions) {
    this.fds = new FdCache(Math.max(4, options.maxOpenFiles ?? 256));
    this.chunkBytes = Math.max(64 * 1024, Math.min(options.blockSize, options.chunkBytes ?? DEFAULT_CHUNK_BYTES));
    this.readsInFlight = Math.max(1, Math.min(8, options.readsInFlight ?? 2));
    this.small = new SmallReads(options.blockSize);
    this.reads = options.reportReads ? new ReadReports(options.reportReads) : undefined;
    this.figures = new PrimaryFigures(options.sourceStats, () => [...this.states.keys()]);
  }

  source(upstream: UpstreamSource): CachedSource {
    const vk = versionKey(upstream.version);
    let st = this.states.get(vk);
    if (!st) {
      st = {
        vk,
        size: upstream.size,
        blockCount: Math.ceil(upstream.size / this.options.blockSize),
        known: new KnownFiles(join(this.options.dir, versionDirName(vk, this.options.blockSize))),
        recentEnds: [],
      };
      this.states.set(vk, st);
    }
    const s = st;
    return {
      size: upstream.size,
      version: upstream.version,
      versionKey: vk,
      read: (offset, length, signal) => this.read(s, offset, length, signal),
      stream: (offset, length, signal, stats) => this.stream(s, offset, length, signal, stats, true),
      spans: (offset, length, signal, stats) => this.spans(s, offset, length, signal, stats),
      spanNow: (offset, length, stats) => this.spanNow(s, offset, length, stats),
    };
  }

  forgetSource(vk: string): void {
    const st = this.states.get(vk);
    if (!st) return;
    this.states.delete(vk);
    for (const path of st.known.paths()) this.fds.forget(path);
  }

  /** This process's reads; bytes on disk and upstream traffic are the primary's to report. */
  stats(): CacheStats {
    return { ...this.counters, evictions: 0, bytesUsed: 0, blocks: 0, upstreamBytes: 0, upstreamRequests: 0, retries: 0, degraded: false };
  }

  /**
   * The cache as the status page shows it: the primary's (it writes, evicts and fetches), with
   * this process's own reads as hits and misses. Not for /metrics, which sums every process's
   * stats() and already has the primary's.
   */
  viewStats(): CacheStats {
    const p = this.figures.cache();
    return { ...(p ?? this.stats()), ...this.counters, errors: this.counters.errors + (p?.errors ?? 0) };
  }

  /** The primary's figures for a version, as of its last answer (primary-figures.ts). */
  sourceStats(vk: string): SourceStats {
    return this.figures.of(vk);
  }

  /** Marks blocks recently used in the primary's LRU: reported with this process's own reads. */
  touch(vk: string, indexes: readonly number[]): void {
    for (const index of indexes) this.reads?.note(vk, index);
  }

  async flush(): Promise<void> {
    this.reads?.flush();
  }

  async close(): Promise<void> {
    this.reads?.flush();
    this.reads?.close();
    await this.fds.closeAll();
  }

  private async read(st: VersionState, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRange(offset, length, st.size);
    const small = await this.small.read(st.vk, offset, length, (index) => this.wholeBlock(st, index));
    if (small) return small;
    const out = new Uint8Array(length);
    let pos = 0;
    for await (const chunk of this.stream(st, offset, length, signal, undefined, false)) {
      out.set(chunk, pos);
      pos += chunk.length;
    }
    return out;
  }

  private async *stream(
    st: VersionState,
    offset: number,
    length: number,
    signal: AbortSignal | undefined,
    stats: StreamStats | undefined,
    mayReadAhead: boolean,
  ): AsyncGenerator<Uint8Array> {
    checkRange(offset, length, st.size);
    if (length === 0) return;
    signal?.throwIfAborted();
    const { blockSize } = this.options;
    const end = offset + length;
    const sequential = mayReadAhead && (offset === 0 || st.recentEnds.includes(offset));
    const lastBlock = Math.floor((end - 1) / blockSize);
    // One block open at a time (plus the next while its first chunk is read ahead).
    const handles = new Map<number, Promise<Handle>>();
    const release = (index: number): void => {
      const h = handles.get(index);
      handles.delete(index);
      h?.then(releaseHandle, () => {});
    };
    const handleOf = (index: number): Promise<Handle> => {
      let h = handles.get(index);
      if (!h) {
        h = this.openBlock(st, index, stats, sequential ? index + READAHEAD : Math.min(lastBlock, index + READAHEAD));
        h.catch(() => {});
        handles.set(index, h);
      }
      return h;
    };
    const readChunk = async (index: number, inBlock: number, len: number, slabBytes: number): Promise<Uint8Array> => {
      const h = await handleOf(index);
      if ('bytes' in h) return h.bytes.subarray(inBlock, inBlock + len);
      const out = chunkPool.take(len, slabBytes);
      const done = await readFully(h.lease.handle, out, inBlock).catch(() => -1);
      if (done === len) return out;
      chunkPool.give(out);
      // The file let us down (cut short, unreadable): this block comes from the primary instead.
      st.known.forget(index);
      this.counters.errors++;
      const bytes = await this.fetchBlock(st.vk, index);
      return bytes.subarray(inBlock, inBlock + len);
    };
    let completed = false;
    this.openStreams++;
    try {
      const queue: Array<{ index: number; p: Promise<Uint8Array> }> = [];
      let next = offset;
      const issue = (): void => {
        const index = Math.floor(next / blockSize);
        const inBlock = next - index * blockSize;
        const blockLen = Math.min(blockSize, st.size - index * blockSize);
        const chunk = this.chunkSize();
        const len = Math.min(chunk - (inBlock % chunk), blockLen - inBlock, end - next);
        const p = readChunk(index, inBlock, len, chunk);
        p.catch(() => {});
        queue.push({ index, p });
        next += len;
      };
      while (next < end && queue.length < this.readsInFlight) issue();
      while (queue.length > 0) {
        const { index, p } = queue.shift()!;
        const chunk = await abortable(p, signal);
        // The last chunk of a block read: its file goes back to the open-file cache.
        if (queue[0]?.index !== index && (next >= end || Math.floor(next / blockSize) !== index)) release(index);
        if (next < end) issue();
        signal?.throwIfAborted();
        yield chunk;
      }
      completed = true;
      st.recentEnds.push(end);
      if (st.recentEnds.length > RECENT_ENDS) st.recentEnds.shift();
    } finally {
      this.openStreams--;
      for (const index of [...handles.keys()]) release(index);
      void completed;
    }
  }

  /** Like `stream`, with blocks on disk as file spans (see CachedSource.spans). */
  private async *spans(
    st: VersionState,
    offset: number,
    length: number,
    signal: AbortSignal | undefined,
    stats: StreamStats | undefined,
  ): AsyncGenerator<Chunk> {
    checkRange(offset, length, st.size);
    if (length === 0) return;
    signal?.throwIfAborted();
    const { blockSize } = this.options;
    const end = offset + length;
    const sequential = offset === 0 || st.recentEnds.includes(offset);
    const lastBlock = Math.floor((end - 1) / blockSize);
    this.openStreams++;
    try {
      for (let at = offset; at < end; ) {
        const index = Math.floor(at / blockSize);
        const inBlock = at - index * blockSize;
        const len = Math.min(Math.min(blockSize, st.size - index * blockSize) - inBlock, end - at);
        const opening = this.openBlock(st, index, stats, sequential ? index + READAHEAD : Math.min(lastBlock, index + READAHEAD));
        let h: Handle;
        try {
          h = await abortable(opening, signal);
        } catch (err) {
          // Left before the block opened: its file goes back when it does.
          opening.then(releaseHandle, () => {});
          throw err;
        }
        if ('lease' in h) {
          yield fileSpan(h.lease.handle.fd, inBlock, len, () => h.lease.release());
        } else {
          yield h.bytes.subarray(inBlock, inBlock + len);
        }
        at += len;
      }
      st.recentEnds.push(end);
      if (st.recentEnds.length > RECENT_ENDS) st.recentEnds.shift();
    } finally {
      this.openStreams--;
    }
  }

  /**
   * `spans` of a range inside one block whose file this process has open and trusted already, at
   * once (see CachedSource.spanNow); undefined otherwise.
   */
  private spanNow(st: VersionState, offset: number, length: number, stats: StreamStats | undefined): FileSpan | undefined {
    const { blockSize } = this.options;
    if (!(length > 0 && offset >= 0 && offset + length <= st.size)) return undefined;
    const index = Math.floor(offset / blockSize);
    const inBlock = offset - index * blockSize;
    const blockLen = Math.min(blockSize, st.size - index * blockSize);
    const known = st.known.get(index);
    if (inBlock + length > blockLen || known?.length !== blockLen) return undefined;
    const lease = openCheckedNow(this.fds, known.path, known.check, known.length);
    if (!lease) return undefined;
    this.counters.hits++;
    if (stats) stats.hits++;
    this.reads?.note(st.vk, index);
    const end = offset + length;
    st.recentEnds.push(end);
    if (st.recentEnds.length > RECENT_ENDS) st.recentEnds.shift();
    return fileSpan(lease.handle.fd, inBlock, length, () => lease.release());
  }

  /**
   * The chunk size for the next read: the configured one while the open streams' share of
   * STREAMS_MEMORY holds it, else halved until it fits (down to 64 KiB). Many slow clients then
   * cost more reads per byte instead of memory; a few fast ones read as before. Halving keeps
   * chunks aligned within blocks and their slabs to a few sizes in the chunk pool.
   */
  private chunkSize(): number {
    const share = STREAMS_MEMORY / (Math.max(1, this.openStreams) * (this.readsInFlight + 1));
    let size = this.chunkBytes;
    while (size > share && size / 2 >= MIN_CHUNK) size /= 2;
    return size;
  }

  /** A block's bytes in memory: its file read whole once checked, or from the primary. */
  private async wholeBlock(st: VersionState, index: number): Promise<Uint8Array | undefined> {
    const h = await this.openBlock(st, index, undefined, index);
    if ('bytes' in h) return h.bytes;
    try {
      const bytes = Buffer.allocUnsafe(h.known.length);
      return (await readFully(h.lease.handle, bytes, 0)) === h.known.length ? bytes : undefined;
    } finally {
      h.lease.release();
    }
  }

  /** An open, checked block file, or the block's bytes from the primary. */
  private async openBlock(st: VersionState, index: number, stats: StreamStats | undefined, aheadTo: number): Promise<Handle> {
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
        this.counters.hits++;
        if (stats) stats.hits++;
        this.reads?.note(st.vk, index);
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
    const bytes = await this.fetchBlock(st.vk, index);
    // The primary writes this block under the name its CRC gives: later streams read the file.
    st.known.learn(index, bytes);
    return { bytes };
  }

  private fetchBlock(vk: string, index: number): Promise<Uint8Array> {
    const key = `${vk}/${index}`;
    let p = this.asking.get(key);
    if (!p) {
      p = this.options.fetchBlock(vk, index).finally(() => this.asking.delete(key));
      this.asking.set(key, p);
    }
    return p;
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
