// Writing fetched blocks to disk: atomically (a temporary file, then rename, so a crash leaves the
// whole block or a *.tmp file that the next start removes), within the byte budget, and never
// failing a reader: a full disk pauses writes for a while, an unwritable directory stops them, and
// the cache serves misses straight from upstream meanwhile (degraded, logged once).
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

const WRITE_PAUSE_MS = 30_000;
/** Rounds of waiting for unlinks before a write gives up its place (others keep evicting too). */
const MAX_UNLINK_WAITS = 4;

export class BlockWriter {
  /** Bytes of blocks being written now, not yet in the index. */
  private reservedBytes = 0;
  private writable = true;
  private writesPausedUntil = 0;
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
  ) {}

  /** Makes the directory and checks it is writable; false (and degraded) when it is not. */
  async start(): Promise<boolean> {
    try {
      await mkdir(this.dir, { recursive: true });
      const probe = join(this.dir, `.probe-${process.pid}.tmp`);
      await writeFile(probe, 'ok');
      await unlink(probe);
    } catch (err) {
      this.writable = false;
      this.warnOnce('unwritable', { dir: this.dir, err: (err as Error).message }, 'cache directory unwritable: serving misses straight from upstream');
    }
    return this.writable;
  }

  /** Writes are refused from now on (the cache is closing). */
  close(): void {
    this.closed = true;
  }

  writesEnabled(): boolean {
    return this.writable && !this.closed && (this.writesPausedUntil === 0 || Date.now() >= this.writesPausedUntil);
  }

  get degraded(): boolean {
    return !this.writesEnabled();
  }

  /** Writes a fetched block atomically and indexes it, if the budget has room. Never throws. */
  async persist(state: SourceState, index: number, bytes: Uint8Array): Promise<void> {
    const key = blockKey(state.vk, index);
    if (!this.writesEnabled() || bytes.length > this.budget || this.index.has(key)) return;
    if (!(await this.reserve(bytes.length))) {
      this.logger?.debug({ block: index, reservedBytes: this.reservedBytes }, 'block not cached: the budget is taken by writes in flight');
      return;
    }
    try {
      if (this.writesEnabled() && !this.index.has(key)) await this.writeBlock(state, index, key, bytes);
    } finally {
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
    const existing = this.index.peek(key);
    if (existing) {
      // Same key, same bytes, so normally the same name (rename replaced it in place).
      if (existing.path !== path) this.tasks.track(unlink(path).catch(() => {}));
      return;
    }
    this.index.add({ key, path, length: bytes.length, crc, verified: true, touched: true });
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
