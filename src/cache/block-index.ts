// The index of the block cache: which blocks are on disk, in LRU order, bounded by the byte budget.
// Evicting or dropping a block unlinks its file (tracked, so close() waits for it). At start the
// index is rebuilt from the directory: temporary files of interrupted writes are removed and short
// files dropped.
//
// Trust boundary: no byte of a block file is served before the whole block has been read and its
// CRC-32 (in its name) checked, each time it is read from disk, whoever wrote it: a file corrupted
// while the process runs is dropped and fetched again, never served. The cost is one read of the
// whole block per open (from the page cache, usually) and a CRC-32 at memory speed, small beside
// sending the block. So that many small ranges of one block (metadata reads, BMCs reading 64 KiB
// at a time) do not each pay it, the last few checked blocks stay in memory (`hotBytes`) and are
// served from there: bytes that passed the check. Measured on a warm cache, per 32 MiB served:
// whole-image streams cost about the same CPU as trusting the files did; 64 KiB ranges cost less
// with the hot blocks (memory instead of a read per range) and about 26x more without them.

import { readdir, rm, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { LRUCache } from 'lru-cache';
import { readFully } from '../io/read-fully.js';
import type { LoggerLike } from '../upstream/types.js';
import { isTempFileName, parseBlockFileName, parseVersionDirName } from './block-file.js';
import type { FdCache } from './fd-cache.js';
import { blockKey, SourceTally, type Block, type Counters, type Tasks } from './parts.js';

export class BlockIndex {
  private readonly lru: LRUCache<string, Block>;
  private readonly verifying = new Map<string, Promise<Uint8Array | undefined>>();
  /** Recently checked blocks' bytes, by key. */
  private readonly hot: LRUCache<string, Uint8Array> | undefined;
  /** Unlinks of evicted or dropped blocks under way: their bytes are still on disk. */
  private readonly unlinks = new Set<Promise<void>>();
  private unlinkBytes = 0;
  /** Per base version: bytes of its blocks indexed here (kept below) and fetched from upstream (by the fetches). */
  readonly tally = new SourceTally();

  constructor(
    private readonly budget: number,
    private readonly blockSize: number,
    private readonly fds: FdCache,
    private readonly counters: Counters,
    private readonly tasks: Tasks,
    private readonly logger: LoggerLike | undefined,
    hotBytes: number,
  ) {
    this.hot =
      hotBytes >= blockSize ? new LRUCache<string, Uint8Array>({ maxSize: hotBytes, sizeCalculation: (b) => Math.max(1, b.length) }) : undefined;
    this.lru = new LRUCache<string, Block>({
      maxSize: Math.max(1, budget),
      sizeCalculation: (b) => Math.max(1, b.length),
      dispose: (block, _key, reason) => {
        if (reason === 'evict') this.counters.evictions++;
        this.tally.addCached(block.vk, -block.length);
        this.hot?.delete(block.key);
        this.fds.forget(block.path);
        // Its bytes count against the budget until the file is gone (block-writer.ts). Tracked so
        // close() waits for it: after close, the disk holds what the index said.
        this.unlinkBytes += block.length;
        const p = unlink(block.path)
          .catch(() => {})
          .finally(() => {
            this.unlinkBytes -= block.length;
            this.unlinks.delete(p);
          });
        this.unlinks.add(p);
        this.tasks.track(p);
      },
    });
  }

  get bytesUsed(): number {
    return this.lru.calculatedSize;
  }

  get blocks(): number {
    return this.lru.size;
  }

  /** Bytes of files the index let go of whose unlink has not finished: still on disk. */
  get unlinkingBytes(): number {
    return this.unlinkBytes;
  }

  /** Resolves when the unlinks under way now have finished. */
  async unlinksSettled(): Promise<void> {
    await Promise.allSettled([...this.unlinks]);
  }

  has(key: string): boolean {
    return this.lru.has(key);
  }

  /** The block, marked most recently used. */
  get(key: string): Block | undefined {
    return this.lru.get(key);
  }

  peek(key: string): Block | undefined {
    return this.lru.peek(key);
  }

  add(block: Block): void {
    if (this.lru.peek(block.key) === block) return; // already counted
    this.lru.set(block.key, block);
    this.counted(block);
  }

  /** Counts a block just set into the LRU, unless the LRU refused it (larger than the budget). */
  private counted(block: Block): void {
    if (this.lru.peek(block.key) === block) this.tally.addCached(block.vk, block.length);
  }

  /** Evicts the least recently used block: the bytes it frees once unlinked (0: index empty). */
  evictOne(): number {
    return this.lru.pop()?.length ?? 0;
  }

  /** A block turned out short, corrupt or missing: forget it and remove its file. */
  drop(block: Block, why: string): void {
    // Evicted meanwhile (its file unlinked by dispose): an ordinary race, not corruption.
    if (this.lru.peek(block.key) !== block) return;
    this.counters.errors++;
    this.logger?.warn({ path: block.path, why }, 'dropping cached block; it will be fetched again');
    this.lru.delete(block.key); // dispose closes and unlinks it
  }

  /** Forgets every block of a base version and removes its files (not counted as evictions). */
  dropVersion(vk: string): void {
    const prefix = blockKey(vk, 0).slice(0, -1);
    for (const key of [...this.lru.keys()]) if (key.startsWith(prefix)) this.lru.delete(key);
    this.tally.forget(vk);
  }

  /** Rebuilds the index from the files in `dir`. `writable` says whether stale files may be removed. */
  async rebuild(dir: string, writable: boolean): Promise<void> {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      return;
    }
    const found: { block: Block; mtimeMs: number }[] = [];
    for (const name of names) {
      const vdir = join(dir, name);
      if (isTempFileName(name)) {
        await unlink(vdir).catch(() => {});
        continue;
      }
      const parsed = parseVersionDirName(name);
      if (!parsed) continue; // not ours: leave it alone
      if (parsed.blockSize !== this.blockSize) {
        // Blocks of another block size can never be read again: free their disk.
        if (writable) await rm(vdir, { recursive: true, force: true }).catch(() => {});
        continue;
      }
      found.push(...(await this.scanVersionDir(vdir, parsed.versionKey)));
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
      this.counted(block);
    }
    this.counters.evictions = 0; // trimming at start is not an eviction of live data
    this.logger?.info({ dir, blocks: this.lru.size, bytesUsed: this.lru.calculatedSize }, 'block cache index rebuilt');
  }

  private async scanVersionDir(vdir: string, vk: string): Promise<{ block: Block; mtimeMs: number }[]> {
    let files: string[];
    try {
      files = (await readdir(vdir)).sort();
    } catch {
      return [];
    }
    const found: { block: Block; mtimeMs: number }[] = [];
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
      const block: Block = { key: blockKey(vk, bn.index), vk, path, length: bn.lengthBytes, crc: bn.crc, touched: false };
      found.push({ block, mtimeMs: st.mtimeMs });
    }
    return found;
  }

  /**
   * The bytes of a block, checked: from memory if it was checked lately, else read whole from its
   * file and checked against its length and CRC. Undefined (and the block dropped) when the file
   * is missing, short or corrupt. Concurrent opens of one block share one read. `touch` bumps the
   * file's mtime the first time, so a restart keeps the recency order.
   */
  async open(block: Block, touch: boolean): Promise<Uint8Array | undefined> {
    const hot = this.hot?.get(block.key);
    if (hot) return hot;
    let p = this.verifying.get(block.key);
    if (!p) {
      p = this.readChecked(block, touch).finally(() => this.verifying.delete(block.key));
      this.verifying.set(block.key, p);
    }
    const bytes = await p;
    // Still indexed (not evicted or dropped meanwhile): worth keeping at hand.
    if (bytes && this.hot && this.lru.peek(block.key) === block) this.hot.set(block.key, bytes);
    return bytes;
  }

  private async readChecked(block: Block, touch: boolean): Promise<Uint8Array | undefined> {
    let lease;
    try {
      lease = await this.fds.acquire(block.path);
    } catch {
      this.drop(block, 'block file missing');
      return undefined;
    }
    try {
      const whole = Buffer.allocUnsafe(block.length);
      const done = await readFully(lease.handle, whole, 0);
      if (done !== block.length || crc32(whole) >>> 0 !== block.crc) {
        this.drop(block, done !== block.length ? 'block file short' : 'block checksum mismatch');
        return undefined;
      }
      if (!block.touched && touch) {
        block.touched = true;
        const now = new Date();
        utimes(block.path, now, now).catch(() => {});
      }
      return whole;
    } catch (err) {
      this.drop(block, `block read failed: ${(err as Error).message}`);
      return undefined;
    } finally {
      lease.release();
    }
  }
}
