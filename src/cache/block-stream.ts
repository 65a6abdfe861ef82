// Reading through the cache: `stream` yields a range in aligned chunks with a few reads in flight,
// `read` copies a range into one buffer (metadata readers). A stream opens each block once (a pin):
// its file, known good (checked-file.ts), from which each chunk is read into memory of the chunk
// pool (src/io/chunk-pool.ts: the consumer gives it back when written); or, on a miss, the block's
// bytes fetched from upstream, of which each chunk is a view. An eviction while the stream reads changes nothing: an open descriptor keeps
// an unlinked file readable. A stream holds at most the pins of the blocks its reads in flight
// touch (two blocks, usually). Sequential readers (a stream starting where a recent one ended, or
// at 0) read ahead past their end; others only inside their range.

import { checkRange } from '../byte-source.js';
import { chunkPool } from '../io/chunk-pool.js';
import { fileSpan, type Chunk, type FileSpan } from '../io/file-span.js';
import { readFully } from '../io/read-fully.js';
import type { BlockIndex } from './block-index.js';
import type { FdLease } from './fd-cache.js';
import { SmallReads } from './small-reads.js';
import type { BlockWriter } from './block-writer.js';
import type { Flights } from './flights.js';
import { blockKey, blockLength, blockParts, MAX_BLOCKS_AT_ONCE, spansOfParts, type Block, type Counters, type SourceState } from './parts.js';

/** Readahead started by a read that completed at once: nothing ever aborts it. */
const neverAborted = (): undefined => undefined;

/** A block file as its name gives it (block-file.ts): whole and CRC-checked when handed out. */
export interface BlockOnDisk {
  readonly crc: number;
  readonly length: number;
}

/** What one stream cost: blocks found on disk, blocks missed, and the bytes of the missed blocks. */
export interface StreamStats {
  hits: number;
  misses: number;
  upstreamBytes: number;
}

export interface StreamDeps {
  readonly blockSize: number;
  readonly readahead: number;
  readonly chunkBytes: number;
  readonly readsInFlight: number;
  readonly index: BlockIndex;
  readonly writer: BlockWriter;
  readonly flights: Flights;
  readonly counters: Counters;
}

/** A block a stream is reading: opened once for all its chunks. */
interface Pin {
  readonly index: number;
  readonly opened: Promise<{ readonly lease: FdLease } | { readonly bytes: Uint8Array }>;
  /** Chunk reads of this pin not yet settled: its file goes back when they have. */
  reads: number;
  unpinned: boolean;
}

/**
 * One controller for the upstream fetches a stream starts: aborted when the caller aborts or the
 * stream stops early, left alone when it completes (its readahead then finishes for the next
 * reader). Made on first need: a stream of blocks on disk needs none, and a controller per range
 * request was a measurable share of serving small ranges.
 */
class StreamFetches {
  private inner: AbortController | undefined;
  private readonly onAbort = (): void => this.inner?.abort(this.caller?.reason);

  constructor(private readonly caller: AbortSignal | undefined) {}

  readonly signal = (): AbortSignal => {
    if (!this.inner) {
      this.inner = new AbortController();
      if (this.caller?.aborted) this.inner.abort(this.caller.reason);
      else this.caller?.addEventListener('abort', this.onAbort, { once: true });
    }
    return this.inner.signal;
  };

  end(completed: boolean): void {
    this.caller?.removeEventListener('abort', this.onAbort);
    if (!completed) this.inner?.abort(this.caller?.aborted ? this.caller.reason : new DOMException('stream closed', 'AbortError'));
  }
}

export class BlockStreams {
  private readonly small: SmallReads;

  constructor(private readonly deps: StreamDeps) {
    this.small = new SmallReads(deps.blockSize);
  }

