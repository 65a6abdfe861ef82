// Reading through the cache: `stream` yields a range in aligned chunks with a few reads in flight,
// `read` copies a range into one buffer (metadata readers). A stream opens each block once (a pin):
// every chunk of that block reads the same descriptor, or the same bytes in memory on a miss, and
// the pin is released after the stream's last chunk of the block. A descriptor outlives an eviction
// (the file is unlinked, the open descriptor still reads it). Sequential readers (a stream starting
// where a recent one ended, or at 0) read ahead past their end; others only inside their range.

import { checkRange } from '../byte-source.js';
import { readFully } from '../io/read-fully.js';
import type { BlockIndex } from './block-index.js';
import type { BlockWriter } from './block-writer.js';
import type { FdCache, FdLease } from './fd-cache.js';
import type { Flights } from './flights.js';
import { blockKey, blockLength, type Block, type Counters, type SourceState } from './parts.js';

/** Where recent stream ends are remembered, per base version. */
const RECENT_ENDS = 32;

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
  readonly fds: FdCache;
  readonly counters: Counters;
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

export class BlockStreams {
  constructor(private readonly deps: StreamDeps) {}

  async read(state: SourceState, offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
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
    // One controller for everything this stream started: aborted when the caller aborts or stops
    // early, left alone when the stream completes (its readahead then finishes for the next reader).
    const inner = new AbortController();
    const onAbort = () => inner.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const sequential = mayReadAhead && (offset === 0 || state.recentEnds.includes(offset));
    let completed = false;
    // Only pins still open: a pin holds its block (a whole block in memory on a miss), so a long
    // stream must not keep the pins of blocks it has passed.
    const pins = new Set<Pin>();
    try {
      const queue: Promise<Uint8Array>[] = [];
      let next = offset;
      let pin: Pin | undefined;
      const issue = () => {
        const index = Math.floor(next / blockSize);
        const inBlock = next - index * blockSize;
        const len = Math.min(chunkBytes - (inBlock % chunkBytes), blockLength(state, blockSize, index) - inBlock, end - next);
        if (pin === undefined || pin.index !== index) {
          if (pin) {
            this.unpin(pin, false);
            pins.delete(pin);
          }
          this.onBlockStart(state, index, end, sequential, inner.signal, stats);
          pin = { index, handle: this.openBlock(state, index, inner.signal), pending: 0, closed: false, released: false };
          pin.handle.catch(() => {});
          pins.add(pin);
        }
        const p = this.readPinned(state, pin, inBlock, len, inner.signal);
        p.catch(() => {}); // awaited in order below; this only silences early rejections
        queue.push(p);
        next += len;
      };
      while (next < end && queue.length < readsInFlight) issue();
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
      flights.join(state, b, signal).catch(() => {});
    }
  }

  /** An open block file, or the block's bytes in memory (a fetch, or a first-use verification). */
  private async openBlock(state: SourceState, index: number, signal: AbortSignal): Promise<BlockHandle> {
    const { blockSize, index: blocks, writer, fds, flights } = this.deps;
    const block = blocks.get(blockKey(state.vk, index));
    if (block) {
      if (block.length !== blockLength(state, blockSize, index)) {
        blocks.drop(block, 'block length does not match the image');
      } else if (!block.verified) {
        const whole = await blocks.verify(block, writer.writesEnabled());
        if (whole) return { bytes: whole };
      } else {
        try {
          return { block, lease: await fds.acquire(block.path) };
        } catch {
          blocks.drop(block, 'block file missing');
        }
      }
    }
    return { bytes: await flights.join(state, index, signal) };
  }

  private async readPinned(state: SourceState, pin: Pin, inBlock: number, len: number, signal: AbortSignal): Promise<Uint8Array> {
    pin.pending++;
    try {
      const h = await pin.handle;
      if (h.bytes) return h.bytes.subarray(inBlock, inBlock + len);
      const out = Buffer.allocUnsafe(len);
      let done: number;
      try {
        done = await readFully(h.lease!.handle, out, inBlock);
      } catch (err) {
        this.deps.index.drop(h.block!, `block read failed: ${(err as Error).message}`);
        done = -1;
      }
      if (done === len) return out;
      if (done >= 0) this.deps.index.drop(h.block!, 'block file short');
      // The file let us down mid-stream: this chunk comes from upstream instead.
      const data = await this.deps.flights.join(state, pin.index, signal);
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
}
