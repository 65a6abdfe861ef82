// Reading through the cache: `stream` yields a range in aligned chunks with a few reads in flight,
// `read` copies a range into one buffer (metadata readers). A stream opens each block once (a pin):
// the block's bytes in memory, read whole from its file and CRC-checked (block-index.ts says why),
// or fetched from upstream on a miss; every chunk of the block is a view of them, so an eviction
// while the stream reads changes nothing. A stream holds at most the pins of the blocks its reads
// in flight touch (two blocks, usually). Sequential readers (a stream starting where a recent one
// ended, or at 0) read ahead past their end; others only inside their range.

import { checkRange } from '../byte-source.js';
import type { BlockIndex } from './block-index.js';
import type { BlockWriter } from './block-writer.js';
import type { Flights } from './flights.js';
import { blockKey, blockLength, type Counters, type SourceState } from './parts.js';

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
  readonly counters: Counters;
}

/** A block a stream is reading: opened once for all its chunks. */
interface Pin {
  readonly index: number;
  readonly bytes: Promise<Uint8Array>;
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
    try {
      const queue: Promise<Uint8Array>[] = [];
      let next = offset;
      let pin: Pin | undefined;
      const issue = () => {
        const index = Math.floor(next / blockSize);
        const inBlock = next - index * blockSize;
        const len = Math.min(chunkBytes - (inBlock % chunkBytes), blockLength(state, blockSize, index) - inBlock, end - next);
        if (pin === undefined || pin.index !== index) {
          // The previous pin is let go: the chunks still queued hold views of its bytes.
          this.onBlockStart(state, index, end, sequential, inner.signal, stats);
          pin = { index, bytes: this.openBlock(state, index, inner.signal) };
        }
        const p = pin.bytes.then((b) => b.subarray(inBlock, inBlock + len));
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

  /** The block's bytes: from disk, checked against its CRC, or from upstream. */
  private async openBlock(state: SourceState, index: number, signal: AbortSignal): Promise<Uint8Array> {
    const { blockSize, index: blocks, writer, flights } = this.deps;
    const block = blocks.get(blockKey(state.vk, index));
    if (block) {
      if (block.length !== blockLength(state, blockSize, index)) {
        blocks.drop(block, 'block length does not match the image');
      } else {
        const checked = await blocks.open(block, writer.writesEnabled());
        if (checked) return checked;
      }
    }
    return flights.join(state, index, signal);
  }
}