  async read(state: SourceState, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRange(offset, length, state.size);
    const small = await this.small.read(state.vk, offset, length, (index) => this.wholeBlock(state, index));
    if (small) {
      this.deps.counters.hits++;
      return small;
    }
    const fetched = await this.readFetched(state, offset, length, signal);
    if (fetched) return fetched;
    const out = new Uint8Array(length);
    let pos = 0;
    // Copies: metadata readers may keep or patch what they get, and chunks can be shared memory.
    // Reads are metadata (index, boot configs, FAT images): no readahead past what they ask for.
    for await (const chunk of this.stream(state, offset, length, signal, undefined, false)) {
      out.set(chunk, pos);
      pos += chunk.length;
      chunkPool.give(chunk);
    }
    return out;
  }

  async *stream(
    state: SourceState,
    offset: number,
    length: number,
    signal?: AbortSignal,
    stats?: StreamStats,
    mayReadAhead = true,
  ): AsyncGenerator<Uint8Array> {
    checkRange(offset, length, state.size);
    if (length === 0) return;
    signal?.throwIfAborted();
    const { blockSize, chunkBytes, readsInFlight } = this.deps;
    const end = offset + length;
    const fetches = new StreamFetches(signal);
    const innerSignal = fetches.signal;
    const sequential = mayReadAhead && state.recentEnds.continues(offset);
    let completed = false;
    try {
      const queue: Promise<Uint8Array>[] = [];
      let next = offset;
      let pin: Pin | undefined;
      const issue = () => {
        const index = Math.floor(next / blockSize);
        const inBlock = next - index * blockSize;
        const len = Math.min(chunkBytes - (inBlock % chunkBytes), blockLength(state, blockSize, index) - inBlock, end - next);
        if (pin === undefined || pin.index !== index) {
          if (pin) this.unpin(pin);
          this.onBlockStart(state, index, end, sequential, innerSignal, stats);
          pin = { index, opened: this.openBlock(state, index, innerSignal), reads: 0, unpinned: false };
        }
        const p = this.readChunk(state, pin, inBlock, len, innerSignal);
        p.catch(() => {}); // awaited in order below; this only silences early rejections
        queue.push(p);
        next += len;
      };
      try {
        while (next < end && queue.length < readsInFlight) issue();
        while (queue.length > 0) {
          const chunk = await queue.shift()!;
          if (next < end) issue();
          signal?.throwIfAborted();
          yield chunk;
        }
      } finally {
        if (pin) this.unpin(pin);
        // Chunks read but never yielded: nobody else holds them.
        for (const p of queue)
          p.then(
            (c) => chunkPool.give(c),
            () => {},
          );
      }
      completed = true;
      state.recentEnds.note(end);
    } finally {
      fetches.end(completed);
    }
  }

  /**
   * Like `stream`, for a writer that sends files itself: each block on disk is one span of its
   * file (its lease goes with the span), each missed block its fetched bytes. Nothing is read
   * into memory for blocks on disk; readahead and counting are `stream`'s.
   */
  async *spans(state: SourceState, offset: number, length: number, signal?: AbortSignal, stats?: StreamStats): AsyncGenerator<Chunk> {
    checkRange(offset, length, state.size);
    if (length === 0) return;
    signal?.throwIfAborted();
    const { blockSize } = this.deps;
    const end = offset + length;
    const fetches = new StreamFetches(signal);
    const innerSignal = fetches.signal;
    const sequential = state.recentEnds.continues(offset);
    let completed = false;
    try {
      for (let at = offset; at < end; ) {
        const index = Math.floor(at / blockSize);
        const inBlock = at - index * blockSize;
        const len = Math.min(blockLength(state, blockSize, index) - inBlock, end - at);
        this.onBlockStart(state, index, end, sequential, innerSignal, stats);
        const opened = await this.openBlock(state, index, innerSignal);
        if (signal?.aborted) {
          if ('lease' in opened) opened.lease.release();
          signal.throwIfAborted();
        }
        if ('lease' in opened) yield fileSpan(opened.lease.handle.fd, inBlock, len, () => opened.lease.release());
        else yield opened.bytes.subarray(inBlock, inBlock + len);
        at += len;
      }
      completed = true;
      state.recentEnds.note(end);
    } finally {
      fetches.end(completed);
    }
  }

