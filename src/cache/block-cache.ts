// The disk block cache in front of upstream base images (DESIGN.md "block cache"), as a small facade
// over its parts. Upstream bytes live on disk in aligned blocks (1-4 MiB) keyed by the base version
// (versionKey), so a new version never reads an old one's blocks.
//
// The parts, each in its own file:
// - block-index.ts: the LRU index bounded by the byte budget; rebuilt from the directory at start;
//   every block CRC-checked in full before this process serves it, and again after any change to
//   its file (checked-file.ts); dropping a block unlinks its file.
// - block-writer.ts: atomic persist (temporary file + rename), room made within the budget before
//   writing, degraded mode when the disk is full or the directory unwritable.
// - flights.ts: single-flight fetches, so N readers of a missing block share one upstream fetch.
// - sequential-fill.ts: upstreams that ignore Range are read once, front to back, into blocks.
// - block-stream.ts: reads and streams, with pins (a block opened once per stream) and readahead.
// Memory: a stream holds its reads in flight (chunks of pool memory, src/io/chunk-pool.ts), and the
// bytes of a block it had to check whole or fetch; a block being fetched is held by its flight
// until it is on disk.
//
// Failure policy: a short or corrupt block is dropped and fetched again; a full disk or an
// unwritable directory makes the cache serve misses straight from upstream (logged once), never
// an error to the reader, and a write tries the disk again every `degradedRetryMs`.

import { RecentEnds } from './recent-ends.js';
import { join } from 'node:path';
import type { ByteSource } from '../byte-source.js';
import type { Chunk, FileSpan } from '../io/file-span.js';
import type { LoggerLike, UpstreamSource, UpstreamStats } from '../upstream/types.js';
import { versionKey, type BaseVersion } from '../upstream/validator.js';
import { versionDirName } from './block-file.js';
import { BlockIndex } from './block-index.js';
import { BlockStreams, type BlockOnDisk, type StreamStats } from './block-stream.js';
import { BlockWriter } from './block-writer.js';
import { FdCache } from './fd-cache.js';
import { Flights } from './flights.js';
import { blockKey, Tasks, type Counters, type SourceState, type SourceStats } from './parts.js';

export type { BlockOnDisk, StreamStats } from './block-stream.js';
export type { SourceStats } from './parts.js';

const MiB = 1024 * 1024;
/** A BMC reading a cold block waits this long at most for the cache's upstream fetch. */
const DEFAULT_FETCH_TIMEOUT_MS = 30_000;
/**
 * What a transfer holds: its reads in flight (2) and the chunk its socket is taking, so about
 * three chunks. At 1 MiB, 200 BMCs reading at once held 600 MiB; at 256 KiB, 150 MiB, for a few
 * percent more CPU on whole-image reads (four times the chunks). A BMC's own reads are often
 * smaller than this anyway.
 */
export const DEFAULT_CHUNK_BYTES = 256 * 1024;
/** Short: a write that fails again costs little, and /metrics should not say degraded for long. */
const DEFAULT_DEGRADED_RETRY_MS = 2_000;

export interface BlockCacheOptions {
  readonly dir: string;
  /** Bytes of block files kept on disk. */
  readonly budgetBytes: number;
  /** 1-4 MiB, a multiple of 64 KiB; default 2 MiB. */
  readonly blockSize?: number;
  /** Blocks fetched ahead of a sequential reader; default 4. */
  readonly readaheadBlocks?: number;
  /**
   * Bytes per chunk yielded by `stream`; default 256 KiB (DEFAULT_CHUNK_BYTES says why).
   */
  readonly chunkBytes?: number;
  /** Chunk reads in flight per stream; default 2. A stream holds the blocks these touch in memory. */
  readonly readsInFlight?: number;
  /** Block files kept open; default 128. Servers keep one per block of the budget (open-files.ts). */
  readonly maxOpenFiles?: number;
  readonly logger?: LoggerLike;
  /**
   * Budget of one block fetch from upstream, retries and backoff included; default 30 s. When it
   * runs out, the readers waiting for the block fail with UPSTREAM_TIMEOUT. The upstream's own
   * budgets (headers, idle body) bound each attempt; this bounds the sum.
   */
  readonly fetchTimeoutMs?: number;
  /**
   * While degraded (disk full, directory unwritable), how long to wait before one write tries the
   * disk again; default 2 s. A failed try costs one failed write.
   */
  readonly degradedRetryMs?: number;
  /** The upstream counters, so `stats()` can report retries beside the cache's own numbers. */
  readonly upstreamStats?: UpstreamStats;
}

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly evictions: number;
  readonly bytesUsed: number;
  readonly blocks: number;
  /** Bytes the cache fetched from upstream. */
  readonly upstreamBytes: number;
  /** Upstream fetches the cache started (one per block, or one per sequential fill). */
  readonly upstreamRequests: number;
  /** Failed upstream fetches, disk errors, corrupt blocks. */
  readonly errors: number;
  readonly retries: number;
  /** True while misses are served without writing to disk. */
  readonly degraded: boolean;
}

