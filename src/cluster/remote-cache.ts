// The block cache as a cluster worker sees it: the primary owns the cache directory, its index,
// its byte budget and every upstream fetch (src/cache behind src/cluster/primary.ts); a worker
// reads block files directly and asks the primary over IPC only for a block it cannot find on
// disk. So a block is fetched from upstream once whatever the number of processes (the primary's
// single-flight), and only one process ever writes or evicts.
//
// Finding a block (src/cluster/remote-blocks.ts): a worker learns block files from a listing of the version's directory and from
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
import { blockParts, MAX_BLOCKS_AT_ONCE, spansOfParts } from '../cache/parts.js';
import { RecentEnds } from '../cache/recent-ends.js';
import { SmallReads } from '../cache/small-reads.js';
import { abortable } from '../io/abort.js';
import { fileSpan, type Chunk, type FileSpan } from '../io/file-span.js';
import { chunkPool } from '../io/chunk-pool.js';
import { readFully } from '../io/read-fully.js';
import type { UpstreamSource } from '../upstream/types.js';
import { versionKey } from '../upstream/validator.js';
import { KnownFiles } from './known-files.js';
import { PrimaryFigures, type AskFigures } from './primary-figures.js';
import { releaseHandle, RemoteBlocks, type Handle, type RemoteBlocksOptions, type VersionState } from './remote-blocks.js';

const MiB = 1024 * 1024;
const READAHEAD = 4;
/**
 * Bytes this process's streams may hold in chunks at once before their chunks get smaller. A
 * stream holds its reads in flight and the chunk its socket is still sending (the HTTP writer
 * waits for a drain, so one); at 1 MiB chunks, 100 slow clients of a worker held 300 MiB.
 */
const STREAMS_MEMORY = 32 * MiB;
const MIN_CHUNK = 64 * 1024;

export interface RemoteCacheOptions extends RemoteBlocksOptions {
  readonly dir: string;
  /** The primary's cache figures: per version (bytes on disk, fetched from upstream) and whole. */
  readonly sourceStats?: AskFigures;
  readonly chunkBytes?: number;
  readonly readsInFlight?: number;
}

export class RemoteBlockCache implements BlockCache {
  private readonly states = new Map<string, VersionState>();
  private readonly blocks: RemoteBlocks;
  private readonly chunkBytes: number;
  private readonly readsInFlight: number;
  private openStreams = 0;
  private readonly small: SmallReads;
  private readonly figures: PrimaryFigures;

  constructor(private readonly options: RemoteCacheOptions) {
    this.blocks = new RemoteBlocks(options);
    this.chunkBytes = Math.max(64 * 1024, Math.min(options.blockSize, options.chunkBytes ?? DEFAULT_CHUNK_BYTES));
    this.readsInFlight = Math.max(1, Math.min(8, options.readsInFlight ?? 2));
    this.small = new SmallReads(options.blockSize);
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
        recentEnds: new RecentEnds(),
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
      spansNow: (offset, length, stats) => this.spansNow(s, offset, length, stats),
    };
  }

  forgetSource(vk: string): void {
    const st = this.states.get(vk);
    if (!st) return;
    this.states.delete(vk);
    for (const path of st.known.paths()) this.blocks.fds.forget(path);
  }

  /** This process's reads; bytes on disk and upstream traffic are the primary's to report. */
  stats(): CacheStats {
    return { ...this.blocks.counters, evictions: 0, bytesUsed: 0, blocks: 0, upstreamBytes: 0, upstreamRequests: 0, retries: 0, degraded: false };
  }

  /**
   * The cache as the status page shows it: the primary's (it writes, evicts and fetches), with
   * this process's own reads as hits and misses, which the primary replaces by every part's sum
   * when it makes the snapshot. Not for /metrics, which sums every process's stats() and already
   * has the primary's.
   */
  viewStats(): CacheStats {
    const p = this.figures.cache();
    const own = this.blocks.counters;
    return { ...(p ?? this.stats()), ...own, errors: own.errors + (p?.errors ?? 0) };
  }

  /** The primary's figures for a version, as of its last answer (primary-figures.ts). */
  sourceStats(vk: string): SourceStats {
    return this.figures.of(vk);
  }

  /** Marks blocks recently used in the primary's LRU: reported with this process's own reads. */
  touch(vk: string, indexes: readonly number[]): void {
    for (const index of indexes) this.blocks.reads?.note(vk, index);
  }

  async flush(): Promise<void> {
    this.blocks.reads?.flush();
  }

  async close(): Promise<void> {
    this.blocks.reads?.flush();
    this.blocks.reads?.close();
    await this.blocks.fds.closeAll();
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
    const sequential = mayReadAhead && st.recentEnds.continues(offset);
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
        h = this.blocks.open(st, index, stats, sequential ? index + READAHEAD : Math.min(lastBlock, index + READAHEAD));
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
      this.blocks.counters.errors++;
      const bytes = await this.blocks.fetch(st.vk, index);
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
      st.recentEnds.note(end);
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
    const sequential = st.recentEnds.continues(offset);
    const lastBlock = Math.floor((end - 1) / blockSize);
    this.openStreams++;
    try {
      for (let at = offset; at < end; ) {
        const index = Math.floor(at / blockSize);
        const inBlock = at - index * blockSize;
        const len = Math.min(Math.min(blockSize, st.size - index * blockSize) - inBlock, end - at);
        const opening = this.blocks.open(st, index, stats, sequential ? index + READAHEAD : Math.min(lastBlock, index + READAHEAD));
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
      st.recentEnds.note(end);
    } finally {
      this.openStreams--;
    }
  }

  /**
   * `spans` of a range in at most two blocks whose files this process has open and trusted
   * already, at once (see CachedSource.spansNow); undefined otherwise, with nothing held or counted.
   */
  private spansNow(st: VersionState, offset: number, length: number, stats: StreamStats | undefined): FileSpan[] | undefined {
    const parts = blockParts(offset, length, st.size, this.options.blockSize, MAX_BLOCKS_AT_ONCE);
    if (!parts) return undefined;
    const spans = spansOfParts(parts, (part) => this.blocks.leaseNow(st, part.index, part.blockLen));
    if (!spans) return undefined;
    for (const part of parts) this.blocks.countHit(st, part.index, stats);
    st.recentEnds.note(offset + length);
    return spans;
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
    const h = await this.blocks.open(st, index, undefined, index);
    if ('bytes' in h) return h.bytes;
    try {
      const bytes = Buffer.allocUnsafe(h.known.length);
      return (await readFully(h.lease.handle, bytes, 0)) === h.known.length ? bytes : undefined;
    } finally {
      h.lease.release();
    }
  }
}