  /**
   * What `spans` yields for a range in at most MAX_BLOCKS_AT_ONCE blocks whose files are open here
   * and trusted already (the common small range: a BMC's next 256 KiB of a block it just read),
   * handed out without the generator, its awaits and the descriptor cache's promise: on random
   * 256 KiB ranges those were a tenth of the serving thread. Counts and reads ahead as `spans`
   * does. Undefined, with nothing held or counted, when any of that does not hold: then `spans`,
   * which waits for what is missing.
   */
  spansNow(state: SourceState, offset: number, length: number, stats?: StreamStats): FileSpan[] | undefined {
    const { blockSize, index: blocks, writer } = this.deps;
    const parts = blockParts(offset, length, state.size, blockSize, MAX_BLOCKS_AT_ONCE);
    if (!parts) return undefined;
    const spans = spansOfParts(parts, (part) => {
      const block = blocks.get(blockKey(state.vk, part.index));
      return block?.length === part.blockLen ? blocks.openNow(block, writer.writesEnabled()) : undefined;
    });
    if (!spans) return undefined;
    const end = offset + length;
    const sequential = state.recentEnds.continues(offset);
    for (const part of parts) this.onBlockStart(state, part.index, end, sequential, neverAborted, stats);
    state.recentEnds.note(end);
    return spans;
  }

  /**
   * Block `index` on disk for a reader in another process (a cluster worker, which reads block
   * files itself): the CRC and length that name its file once the file is there and checked by
   * this process, fetching it first if it is missing. Its bytes only when the cache could not keep
   * it (budget taken by writes in flight, disk full, a version being dropped). A block on disk is
   * not read here (beyond its first check), and a fetched one is not copied.
   */
  async ensure(state: SourceState, index: number, signal?: AbortSignal): Promise<BlockOnDisk | { readonly bytes: Uint8Array }> {
    if (!Number.isSafeInteger(index) || index < 0 || index >= state.blockCount) throw new RangeError(`block ${index} is outside the image`);
    const onDisk = async (): Promise<BlockOnDisk | undefined> => {
      const found = await this.openOnDisk(state, index);
      if (!found) return undefined;
      found.lease.release();
      return { crc: found.block.crc, length: found.block.length };
    };
    const found = await onDisk();
    if (found) {
      this.deps.counters.hits++;
      return found;
    }
    this.deps.counters.misses++;
    const bytes = await this.deps.flights.joinStored(state, index, signal);
    return (await onDisk()) ?? { bytes };
  }

  /** Counts a hit or miss for the block and starts readahead past it. */
  private onBlockStart(
    state: SourceState,
    index: number,
    streamEnd: number,
    sequential: boolean,
    signal: () => AbortSignal | undefined,
    stats?: StreamStats,
  ): void {
    const { blockSize, readahead, index: blocks, flights, writer, counters } = this.deps;
    if (blocks.has(blockKey(state.vk, index))) {
      counters.hits++;
      if (stats) stats.hits++;
    } else {
      counters.misses++;
      if (stats) {
        stats.misses++;
        stats.upstreamBytes += blockLength(state, blockSize, index);
      }
    }
    if (readahead === 0 || !writer.writesEnabled() || !state.upstream.supportsRanges) return;
    const streamLastBlock = Math.floor((streamEnd - 1) / blockSize);
    // Inside the stream, read ahead always; past its end only for sequential readers.
    const limit = Math.min(state.blockCount - 1, sequential ? index + readahead : Math.min(streamLastBlock, index + readahead));
    for (let b = index + 1; b <= limit; b++) {
      const key = blockKey(state.vk, b);
      if (blocks.has(key) || flights.has(key)) continue;
      flights.join(state, b, signal()).catch(() => {});
    }
  }

