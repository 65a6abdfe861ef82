// The disk block cache in front of upstream base images (DESIGN.md "block cache"). Upstream bytes
// live on disk in aligned blocks (1-4 MiB) keyed by the base version (versionKey), so a new
// version never reads an old one's blocks. The index is an lru-cache bounded by a byte budget whose
// dispose deletes the block file. Misses are single-flight: N readers of a missing block share one
// upstream fetch, and get its bytes from memory until the block is on disk. Sequential readers
// trigger readahead. Upstreams that ignore Range are read once, front to back, into blocks.
//
// The serving path (`stream`) reads aligned chunks from block files by positioned reads on
// descriptors kept in a small LRU, with a few reads in flight per stream: per-chunk overhead,
// not copying, limits Node's throughput here. A stream opens each block once and reads all its
// chunks through that descriptor, which outlives an eviction (the file is unlinked, the open
// descriptor still reads it) and is released after the stream's last chunk of the block.
// Blocks written by this process are trusted; blocks found on disk at start are checked (length
// at start from the name, CRC-32 on first use).
//
// Failure policy: a short or corrupt block is dropped and fetched again; a full disk or an
// unwritable directory makes the cache serve misses straight from upstream (logged once), never
// an error to the reader.

import { mkdir, readdir, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { checkRange, type ByteSource } from '../byte-source.js';
import { UpstreamError } from '../errors.js';
import type { LoggerLike, UpstreamSource, UpstreamStats } from '../upstream/types.js';
import { versionKey, type BaseVersion } from '../upstream/validator.js';
import { blockFileName, isTempFileName, parseBlockFileName, parseVersionDirName, versionDirName } from './block-file.js';
import { FdCache, type FdLease } from './fd-cache.js';

const MiB = 1024 * 1024;

export interface BlockCacheOptions {
  readonly dir: string;
  /** Bytes of block files kept on disk. */
  readonly budgetBytes: number;
  /** 1-4 MiB, a multiple of 64 KiB; default 2 MiB. */
  readonly blockSize?: number;
  /** Blocks fetched ahead of a sequential reader; default 4. */
  readonly readaheadBlocks?: number;
  /** Bytes per chunk yielded by `stream`; default 1 MiB (see bench/cache-bench.ts). */
  readonly chunkBytes?: number;
  /** Chunk reads in flight per stream; default 2. Memory per stream is about chunk x this. */
  readonly readsInFlight?: number;
  /** Block files kept open; default 128 (a 1 GiB base is 512 blocks of 2 MiB). */
  readonly maxOpenFiles?: number;
  readonly logger?: LoggerLike;
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

/** What one stream cost: blocks found on disk, blocks missed, and the bytes of the missed blocks. */
export interface StreamStats {
  hits: number;
  misses: number;
  upstreamBytes: number;
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
}

export interface BlockCache {
  source(upstream: UpstreamSource): CachedSource;
  stats(): CacheStats;
  /** Resolves when every block fetched so far is on disk (or given up). */
  flush(): Promise<void>;
  /** Aborts fetches, waits for writes, closes files. */
  close(): Promise<void>;
}

interface Block {
  readonly key: string;
  readonly path: string;
  readonly length: number;
  readonly crc: number;
  /** Checksum checked (or written) by this process. */
  verified: boolean;
  /** mtime bumped by this process, so a restart keeps the recency order. */
  touched: boolean;
}

/** What a stream reads one block through. */
interface BlockHandle {
  readonly bytes?: Uint8Array;
  readonly block?: Block;
  readonly lease?: FdLease;
}

/** A block a stream is reading: opened once, released when its last chunk is read. */
interface Pin {
  readonly index: number;
  readonly handle: Promise<BlockHandle>;
  pending: number;
  closed: boolean;
  released: boolean;
}

interface Flight {
  readonly promise: Promise<Uint8Array>;
  readonly controller: AbortController;
  refs: number;
  /** Runs to the end whoever waits (sequential fills). */
  readonly detached: boolean;
  settled: boolean;
}

interface SourceState {
  upstream: UpstreamSource;
  readonly vk: string;
  readonly dir: string;
  readonly size: number;
  readonly blockCount: number;
  /** Where recent streams ended: a stream starting at one of them is sequential. */
  readonly recentEnds: number[];
  fillRunning: boolean;
}

const RECENT_ENDS = 32;
const WRITE_PAUSE_MS = 30_000;

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted', 'AbortError');
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

class DiskBlockCache implements BlockCache {
  private readonly dir: string;
  private readonly budget: number;
  readonly blockSize: number;
  private readonly readahead: number;
  private readonly chunkBytes: number;
  private readonly inFlight: number;
  private readonly logger: LoggerLike | undefined;
  private readonly upstreamStats: UpstreamStats | undefined;
  private readonly fds: FdCache;
  private readonly lru: LRUCache<string, Block>;
  private readonly flights = new Map<string, Flight>();
  private readonly states = new Map<string, SourceState>();
  private readonly verifying = new Map<string, Promise<Uint8Array | undefined>>();
  private readonly madeDirs = new Set<string>();
  private readonly warned = new Set<string>();
  private readonly pendingWrites = new Set<Promise<void>>();
  /** Bytes of blocks being written now, not yet in the LRU. */
  private reservedBytes = 0;
  private writable = true;
  private writesPausedUntil = 0;
  private tmpSeq = 0;
  private closed = false;
  private counters = { hits: 0, misses: 0, evictions: 0, upstreamBytes: 0, upstreamRequests: 0, errors: 0 };

  constructor(options: BlockCacheOptions) {
    this.dir = options.dir;
    this.budget = Math.max(0, Math.floor(options.budgetBytes));
    this.blockSize = options.blockSize ?? 2 * MiB;
    if (!Number.isSafeInteger(this.blockSize) || this.blockSize < MiB || this.blockSize > 4 * MiB || this.blockSize % (64 * 1024) !== 0) {
      throw new RangeError(`block size must be 1-4 MiB in steps of 64 KiB, got ${this.blockSize}`);
    }
    this.readahead = Math.max(0, Math.min(64, options.readaheadBlocks ?? 4));
    this.chunkBytes = Math.max(64 * 1024, Math.min(this.blockSize, options.chunkBytes ?? MiB));
    this.inFlight = Math.max(1, Math.min(8, options.readsInFlight ?? 2));
    this.logger = options.logger;
    this.upstreamStats = options.upstreamStats;
    this.fds = new FdCache(Math.max(4, options.maxOpenFiles ?? 128));
    this.lru = new LRUCache<string, Block>({
      maxSize: Math.max(1, this.budget),
      sizeCalculation: (b) => Math.max(1, b.length),
      dispose: (block, _key, reason) => {
        if (reason === 'evict') this.counters.evictions++;
        this.fds.forget(block.path);
        // Tracked so close() waits for it: after close, the disk holds what the index said.
        this.trackWrite(unlink(block.path).catch(() => {}));
      },
    });
  }

  /** Makes the directory, checks it is writable, and rebuilds the index from the files in it. */
  async start(): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true });
      const probe = join(this.dir, `.probe-${process.pid}.tmp`);
      await writeFile(probe, 'ok');
      await unlink(probe);
    } catch (err) {
      this.writable = false;
      this.warnOnce('unwritable', { dir: this.dir, err: (err as Error).message }, 'cache directory unwritable: serving misses straight from upstream');
    }
    await this.rebuild();
  }

  private async rebuild(): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).sort();
    } catch {
      return;
    }
    const found: { block: Block; mtimeMs: number }[] = [];
    for (const name of names) {
      const vdir = join(this.dir, name);
      if (isTempFileName(name)) {
        await unlink(vdir).catch(() => {});
        continue;
      }
      const parsed = parseVersionDirName(name);
      if (!parsed) continue; // not ours: leave it alone
      if (parsed.blockSize !== this.blockSize) {
        // Blocks of another block size can never be read again: free their disk.
        if (this.writable) await rm(vdir, { recursive: true, force: true }).catch(() => {});
        continue;
      }
      let files: string[];
      try {
        files = (await readdir(vdir)).sort();
      } catch {
        continue;
      }
      for (const file of files) {
        const path = join(vdir, file);
        if (isTempFileName(file)) {
          await unlink(path).catch(() => {}); // a write interrupted by a crash
          continue;
        }
        const bn = parseBlockFileName(file);
        if (!bn || bn.lengthBytes > this.blockSize) continue;
        let st;
        try {
          st = await stat(path);
        } catch {
          continue;
        }
        if (!st.isFile() || st.size !== bn.lengthBytes) {
          await unlink(path).catch(() => {}); // short (or grown) block
          this.counters.errors++;
          continue;
        }
        found.push({ block: { key: blockKey(parsed.versionKey, bn.index), path, length: bn.lengthBytes, crc: bn.crc, verified: false, touched: false }, mtimeMs: st.mtimeMs });
      }
    }
    // Oldest first, so inserting them in order leaves the newest most recent and, when the budget
    // shrank, evicts the oldest. Ties broken by path: the result does not depend on readdir order.
    found.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.block.path < b.block.path ? -1 : a.block.path > b.block.path ? 1 : 0));
    for (const { block } of found) {
      if (block.length > this.budget) {
        await unlink(block.path).catch(() => {});
        continue;
      }
      this.lru.set(block.key, block);
    }
    this.counters.evictions = 0; // trimming at start is not an eviction of live data
    this.logger?.info({ dir: this.dir, blocks: this.lru.size, bytesUsed: this.lru.calculatedSize }, 'block cache index rebuilt');
  }

  source(upstream: UpstreamSource): CachedSource {
    const vk = versionKey(upstream.version);
    // One state per base version, whoever asks: sequential detection (recent stream ends) works
    // across requests even when the caller makes a CachedSource per request.
    let state = this.states.get(vk);
    if (!state) {
      state = {
        upstream,
        vk,
        dir: join(this.dir, versionDirName(vk, this.blockSize)),
        size: upstream.size,
        blockCount: Math.ceil(upstream.size / this.blockSize),
        recentEnds: [],
        fillRunning: false,
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
      read: (offset, length, signal) => this.read(st, offset, length, signal),
      stream: (offset, length, signal, stats) => this.stream(st, offset, length, signal, stats),
    };
  }

  stats(): CacheStats {
    return {
      ...this.counters,
      bytesUsed: this.lru.calculatedSize,
      blocks: this.lru.size,
      retries: this.upstreamStats?.retries ?? 0,
      degraded: !this.writesEnabled(),
    };
  }

  async flush(): Promise<void> {
    // Writes finishing can start unlinks (evictions): wait until nothing is left.
    while (this.pendingWrites.size > 0) await Promise.allSettled([...this.pendingWrites]);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const f of this.flights.values()) f.controller.abort(new DOMException('block cache closed', 'AbortError'));
    await this.flush();
    await this.fds.closeAll();
  }

  // ---- reading ----

  private blockLength(state: SourceState, index: number): number {
    return Math.min(this.blockSize, state.size - index * this.blockSize);
  }

  private async read(state: SourceState, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRange(offset, length, state.size);
    const out = new Uint8Array(length);
    let pos = 0;
    // Copies: metadata readers may keep or patch what they get, and chunks can be shared memory.
    // Reads are metadata (index, boot configs, FAT images): no readahead past what they ask for.
    for await (const chunk of this.stream(state, offset, length, signal, undefined, false)) {
      out.set(chunk, pos);
      pos += chunk.length;
    }
    return out;
  }

  private async *stream(state: SourceState, offset: number, length: number, signal?: AbortSignal, stats?: StreamStats, mayReadAhead = true): AsyncGenerator<Uint8Array> {
    checkRange(offset, length, state.size);
    if (length === 0) return;
    signal?.throwIfAborted();
    const end = offset + length;
    // One controller for everything this stream started: aborted when the caller aborts or stops
    // early, left alone when the stream completes (its readahead then finishes for the next reader).
    const inner = new AbortController();
    const onAbort = () => inner.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const sequential = mayReadAhead && (offset === 0 || state.recentEnds.includes(offset));
    let completed = false;
    // Only pins still open: a pin holds its block (2 MiB in memory on a miss), so a long stream
    // must not keep the pins of blocks it has passed.
    const pins = new Set<Pin>();
    try {
      const queue: Promise<Uint8Array>[] = [];
      let next = offset;
      let pin: Pin | undefined;
      const issue = () => {
        const index = Math.floor(next / this.blockSize);
        const blockStart = index * this.blockSize;
        const inBlock = next - blockStart;
        const len = Math.min(this.chunkBytes - (inBlock % this.chunkBytes), this.blockLength(state, index) - inBlock, end - next);
        if (pin === undefined || pin.index !== index) {
          if (pin) {
            this.unpin(pin, false);
            pins.delete(pin);
          }
          this.onBlockStart(state, index, end, sequential, inner.signal, stats);
          // The block is opened once per stream: every chunk of it reads the same descriptor (or
          // the same bytes in memory), which stays valid even if the budget evicts the file.
          pin = { index, handle: this.openBlock(state, index, inner.signal), pending: 0, closed: false, released: false };
          pin.handle.catch(() => {});
          pins.add(pin);
        }
        const p = this.readPinned(state, pin, inBlock, len, inner.signal);
        p.catch(() => {}); // awaited in order below; this only silences early rejections
        queue.push(p);
        next += len;
      };
      while (next < end && queue.length < this.inFlight) issue();
      while (queue.length > 0) {
        const chunk = await queue.shift()!;
        if (next < end) issue();
        signal?.throwIfAborted();
        yield chunk;
      }
      completed = true;
      state.recentEnds.push(end);
      if (state.recentEnds.length > RECENT_ENDS) state.recentEnds.shift();
    } finally {
      signal?.removeEventListener('abort', onAbort);
      for (const p of pins) this.unpin(p, false);
      if (!completed) inner.abort(signal?.aborted ? signal.reason : new DOMException('stream closed', 'AbortError'));
    }
  }

  /** Counts a hit or miss for the block and starts readahead past it. */
  private onBlockStart(state: SourceState, index: number, streamEnd: number, sequential: boolean, signal: AbortSignal, stats?: StreamStats): void {
    if (this.lru.has(blockKey(state.vk, index))) {
      this.counters.hits++;
      if (stats) stats.hits++;
    } else {
      this.counters.misses++;
      if (stats) {
        stats.misses++;
        stats.upstreamBytes += this.blockLength(state, index);
      }
    }
    if (this.readahead === 0 || !this.writesEnabled() || !state.upstream.supportsRanges) return;
    const streamLastBlock = Math.floor((streamEnd - 1) / this.blockSize);
    // Inside the stream, read ahead always; past its end only for sequential readers.
    const limit = Math.min(state.blockCount - 1, sequential ? index + this.readahead : Math.min(streamLastBlock, index + this.readahead));
    for (let b = index + 1; b <= limit; b++) {
      const key = blockKey(state.vk, b);
      if (this.lru.has(key) || this.flights.has(key)) continue;
      this.join(state, b, signal).catch(() => {});
    }
  }

  /** An open block file, or the block's bytes in memory (a fetch, or a first-use verification). */
  private async openBlock(state: SourceState, index: number, signal: AbortSignal): Promise<BlockHandle> {
    const block = this.lru.get(blockKey(state.vk, index));
    if (block) {
      if (block.length !== this.blockLength(state, index)) {
        this.dropBlock(block, 'block length does not match the image');
      } else if (!block.verified) {
        const whole = await this.verify(block);
        if (whole) return { bytes: whole };
      } else {
        try {
          return { block, lease: await this.fds.acquire(block.path) };
        } catch {
          this.dropBlock(block, 'block file missing');
        }
      }
    }
    return { bytes: await this.join(state, index, signal) };
  }

  private async readPinned(state: SourceState, pin: Pin, inBlock: number, len: number, signal: AbortSignal): Promise<Uint8Array> {
    pin.pending++;
    try {
      const h = await pin.handle;
      if (h.bytes) return h.bytes.subarray(inBlock, inBlock + len);
      const out = Buffer.allocUnsafe(len);
      let done = 0;
      try {
        while (done < len) {
          const { bytesRead } = await h.lease!.handle.read(out, done, len - done, inBlock + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
      } catch (err) {
        this.dropBlock(h.block!, `block read failed: ${(err as Error).message}`);
        done = -1;
      }
      if (done === len) return out;
      if (done >= 0) this.dropBlock(h.block!, 'block file short');
      // The file let us down mid-stream: this chunk comes from upstream instead.
      const data = await this.join(state, pin.index, signal);
      return data.subarray(inBlock, inBlock + len);
    } finally {
      pin.pending--;
      if (pin.closed) this.unpin(pin, true);
    }
  }

  /** Marks the stream done with the block; the descriptor is released once no read is pending. */
  private unpin(pin: Pin, fromRead: boolean): void {
    if (!fromRead) pin.closed = true;
    if (!pin.closed || pin.pending > 0 || pin.released) return;
    pin.released = true;
    pin.handle.then((h) => h.lease?.release(), () => {});
  }

  /** First use of a block found on disk at start: check its length and CRC once. */
  private verify(block: Block): Promise<Uint8Array | undefined> {
    let p = this.verifying.get(block.key);
    if (!p) {
      p = (async () => {
        let lease;
        try {
          lease = await this.fds.acquire(block.path);
        } catch {
          this.dropBlock(block, 'block file missing');
          return undefined;
        }
        try {
          const whole = Buffer.allocUnsafe(block.length);
          let done = 0;
          while (done < block.length) {
            const { bytesRead } = await lease.handle.read(whole, done, block.length - done, done);
            if (bytesRead === 0) break;
            done += bytesRead;
          }
          if (done !== block.length || (crc32(whole) >>> 0) !== block.crc) {
            this.dropBlock(block, done !== block.length ? 'block file short' : 'block checksum mismatch');
            return undefined;
          }
          block.verified = true;
          if (!block.touched && this.writesEnabled()) {
            block.touched = true;
            const now = new Date();
            utimes(block.path, now, now).catch(() => {});
          }
          return whole;
        } catch (err) {
          this.dropBlock(block, `block read failed: ${(err as Error).message}`);
          return undefined;
        } finally {
          lease.release();
        }
      })().finally(() => this.verifying.delete(block.key));
      this.verifying.set(block.key, p);
    }
    return p;
  }

  private dropBlock(block: Block, why: string): void {
    // Evicted meanwhile (its file unlinked by dispose): an ordinary race, not corruption.
    if (this.lru.peek(block.key) !== block) return;
    this.counters.errors++;
    this.logger?.warn({ path: block.path, why }, 'dropping cached block; it will be fetched again');
    this.lru.delete(block.key); // dispose closes and unlinks it
  }

  // ---- fetching ----

  /**
   * Waits for block `index` from upstream, sharing one fetch among all waiters. A waiter that
   * aborts stops waiting at once; the fetch itself is aborted when no waiter is left.
   */
  private join(state: SourceState, index: number, signal: AbortSignal): Promise<Uint8Array> {
    const flight = this.flightFor(state, index);
    flight.refs++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      flight.refs--;
      if (flight.refs === 0 && !flight.detached && !flight.settled) flight.controller.abort(new DOMException('no reader left', 'AbortError'));
    };
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => {
        release();
        reject(abortReason(signal));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      flight.promise.then(
        (bytes) => {
          signal.removeEventListener('abort', onAbort);
          release();
          resolve(bytes);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onAbort);
          release();
          reject(err);
        },
      );
    });
  }

  private flightFor(state: SourceState, index: number): Flight {
    const key = blockKey(state.vk, index);
    const existing = this.flights.get(key);
    if (existing) return existing;
    if (!state.upstream.supportsRanges && this.writesEnabled()) {
      this.startFill(state);
      const filled = this.flights.get(key);
      if (filled) return filled;
    }
    return this.startFetch(state, index);
  }

  private startFetch(state: SourceState, index: number): Flight {
    const key = blockKey(state.vk, index);
    const controller = new AbortController();
    const length = this.blockLength(state, index);
    const start = index * this.blockSize;
    const promise = (async () => {
      this.counters.upstreamRequests++;
      // Allocated on the first byte: fetches queued behind a busy upstream hold no memory.
      let out: Buffer | undefined;
      let pos = 0;
      for await (const chunk of state.upstream.stream(start, length, controller.signal)) {
        out ??= Buffer.allocUnsafe(length);
        out.set(chunk, pos);
        pos += chunk.length;
      }
      if (out === undefined || pos !== length) throw new UpstreamError('UPSTREAM_BAD_RANGE', state.upstream.version.url, `block ${index}: got ${pos} of ${length} bytes`);
      this.counters.upstreamBytes += length;
      return out;
    })();
    const flight: Flight = { promise, controller, refs: 0, detached: false, settled: false };
    this.flights.set(key, flight);
    promise.then(
      (bytes) => {
        flight.settled = true;
        // Kept in `flights` until it is on disk, so a reader arriving meanwhile gets the bytes.
        this.trackWrite(this.persist(state, index, bytes).finally(() => {
          if (this.flights.get(key) === flight) this.flights.delete(key);
        }));
      },
      (err: unknown) => {
        flight.settled = true;
        if (this.flights.get(key) === flight) this.flights.delete(key);
        if (!isAbort(err)) {
          this.counters.errors++;
          this.logger?.warn({ url: state.upstream.version.url, block: index, err: (err as Error).message, code: (err as { code?: string }).code }, 'upstream block fetch failed');
        }
      },
    );
    return flight;
  }

  /**
   * For an upstream that ignores Range: one sequential read of the whole image, cutting it into
   * blocks. Every block not cached gets a flight up front, so readers anywhere in the image wait
   * for this one download instead of starting their own from byte 0 (which would be quadratic).
   */
  private startFill(state: SourceState): void {
    if (state.fillRunning) return;
    state.fillRunning = true;
    const controller = new AbortController();
    const pending = new Map<number, { resolve: (b: Uint8Array) => void; reject: (e: unknown) => void; flight: Flight }>();
    for (let b = 0; b < state.blockCount; b++) {
      const key = blockKey(state.vk, b);
      if (this.lru.has(key) || this.flights.has(key)) continue;
      let resolve!: (b: Uint8Array) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<Uint8Array>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      promise.catch(() => {});
      const flight: Flight = { promise, controller, refs: 0, detached: true, settled: false };
      this.flights.set(key, flight);
      pending.set(b, { resolve, reject, flight });
    }
    const run = async () => {
      this.counters.upstreamRequests++;
      let pos = 0;
      let buf: Buffer | undefined;
      for await (const chunk of state.upstream.stream(0, state.size, controller.signal)) {
        let c = chunk;
        while (c.length > 0) {
          const b = Math.floor(pos / this.blockSize);
          const blockStart = b * this.blockSize;
          const blockEnd = blockStart + this.blockLength(state, b);
          const take = Math.min(c.length, blockEnd - pos);
          const want = pending.get(b);
          if (want) {
            buf ??= Buffer.allocUnsafe(blockEnd - blockStart);
            buf.set(c.subarray(0, take), pos - blockStart);
          }
          pos += take;
          c = c.subarray(take);
          if (pos === blockEnd && want && buf) {
            const bytes = buf;
            buf = undefined;
            want.flight.settled = true;
            want.resolve(bytes);
            pending.delete(b);
            // Awaited: the download waits for the disk instead of piling blocks up in memory.
            await this.persist(state, b, bytes);
            const key = blockKey(state.vk, b);
            if (this.flights.get(key) === want.flight) this.flights.delete(key);
          }
        }
        this.counters.upstreamBytes += chunk.length;
      }
    };
    this.trackWrite(
      run()
        .catch((err: unknown) => {
          if (!isAbort(err)) {
            this.counters.errors++;
            this.logger?.warn({ url: state.upstream.version.url, err: (err as Error).message }, 'sequential fill of a Range-less upstream failed');
          }
          for (const [b, p] of pending) {
            p.flight.settled = true;
            p.reject(err);
            const key = blockKey(state.vk, b);
            if (this.flights.get(key) === p.flight) this.flights.delete(key);
          }
        })
        .finally(() => {
          state.fillRunning = false;
        }),
    );
  }

  private trackWrite(p: Promise<void>): void {
    this.pendingWrites.add(p);
    p.finally(() => this.pendingWrites.delete(p)).catch(() => {});
  }

  // ---- writing ----

  private writesEnabled(): boolean {
    return this.writable && !this.closed && (this.writesPausedUntil === 0 || Date.now() >= this.writesPausedUntil);
  }

  /** Writes a fetched block atomically (temporary file + rename) and indexes it. Never throws. */
  private async persist(state: SourceState, index: number, bytes: Uint8Array): Promise<void> {
    const key = blockKey(state.vk, index);
    if (!this.writesEnabled() || bytes.length > this.budget || this.lru.has(key)) return;
    // Make room before writing, counting the blocks other writes are about to add: the directory
    // never holds more than the budget plus files whose unlink is on its way.
    while (this.lru.size > 0 && this.lru.calculatedSize + this.reservedBytes + bytes.length > this.budget) this.lru.pop();
    this.reservedBytes += bytes.length;
    try {
      await this.writeBlock(state, index, key, bytes);
    } finally {
      this.reservedBytes -= bytes.length;
    }
  }

  private async writeBlock(state: SourceState, index: number, key: string, bytes: Uint8Array): Promise<void> {
    const crc = crc32(bytes) >>> 0;
    const name = blockFileName({ index, lengthBytes: bytes.length, crc });
    const path = join(state.dir, name);
    const tmp = join(state.dir, `.${name}.${process.pid}.${this.tmpSeq++}.tmp`);
    try {
      if (!this.madeDirs.has(state.dir)) {
        await mkdir(state.dir, { recursive: true });
        this.madeDirs.add(state.dir);
      }
      await writeFile(tmp, bytes);
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => {});
      this.writeFailed(err as NodeJS.ErrnoException);
      return;
    }
    // Indexed even when closing: a file on disk outside the index would escape the budget.
    const existing = this.lru.peek(key);
    if (existing) {
      // Same key, same bytes, so normally the same name (rename replaced it in place).
      if (existing.path !== path) this.trackWrite(unlink(path).catch(() => {}));
      return;
    }
    this.lru.set(key, { key, path, length: bytes.length, crc, verified: true, touched: true });
  }

  private writeFailed(err: NodeJS.ErrnoException): void {
    this.counters.errors++;
    if (err.code === 'ENOSPC' || err.code === 'EDQUOT') {
      // The disk may free up (our own evictions, other tenants): try again later.
      this.writesPausedUntil = Date.now() + WRITE_PAUSE_MS;
      this.warnOnce('full', { dir: this.dir, code: err.code }, 'cache disk full: serving misses straight from upstream for a while');
    } else {
      this.writable = false;
      this.warnOnce('unwritable', { dir: this.dir, code: err.code, err: err.message }, 'cache directory unwritable: serving misses straight from upstream');
    }
  }

  private warnOnce(kind: string, obj: object, msg: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.logger?.warn(obj, msg);
  }
}

function blockKey(vk: string, index: number): string {
  return `${vk}/${index}`;
}

/** Opens the cache directory (made if missing), rebuilding its index within the budget. */
export async function createBlockCache(options: BlockCacheOptions): Promise<BlockCache> {
  const cache = new DiskBlockCache(options);
  await cache.start();
  return cache;
}
