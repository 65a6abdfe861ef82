// Small reads served from whole blocks in memory. Indexing a base reads thousands of 2 KiB sectors
// one after another (directory records, boot configs, the FAT image's tables), mostly from its
// first blocks; through a block file each would cost an fstat and a thread-pool round trip. A few
// whole blocks kept here turn them into copies. Used by the cache (block-stream.ts) and by cluster
// workers' view of it (src/cluster/remote-cache.ts).

import { LRUCache } from 'lru-cache';

/** Blocks kept; 8 MiB at 2 MiB blocks. */
const BLOCKS = 4;
/**
 * A block unused this long is dropped. Indexing a base reads its blocks within a second or so;
 * kept for good, they were 8 MiB in every process of a cluster through a whole wave.
 */
export const SMALL_READ_IDLE_MS = 10_000;
/** Reads up to this size are served from a whole block. */
const SMALL_READ = 64 * 1024;

export class SmallReads {
  private readonly blocks: LRUCache<string, Promise<Uint8Array | undefined>>;

  constructor(
    private readonly blockSize: number,
    idleMs = SMALL_READ_IDLE_MS,
  ) {
    this.blocks = new LRUCache({
      max: BLOCKS,
      ttl: idleMs,
      updateAgeOnGet: true,
      // Dropped by (unreferenced) timers, not only at the next read: there may be none for hours.
      ttlAutopurge: true,
    });
  }

  /** Blocks held now. */
  get size(): number {
    return this.blocks.size;
  }

  /**
   * The bytes [offset, offset+length) of version `vk` (a copy), when the read is small and within
   * one block and `load` gives that block whole (bytes already checked); else undefined, for the
   * caller to read the ordinary way.
   */
  async read(vk: string, offset: number, length: number, load: (index: number) => Promise<Uint8Array | undefined>): Promise<Uint8Array | undefined> {
    const index = Math.floor(offset / this.blockSize);
    if (length <= 0 || length > SMALL_READ || Math.floor((offset + length - 1) / this.blockSize) !== index) return undefined;
    const key = `${vk}/${index}`;
    let p = this.blocks.get(key);
    if (!p) {
      p = load(index).catch(() => undefined);
      this.blocks.set(key, p);
    }
    const block = await p;
    if (!block) {
      if (this.blocks.get(key) === p) this.blocks.delete(key);
      return undefined;
    }
    // A copy (Buffer's slice would be a view): readers patch what they get, and the block stays.
    const at = offset - index * this.blockSize;
    const out = new Uint8Array(length);
    out.set(block.subarray(at, at + length));
    return out;
  }
}