export interface CachedSource extends ByteSource {
  readonly version: BaseVersion;
  readonly versionKey: string;
  /**
   * Bytes [offset, offset+length) in chunks, in order, pulled with a few reads in flight. Chunks
   * may share memory with the cache: do not modify them. Aborting `signal` or calling return()
   * releases upstream fetches nobody else waits for. `stats`, when given, is counted into.
   */
  stream(offset: number, length: number, signal?: AbortSignal, stats?: StreamStats): AsyncIterable<Uint8Array>;
  /**
   * The same bytes for a writer that sends files itself: blocks on disk come as file spans (each
   * released by the receiver once sent), others as bytes. Optional: sources without it are streamed.
   */
  spans?(offset: number, length: number, signal?: AbortSignal, stats?: StreamStats): AsyncIterable<Chunk>;
  /**
   * What `spans` would yield for a range in at most two blocks (MAX_BLOCKS_AT_ONCE), when each
   * block's part is a span of a file open and trusted already: at once, no waiting (the receiver
   * releases each span). Undefined otherwise, with nothing held (use `spans`). Optional.
   */
  spansNow?(offset: number, length: number, stats?: StreamStats): FileSpan[] | undefined;
  /**
   * Block `index` on disk, for a reader in another process: the CRC and length naming its file
   * (checked whole), fetched first if missing; its bytes only when the cache could not keep it.
   * Optional: sources without it hand out bytes (`read`).
   */
  ensure?(index: number, signal?: AbortSignal): Promise<BlockOnDisk | { readonly bytes: Uint8Array }>;
}

export interface BlockCache {
  /**
   * The cached view of an upstream. Sources of one base version share their per-version state
   * (sequential-reader detection, a running fill), whoever asks and however often.
   */
  source(upstream: UpstreamSource): CachedSource;
  /**
   * Forgets a base version's per-version state (the upstream it holds, recent stream ends), so a
   * base the caller no longer serves does not stay referenced. Call it when a base version is
   * evicted or replaced. CachedSources made before keep working (a later read makes the state
   * again), fetches in flight finish for their readers, and the version's blocks stay on disk
   * for the LRU to evict, unless `dropBlocks` removes them now (a version that will never be read
   * again, e.g. replaced upstream); sources of the version made since it was last forgotten then
   * read without writing. A later `source()` of the version starts afresh. Unknown keys are ignored.
   */
  forgetSource(versionKey: string, options?: { dropBlocks?: boolean }): void;
  stats(): CacheStats;
  /**
   * One base version's share: bytes of its blocks on disk and bytes fetched from upstream for it
   * (zeros for a version the cache has not seen). Read-only; for the status page.
   */
  sourceStats(versionKey: string): SourceStats;
  /**
   * Blocks of a base version read by someone who did not read them through this cache (a cluster
   * worker reading block files directly), so the LRU keeps them as recently used. Reads nothing;
   * blocks not in the cache are ignored.
   */
  touch(versionKey: string, indexes: readonly number[]): void;
  /**
   * The identity (checked-file.ts) of a block's file as this cache last checked it whole, checking
   * it first if it has not since the file's last change; undefined when the block is not on disk,
   * is bad, or its check is provisional. A cluster worker that finds the same identity on its open file trusts this check
   * instead of reading and checking the block again itself.
   */
  checkedIdentity?(versionKey: string, index: number): Promise<string | undefined>;
  /** Resolves when every block fetched so far is on disk (or given up). */
  flush(): Promise<void>;
  /** Aborts fetches, waits for writes, closes files. */
  close(): Promise<void>;
}

class DiskBlockCache implements BlockCache {
  private readonly dir: string;
  private readonly blockSize: number;
  private readonly upstreamStats: UpstreamStats | undefined;
  private readonly fds: FdCache;
  private readonly tasks = new Tasks();
  private readonly counters: Counters = { hits: 0, misses: 0, evictions: 0, upstreamBytes: 0, upstreamRequests: 0, errors: 0 };
  private readonly index: BlockIndex;
  private readonly writer: BlockWriter;
  private readonly flights: Flights;
  private readonly streams: BlockStreams;
  private readonly states = new Map<string, SourceState>();