  /**
   * A read within one block that is not on disk, copied from the block's upstream fetch: shared
   * with every reader of the block, and aborted when the last of them goes, as a stream's is.
   * Indexing a never-seen base reads some 1,600 sectors from blocks still being fetched or
   * written, and each went through a stream of its own (a fetch controller and its signal, a
   * generator, pool memory): 300-400 ms of a cold PUT spent there. Undefined for a read across
   * blocks, or of a block on disk (the stream reads its file).
   */
  private async readFetched(state: SourceState, offset: number, length: number, signal: AbortSignal | undefined): Promise<Uint8Array | undefined> {
    const { blockSize, index: blocks, flights, counters } = this.deps;
    const index = Math.floor(offset / blockSize);
    if (length === 0 || Math.floor((offset + length - 1) / blockSize) !== index || blocks.has(blockKey(state.vk, index))) return undefined;
    // A reader that has gone already joins nothing: its join would start a fetch and abort it.
    signal?.throwIfAborted();
    counters.misses++;
    const bytes = await flights.join(state, index, signal);
    const at = offset - index * blockSize;
    // A copy, as every read gives: metadata readers may keep or patch what they get.
    return Uint8Array.prototype.slice.call(bytes, at, at + length);
  }

  /** A block's bytes in memory, read whole through the index's check; undefined when not on disk. */
  private async wholeBlock(state: SourceState, index: number): Promise<Uint8Array | undefined> {
    const { index: blocks, writer, blockSize } = this.deps;
    const block = blocks.get(blockKey(state.vk, index));
    if (!block || block.length !== blockLength(state, blockSize, index)) return undefined;
    const lease = await blocks.open(block, writer.writesEnabled());
    if (!lease) return undefined;
    try {
      const bytes = Buffer.allocUnsafe(block.length);
      return (await readFully(lease.handle, bytes, 0)) === block.length ? bytes : undefined;
    } finally {
      lease.release();
    }
  }

  /** One chunk of a pinned block: a view of its bytes, or read from its file into pool memory. */
  private async readChunk(state: SourceState, pin: Pin, inBlock: number, len: number, signal: () => AbortSignal): Promise<Uint8Array> {
    pin.reads++;
    try {
      const opened = await pin.opened;
      if ('bytes' in opened) return opened.bytes.subarray(inBlock, inBlock + len);
      const out = chunkPool.take(len, this.deps.chunkBytes);
      const done = await readFully(opened.lease.handle, out, inBlock).catch(() => -1);
      if (done === len) return out;
      chunkPool.give(out);
      // Cut short or unreadable since it was opened: it is checked again on its next open (and
      // dropped); this chunk comes from upstream.
      const bytes = await this.deps.flights.join(state, pin.index, signal());
      return bytes.subarray(inBlock, inBlock + len);
    } finally {
      pin.reads--;
      if (pin.unpinned && pin.reads === 0) this.release(pin);
    }
  }

  /** The stream has moved past the pin: its file goes back once its reads have settled. */
  private unpin(pin: Pin): void {
    if (pin.unpinned) return;
    pin.unpinned = true;
    if (pin.reads === 0) this.release(pin);
  }

  private release(pin: Pin): void {
    pin.opened.then(
      (o) => {
        if ('lease' in o) o.lease.release();
      },
      () => {},
    );
  }

  /** The block: its file, open and known good, or its bytes from upstream. */
  private async openBlock(
    state: SourceState,
    index: number,
    signal: () => AbortSignal,
  ): Promise<{ readonly lease: FdLease } | { readonly bytes: Uint8Array }> {
    const found = await this.openOnDisk(state, index);
    return found ? { lease: found.lease } : { bytes: await this.deps.flights.join(state, index, signal()) };
  }

  /** The block's file, open and known good; undefined when it is not on disk (one of the wrong length is dropped). */
  private async openOnDisk(state: SourceState, index: number): Promise<{ readonly block: Block; readonly lease: FdLease } | undefined> {
    const { blockSize, index: blocks, writer } = this.deps;
    const block = blocks.get(blockKey(state.vk, index));
    if (!block) return undefined;
    if (block.length !== blockLength(state, blockSize, index)) {
      blocks.drop(block, 'block length does not match the image');
      return undefined;
    }
    const lease = await blocks.open(block, writer.writesEnabled());
    return lease ? { block, lease } : undefined;
  }
}
