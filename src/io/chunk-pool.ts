// Reusable memory for the chunks a transfer streams. Every chunk read from a block file used to be
// a fresh Buffer of up to a chunk's size; at a gigabyte per second that is a gigabyte of external
// memory per second for V8 to account for, and it answered with full garbage collections that
// cost as much CPU as the reads themselves. A chunk from `take` is a view of a slab that goes back
// to the pool when its consumer is done with it (`give`): after its socket write completed, or
// after it was copied.
//
// The contract is one-sided on purpose. A consumer that never gives a chunk back loses nothing
// (the slab is garbage like any buffer). `give` accepts only a chunk whose slab this pool handed
// out and has not had back, once: giving a shared view (a block fetched from upstream, a patch's
// bytes, the zero chunk) or giving twice does nothing. What a consumer must not do is give a chunk
// back and then use it, or give back a chunk another consumer still holds; a cache stream yields
// each slab once, as one chunk, to one consumer.

export class ChunkPool {
  /** Free slabs by size. */
  private readonly free = new Map<number, Buffer[]>();
  private freeTotal = 0;
  /** Slabs handed out and not given back, by their memory. Weak: a slab never given back is garbage. */
  private readonly out = new WeakMap<ArrayBufferLike, Buffer>();

  /**
   * @param maxFreeBytes bytes of free slabs kept, all sizes together; slabs given back past it are
   *   dropped (a bound on what the pool holds between waves, whatever chunk sizes a wave used).
   */
  constructor(private readonly maxFreeBytes: number) {}

  /** `length` bytes of uninitialized memory, a view of a slab of `slabBytes` (≥ length). */
  take(length: number, slabBytes: number): Buffer {
    const size = Math.max(length, slabBytes);
    let slab = this.free.get(size)?.pop();
    if (slab) this.freeTotal -= size;
    else slab = Buffer.allocUnsafeSlow(size);
    this.out.set(slab.buffer, slab);
    return length === size ? slab : slab.subarray(0, length);
  }

  /** Takes back the slab of a chunk from `take`; anything else is ignored. */
  give(chunk: Uint8Array): void {
    const slab = this.out.get(chunk.buffer);
    if (!slab) return;
    this.out.delete(chunk.buffer);
    let list = this.free.get(slab.length);
    if (!list) {
      list = [];
      this.free.set(slab.length, list);
    }
    if (this.freeTotal + slab.length > this.maxFreeBytes) return;
    list.push(slab);
    this.freeTotal += slab.length;
  }

  /** Bytes held by free slabs (for tests and /metrics). */
  get freeBytes(): number {
    return this.freeTotal;
  }
}

/**
 * The process's pool: chunk streams take from it, the HTTP writer gives back. It keeps at most
 * 8 MiB of free slabs (32 chunks of 256 KiB, or four 2 MiB blocks being checked) however many
 * transfers ran at once.
 */
export const chunkPool = new ChunkPool(8 * 1024 * 1024);