  constructor(options: BlockCacheOptions) {
    this.dir = options.dir;
    const budget = Math.max(0, Math.floor(options.budgetBytes));
    this.blockSize = options.blockSize ?? 2 * MiB;
    if (!Number.isSafeInteger(this.blockSize) || this.blockSize < MiB || this.blockSize > 4 * MiB || this.blockSize % (64 * 1024) !== 0) {
      throw new RangeError(`block size must be 1-4 MiB in steps of 64 KiB, got ${this.blockSize}`);
    }
    const logger = options.logger;
    this.upstreamStats = options.upstreamStats;
    this.fds = new FdCache(Math.max(4, options.maxOpenFiles ?? 128));
    this.index = new BlockIndex(budget, this.blockSize, this.fds, this.counters, this.tasks, logger);
    const retryMs = Math.max(1, options.degradedRetryMs ?? DEFAULT_DEGRADED_RETRY_MS);
    this.writer = new BlockWriter(this.dir, budget, this.index, this.counters, this.tasks, logger, retryMs);
    const fetchTimeoutMs = Math.max(1, options.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS);
    const shared = {
      blockSize: this.blockSize,
      fetchTimeoutMs,
      index: this.index,
      writer: this.writer,
      counters: this.counters,
      tasks: this.tasks,
      logger,
    };
    this.flights = new Flights(shared);
    this.streams = new BlockStreams({
      ...shared,
      flights: this.flights,
      readahead: Math.max(0, Math.min(64, options.readaheadBlocks ?? 4)),
      chunkBytes: Math.max(64 * 1024, Math.min(this.blockSize, options.chunkBytes ?? DEFAULT_CHUNK_BYTES)),
      readsInFlight: Math.max(1, Math.min(8, options.readsInFlight ?? 2)),
    });
  }

  /** Makes the directory, checks it is writable, and rebuilds the index from the files in it. */
  async start(): Promise<void> {
    const writable = await this.writer.start();
    await this.index.rebuild(this.dir, writable);
  }

  source(upstream: UpstreamSource): CachedSource {
    const vk = versionKey(upstream.version);
    let state = this.states.get(vk);
    if (!state) {
      state = {
        upstream,
        vk,
        dir: join(this.dir, versionDirName(vk, this.blockSize)),
        size: upstream.size,
        blockCount: Math.ceil(upstream.size / this.blockSize),
        recentEnds: new RecentEnds(),
        fillRunning: false,
        dropped: false,
      };
      this.states.set(vk, state);
    } else {
      state.upstream = upstream; // the newest opening of this version (an older one may be closed)
    }
    const st = state;
    return {
      size: upstream.size,
      version: upstream.version,
      versionKey: vk,
      read: (offset, length, signal) => this.streams.read(st, offset, length, signal),
      stream: (offset, length, signal, stats) => this.streams.stream(st, offset, length, signal, stats),
      spans: (offset, length, signal, stats) => this.streams.spans(st, offset, length, signal, stats),
      spansNow: (offset, length, stats) => this.streams.spansNow(st, offset, length, stats),
      ensure: (index, signal) => this.streams.ensure(st, index, signal),
    };
  }

  forgetSource(vk: string, options: { dropBlocks?: boolean } = {}): void {
    const state = this.states.get(vk);
    this.states.delete(vk);
    if (!options.dropBlocks) return;
    // Sources made before keep reading, but write nothing more of this version.
    if (state) state.dropped = true;
    this.index.dropVersion(vk);
  }

  stats(): CacheStats {
    return {
      ...this.counters,
      bytesUsed: this.index.bytesUsed,
      blocks: this.index.blocks,
      retries: this.upstreamStats?.retries ?? 0,
      degraded: this.writer.degraded,
    };
  }

  sourceStats(vk: string): SourceStats {
    return this.index.tally.stats(vk);
  }

  touch(vk: string, indexes: readonly number[]): void {
    for (const index of indexes) this.index.touch(blockKey(vk, index));
  }

  async checkedIdentity(vk: string, index: number): Promise<string | undefined> {
    const block = this.index.get(blockKey(vk, index));
    if (!block) return undefined;
    const lease = await this.index.open(block, false);
    if (!lease) return undefined;
    lease.release();
    // A provisional check (the file changed within a second of it) is this process's to redo.
    return block.check.settled === true ? block.check.identity : undefined;
  }

  async flush(): Promise<void> {
    // Writes finishing can start unlinks (evictions): wait until nothing is left.
    await this.tasks.settle();
  }

  async close(): Promise<void> {
    this.index.close();
    this.writer.close();
    this.flights.abortAll(new DOMException('block cache closed', 'AbortError'));
    await this.flush();
    await this.fds.closeAll();
  }
}

/** Opens the cache directory (made if missing), rebuilding its index within the budget. */
export async function createBlockCache(options: BlockCacheOptions): Promise<BlockCache> {
  const cache = new DiskBlockCache(options);
  await cache.start();
  return cache;
}
