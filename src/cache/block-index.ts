// The index of the block cache: which blocks are on disk, in LRU order, bounded by the byte budget.
// Evicting or dropping a block unlinks its file (tracked, so close() waits for it). At start the
// index is rebuilt from the directory: temporary files of interrupted writes are removed and short
// files dropped.
//
// Trust boundary (checked-file.ts): no byte of a block file is served before the whole block has
// been read and its CRC-32 (in its name) checked by this process, whoever wrote it, and again after
// any change to the file (its ctime): a file corrupted while the process runs is dropped and
// fetched again, never served. Between changes, an open costs one fstat and reads only the bytes
// a stream asks for.

import { readdir, rm, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { LRUCache } from 'lru-cache';
import type { LoggerLike } from '../upstream/types.js';
import { isTempFileName, parseBlockFileName, parseVersionDirName } from './block-file.js';
import { checkWhole, fileState, openCheckedNow, recordCheck, SETTLE_MS, stillChecked } from './checked-file.js';
import type { FdCache, FdLease } from './fd-cache.js';
import { blockKey, SourceTally, type Block, type Counters, type Tasks } from './parts.js';

/** A block file's mtime is its recency across restarts; refreshing it more often buys nothing. */
const TOUCH_AFTER_MS = 60 * 60 * 1000;

export class BlockIndex {
  private readonly lru: LRUCache<string, Block>;
  /** Whole-file checks under way, by key: concurrent opens of one changed file share one. */
  private readonly checking = new Map<string, Promise<string | undefined>>();
  /** Unlinks of evicted or dropped blocks under way: their bytes are still on disk. */
  private readonly unlinks = new Set<Promise<void>>();
  private unlinkBytes = 0;
  /** Per base version: bytes of its blocks indexed here (kept below) and fetched from upstream (by the fetches). */
  readonly tally = new SourceTally();
  /** Blocks whose last check was provisional, by key: checked again once that is over. */
  private readonly settling = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly budget: number,
    private readonly blockSize: number,
    private readonly fds: FdCache,
    private readonly counters: Counters,
    private readonly tasks: Tasks,
    private readonly logger: LoggerLike | undefined,
  ) {
    this.lru = new LRUCache<string, Block>({
      maxSize: Math.max(1, budget),
      sizeCalculation: (b) => Math.max(1, b.length),
      dispose: (block, _key, reason) => {
        if (reason === 'evict') this.counters.evictions++;
        this.tally.addCached(block.vk, -block.length);
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

  /**
   * Marks a block most recently used without opening it: another process (a cluster worker)
   * read its file. Unknown keys (evicted meanwhile, never written) change nothing. The file's
   * mtime is bumped as `open` bumps it (the first time, when over an hour old): in a cluster
   * every serving read is reported here, and without it a restart ranked blocks by when they were
   * fetched, so a base read all day but fetched first would be evicted first.
   */
  touch(key: string): void {
    const block = this.lru.get(key);
    if (!block || block.touched || this.closed) return;
    block.touched = true;
    this.tasks.track(bumpMtime(block.path));
  }

  peek(key: string): Block | undefined {
    return this.lru.peek(key);
  }

  /** A block just written: indexed, and checked in the background once its write is a second old. */
  add(block: Block): void {
    if (this.lru.peek(block.key) === block) return; // already counted
    this.lru.set(block.key, block);
    this.counted(block);
    this.settleLater(block);
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
      const block: Block = { key: blockKey(vk, bn.index), vk, path, length: bn.lengthBytes, crc: bn.crc, touched: false, check: {} };
      found.push({ block, mtimeMs: st.mtimeMs });
    }
    return found;
  }

  /**
   * The block's file, open and known good: read and checked in full first when this process has
   * not checked it since its last change, else just opened (one fstat). Undefined (and the block
   * dropped) when the file is missing, short, corrupt or unlinked. `touch` bumps the file's mtime
   * the first time when it is over an hour old, so a restart keeps the recency order. The caller releases the lease.
   */
  async open(block: Block, touch: boolean): Promise<FdLease | undefined> {
    let lease: FdLease;
    try {
      lease = await this.fds.acquire(block.path);
    } catch {
      this.drop(block, 'block file missing');
      return undefined;
    }
    try {
      let st = fileState(lease.handle);
      if (!block.touched && touch) {
        block.touched = true;
        // A touch is a change (ctime): the check after it is provisional for a second, then made
        // again. Files used within the last hour keep their order without one.
        if (Date.now() - st.mtimeMs > TOUCH_AFTER_MS) {
          const now = new Date();
          await lease.handle.utimes(now, now).catch(() => {});
          st = fileState(lease.handle);
        }
      }
      if (st.identity === undefined) {
        this.drop(block, 'block file removed');
        lease.release();
        return undefined;
      }
      if (stillChecked(block.check, st, block.length)) return lease;
      const bad = await this.checkShared(block, lease);
      if (bad) {
        this.drop(block, bad);
        lease.release();
        return undefined;
      }
      recordCheck(block.check, st, block.length);
      if (!block.check.settled) this.settleLater(block);
      return lease;
    } catch (err) {
      this.drop(block, `block read failed: ${(err as Error).message}`);
      lease.release();
      return undefined;
    }
  }

  /**
   * `open` without waiting, when it would need no wait: the file already open here, checked since
   * its last change and needing no touch. Undefined otherwise (call `open`).
   */
  openNow(block: Block, touch: boolean): FdLease | undefined {
    if (touch && !block.touched) return undefined;
    return openCheckedNow(this.fds, block.path, block.check, block.length);
  }

  /**
   * Checks a block just written, or checked only provisionally, once its last change is a second
   * old, off any request: else the first reader after that second (a BMC's next range in a cold
   * wave, every block of a freshly filled cache) read and checked the whole block before its
   * bytes went out, and a block written and read at once was read whole twice on the way. The
   * check is the one an open makes (shared with one under way, at most a few at once).
   */
  private settleLater(block: Block): void {
    if (this.closed || this.settling.has(block.key)) return;
    const timer = setTimeout(() => {
      this.settling.delete(block.key);
      if (this.closed || this.lru.peek(block.key) !== block) return;
      this.tasks.track(this.open(block, false).then((lease) => lease?.release()));
    }, SETTLE_MS + 50);
    timer.unref();
    this.settling.set(block.key, timer);
  }

  /** No more checks in the background. */
  close(): void {
    this.closed = true;
    for (const timer of this.settling.values()) clearTimeout(timer);
    this.settling.clear();
  }

  private checkShared(block: Block, lease: FdLease): Promise<string | undefined> {
    let p = this.checking.get(block.key);
    if (!p) {
      p = checkWhole(lease.handle, block.length, block.crc).finally(() => this.checking.delete(block.key));
      this.checking.set(block.key, p);
    }
    return p;
  }
}

/** Sets a block file's mtime to now when it is over TOUCH_AFTER_MS old (a file gone meanwhile is left alone). */
async function bumpMtime(path: string): Promise<void> {
  try {
    if (Date.now() - (await stat(path)).mtimeMs <= TOUCH_AFTER_MS) return;
    const now = new Date();
    await utimes(path, now, now);
  } catch {
    // Evicted or dropped meanwhile: nothing to rank.
  }
}
