// Writing fetched blocks to disk: atomically (a temporary file, then rename, so a crash leaves the
// whole block or a *.tmp file that the next start removes), within the byte budget, and never
// failing a reader: a full disk or an unwritable directory makes the cache degraded (logged once):
// it serves misses straight from upstream and writes nothing. Degraded is not for good: after
// `retryMs` the next block to persist is written as a probe (one at a time); if it lands, the
// cache is writable again (logged) and `degraded` clears, else the wait starts over.
//
// The budget bounds the disk, not only the index. At every instant
//   indexed blocks + blocks being unlinked + reservations of writes in flight <= budget,
// and a write reserves its block's bytes before its temporary file exists and releases them only
// after the file is renamed into the index or removed. So the files in the cache directory (blocks
// and temporary files) never total more than the budget, however many writes run at once and
// however slow the disk is. Room is made by evicting least recently used blocks; an evicted
// block's bytes count until its unlink has finished. A write that finds no room (the rest of the
// budget is reserved by other writes in flight) is skipped: its readers already have the bytes,
// and the block is fetched again when next needed. What the directory listing cannot show: a
// block evicted while a reader is inside its read keeps its disk space until that read ends.

import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { LoggerLike } from '../upstream/types.js';
import { blockFileName } from './block-file.js';
import type { BlockIndex } from './block-index.js';
import { blockKey, type Counters, type SourceState, type Tasks } from './parts.js';

/** Rounds of waiting for unlinks before a write gives up its place (others keep evicting too). */
const MAX_UNLINK_WAITS = 4;

export class BlockWriter {
  /** Bytes of blocks being written now, not yet in the index. */
  private reservedBytes = 0;
  /** Why writes stopped, or undefined while they work. */
  private trouble: 'unwritable' | 'full' | undefined;
  /** When degraded: the time after which one write may try again. */
  private retryAt = 0;
  /** A write is trying the disk again: the others wait for its verdict. */
  private probing = false;
  private tmpSeq = 0;
  private closed = false;
  private readonly madeDirs = new Set<string>();
  private readonly warned = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly budget: number,
    private readonly index: BlockIndex,
    private readonly counters: Counters,
    private readonly tasks: Tasks,
    private readonly logger: LoggerLike | undefined,
    private readonly retryMs: number,
  ) {}

  /** Makes the directory and checks it is writable; false (and degraded) when it is not. */
  async start(): Promise<boolean> {
    try {
      await mkdir(this.dir, { recursive: true });
      const probe = join(this.dir, `.probe-${process.pid}.tmp`);
      await writeFile(probe, 'ok');
      await unlink(probe);
    } catch (err) {
      this.degrade('unwritable', err as NodeJS.ErrnoException);
    }
    return this.trouble === undefined;
  }

  /** Writes are refused from now on (the cache is closing). */
  close(): void {
    this.closed = true;
  }

  /** True when a write would be attempted now (for readahead and fills: no point without one). */
  writesEnabled(): boolean {
    if (this.closed) return false;
    return this.trouble === undefined || (!this.probing && Date.now() >= this.retryAt);
  }

  /** True while misses are served without writing to disk. */
  get degraded(): boolean {
    return this.closed || this.trouble !== undefined;
  }

  /** Writes a fetched block atomically and indexes it, if the budget has room. Never throws. */
  async persist(state: SourceState, index: number, bytes: Uint8Array): Promise<void> {
    const key = blockKey(state.vk, index);
    if (state.dropped || !this.writesEnabled() || bytes.length > this.budget || this.index.has(key)) return;
    if (!(await this.reserve(bytes.length))) {
      this.logger?.debug({ block: index, reservedBytes: this.reservedBytes }, 'block not cached: the budget is taken by writes in flight');
      return;
    }
    let probe = false;
    try {
      if (!this.writesEnabled() || this.index.has(key)) return;
      // Degraded and the wait is over: this write is the probe, and the others skip until it ends.
      probe = this.trouble !== undefined;
      if (probe) this.probing = true;
      const ok = await this.writeBlock(state, index, key, bytes);
      // Only the probe's verdict counts: a write begun before the trouble may still land after it.
      if (ok && probe && this.trouble !== undefined) this.recover();
    } finally {
      if (probe) this.probing = false;
      this.reservedBytes -= bytes.length;
    }
  }

  /** Everything that holds (or is about to hold) disk in the directory. */
  private committedBytes(): number {
    return this.index.bytesUsed + this.index.unlinkingBytes + this.reservedBytes;
  }

  /**
   * Reserves `n` bytes of the budget: evicts just enough blocks, then waits for their unlinks if
   * that is what stands between us and the room. False when there is no room to be had.
   */
  private async reserve(n: number): Promise<boolean> {
    let excess = this.committedBytes() + n - this.budget;
    while (excess > 0 && this.index.blocks > 0) excess -= this.index.evictOne();
    for (let waits = 0; this.committedBytes() + n > this.budget; waits++) {
      // Nothing left to unlink: the room is held by other writes in flight.
      if (this.index.unlinkingBytes === 0 || waits >= MAX_UNLINK_WAITS) return false;
      await this.index.unlinksSettled();
    }
    this.reservedBytes += n;
    return true;
  }

  /** True when the block is on disk (written now, or found there). */
  private async writeBlock(state: SourceState, index: number, key: string, bytes: Uint8Array): Promise<boolean> {
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
      // The directory may have gone with the trouble: make it again on the next attempt.
      this.madeDirs.delete(state.dir);
      this.writeFailed(err as NodeJS.ErrnoException);
      return false;
    }
    // Indexed even when closing: a file on disk outside the index would escape the budget.
    const existing = this.index.peek(key);
    if (existing) {
      // Same key, same bytes, so normally the same name (rename replaced it in place).
      if (existing.path !== path) this.tasks.track(unlink(path).catch(() => {}));
      return true;
    }
    this.index.add({ key, vk: state.vk, path, length: bytes.length, crc, touched: true, check: {} });
    return true;
  }

  private writeFailed(err: NodeJS.ErrnoException): void {
    this.counters.errors++;
    // The disk may free up (our own evictions, other tenants), a directory may be remounted
    // writable or get its permissions back: either way, try again later.
    this.degrade(err.code === 'ENOSPC' || err.code === 'EDQUOT' ? 'full' : 'unwritable', err);
  }

  private degrade(kind: 'unwritable' | 'full', err: NodeJS.ErrnoException): void {
    this.trouble = kind;
    this.retryAt = Date.now() + this.retryMs;
    if (kind === 'full')
      this.warnOnce('full', { dir: this.dir, code: err.code }, 'cache disk full: serving misses straight from upstream for a while');
    else
      this.warnOnce(
        'unwritable',
        { dir: this.dir, code: err.code, err: err.message },
        'cache directory unwritable: serving misses straight from upstream',
      );
  }

  private recover(): void {
    this.logger?.info({ dir: this.dir, was: this.trouble }, 'cache directory writable again: caching blocks');
    this.trouble = undefined;
    // A later episode is news again.
    this.warned.clear();
  }

  private warnOnce(kind: string, obj: object, msg: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.logger?.warn(obj, msg);
  }
}
