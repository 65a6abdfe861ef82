// When a block file's bytes are trusted. A block file is served only after its whole content
// matched the CRC-32 in its name; after that, it is trusted as long as the file is the same file,
// unchanged: same inode, same size, same ctime. Any write, truncation or metadata change sets a
// file's ctime to the current time, and no process can set it back (unlike mtime), so a file
// corrupted, cut short or replaced while the server runs is read and checked in full again
// before another byte of it is served. What this does not see is a change below the file system
// (a flipped bit on the medium): the trust the page cache and the disk get for any file.
//
// A check made less than a second after the file's last change is provisional: timestamps are
// coarse (a tick of a few milliseconds), so a write in the same tick as the check would leave the
// ctime as it was. Such a file is trusted until its change is a second old, then checked once
// more, in the background (block-index.ts), not on a reader's request. (Re-checking it on every
// open instead made the metadata reads at start, a few kilobytes each from a block the start had
// just touched, read and check the whole block each time.)
//
// The cost this saves: checking on every open read whole 2 MiB blocks to serve a 256 KiB range
// (8x the bytes, plus the CRC), the largest cost of small random ranges.

import { fstatSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { chunkPool } from '../io/chunk-pool.js';
import type { FdCache, FdLease } from './fd-cache.js';
import { readFully } from '../io/read-fully.js';

/** A change this recent may share its timestamp with a check made now. */
export const SETTLE_MS = 1000;

export interface FileState {
  /** inode:size:ctime, or undefined when the file is unlinked (nlink 0). */
  readonly identity: string | undefined;
  readonly size: number;
  /** The last change is old enough for a check made now to be trusted until the next change. */
  readonly settled: boolean;
  readonly mtimeMs: number;
}

/** What a process knows of a file it checked: the file's state at the check. */
export interface CheckRecord {
  identity?: string | undefined;
  /** The check was made when the file's last change was already a second old. */
  settled?: boolean;
}

/** Whether a file now in state `st` is the one checked, unchanged, and its check still counts. */
export function stillChecked(rec: CheckRecord, st: FileState, length: number): boolean {
  return st.identity !== undefined && st.size === length && rec.identity === st.identity && (rec.settled === true || !st.settled);
}

/** Records a successful check of a file that was in state `st` before it was read. */
export function recordCheck(rec: CheckRecord, st: FileState, length: number): void {
  rec.identity = st.size === length ? st.identity : undefined;
  rec.settled = st.settled;
}

/**
 * The state of an open file. fstat on an open descriptor reads the inode the kernel already holds:
 * a few microseconds, so it is made on the event loop; through the thread pool it cost a round
 * trip (about 0.1 ms of the serving thread) on every range request.
 */
export function fileState(handle: FileHandle): FileState {
  // Plain numbers, not BigInts: the BigInt form allocated 1.6 KB per range request (a field each),
  // a tenth of what the serving thread allocated. ctimeMs keeps the change time to a fraction of
  // a microsecond, far finer than the timestamps' tick; inode numbers and sizes are exact below
  // 2^53.
  const st = fstatSync(handle.fd);
  return {
    identity: st.nlink === 0 ? undefined : `${st.ino}:${st.size}:${st.ctimeMs}`,
    size: st.size,
    settled: Date.now() - st.ctimeMs >= SETTLE_MS,
    mtimeMs: st.mtimeMs,
  };
}

/**
 * The file at `path` when it is open in `fds` already and checked since its last change (one
 * fstat, no promise): a range of a block read a moment ago. Undefined otherwise, and then the
 * caller's asynchronous open decides (opens, checks, or drops the file).
 */
export function openCheckedNow(fds: FdCache, path: string, rec: CheckRecord, length: number): FdLease | undefined {
  const lease = fds.acquireNow(path);
  if (!lease) return undefined;
  let trusted = false;
  try {
    trusted = stillChecked(rec, fileState(lease.handle), length);
  } catch {
    // A failing fstat is for the asynchronous open to report.
  }
  if (trusted) return lease;
  lease.release();
  return undefined;
}

/** Bytes a whole check reads at a time (the CRC runs on across the pieces). */
export const CHECK_PIECE_BYTES = 256 * 1024;

/**
 * Reads the whole file and says whether it is `length` bytes with CRC-32 `crc` (undefined), or
 * why not. It reads a piece at a time into pool memory, given back, and keeps none of it: a check
 * held a whole block (2 MiB) while it read, and the pool then kept those blocks among its free
 * slabs, so a cold wave's checks (every block a second after it is written) held 8-16 MiB more in
 * each process. The chunks served are read again from the page cache.
 */
export async function checkWhole(handle: FileHandle, length: number, crc: number): Promise<string | undefined> {
  await checkSlot();
  const piece = chunkPool.take(CHECK_PIECE_BYTES, CHECK_PIECE_BYTES);
  try {
    let value = 0;
    for (let at = 0; at < length; ) {
      const want = piece.subarray(0, Math.min(piece.length, length - at));
      if ((await readFully(handle, want, at)) !== want.length) return 'block file short';
      value = crc32(want, value);
      at += want.length;
    }
    if (value >>> 0 !== crc) return 'block checksum mismatch';
    return undefined;
  } finally {
    chunkPool.give(piece);
    releaseCheckSlot();
  }
}

/**
 * Whole checks under way at once, per process. Each holds a block's bytes while it reads them;
 * a wave's first reads (or a cluster's workers asking the primary) could otherwise start one per
 * block at once: 200 clients, 400 MiB. A few at a time keep the disk and a core busy just as well.
 */
const MAX_CHECKS = 4;
let checks = 0;
const waitingChecks: Array<() => void> = [];

function checkSlot(): Promise<void> | undefined {
  if (checks < MAX_CHECKS) {
    checks++;
    return undefined;
  }
  return new Promise((resolve) => waitingChecks.push(resolve));
}

function releaseCheckSlot(): void {
  const next = waitingChecks.shift();
  if (next) next();
  else checks--;
}
