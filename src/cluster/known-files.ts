// The block files of one base version that a cluster worker knows of, and how it learns them
// (src/cluster/remote-cache.ts reads them). The primary owns the version's directory; a worker
// learns its files from a listing of it (names carry index, length and CRC:
// src/cache/block-file.ts), made again when a block is not in it and the last listing is older
// than LISTING_TTL_MS, and from the bytes the primary sends on a miss (their CRC names the file
// the primary writes from them). An entry is a hint: the primary may evict the file at any time,
// and the reader that finds it gone forgets it.

import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { blockFileName, parseBlockFileName } from '../cache/block-file.js';
import { checkWhole, fileState, recordCheck, stillChecked, type CheckRecord } from '../cache/checked-file.js';
import type { FdCache, FdLease } from '../cache/fd-cache.js';

/** A listing of a version directory younger than this is trusted for "not on disk". */
const LISTING_TTL_MS = 100;

export interface Known {
  readonly path: string;
  readonly length: number;
  readonly crc: number;
  /** This process's last whole check of the file; none yet for a file only listed. */
  readonly check: CheckRecord;
  /** The primary named the file (or sent the bytes it writes it from): the first open needs no check. */
  fromPrimary: boolean;
  /** The whole check under way, for the file state it was started on: every reader waits for it. */
  checking?: { readonly identity: string; readonly result: Promise<string | undefined> } | undefined;
}

export class KnownFiles {
  private readonly files = new Map<number, Known>();
  private listing: Promise<void> | undefined;
  private listedAt = 0;

  constructor(readonly dir: string) {}

  has(index: number): boolean {
    return this.files.has(index);
  }

  get(index: number): Known | undefined {
    return this.files.get(index);
  }

  /** The file let a reader down (gone, short, corrupt): the next read asks again. */
  forget(index: number): void {
    this.files.delete(index);
  }

  paths(): string[] {
    return [...this.files.values()].map((k) => k.path);
  }

  /** The block's file, known or from a listing of the directory (made again when stale). */
  async find(index: number): Promise<Known | undefined> {
    const known = this.files.get(index);
    if (known) return known;
    if (Date.now() - this.listedAt > LISTING_TTL_MS) {
      this.listing ??= this.list().finally(() => {
        this.listing = undefined;
      });
      await this.listing;
    }
    return this.files.get(index);
  }

  /** The primary sent these bytes of block `index`: it writes them under the name their CRC gives. */
  learn(index: number, bytes: Uint8Array): void {
    this.learnFile(index, crc32(bytes) >>> 0, bytes.length);
  }

  /**
   * The primary names block `index`'s file, whole on disk (or about to be). The entry already
   * known for that file is kept, with its check: a cold wave's readers of one block all hear the
   * primary's answer, and an entry made anew for each left each reader its own record to check.
   */
  learnFile(index: number, crc: number, length: number): Known {
    const had = this.files.get(index);
    if (had && had.crc === crc && had.length === length) {
      had.fromPrimary = true;
      return had;
    }
    const known: Known = { path: join(this.dir, blockFileName({ index, lengthBytes: length, crc })), length, crc, check: {}, fromPrimary: true };
    this.files.set(index, known);
    return known;
  }

  private async list(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      names = [];
    }
    this.listedAt = Date.now();
    for (const name of names) {
      const b = parseBlockFileName(name);
      if (!b) continue;
      const k = this.files.get(b.index);
      if (k && k.crc === b.crc && k.length === b.lengthBytes) continue;
      this.files.set(b.index, { path: join(this.dir, name), length: b.lengthBytes, crc: b.crc, check: {}, fromPrimary: false });
    }
  }
}

/**
 * A known block file, open and trusted: checked whole by this process since its last change, or
 * vouched for by the primary (`primaryChecked`: its own whole check of the file with this
 * identity), or named by bytes the primary just sent. Undefined (the file dropped from the
 * open-file cache) when it is gone, unlinked, short or corrupt; `onBad` counts a corrupt one.
 */
export async function openKnown(
  fds: FdCache,
  known: Known,
  primaryChecked: (identity: string) => Promise<boolean>,
  onBad: () => void,
): Promise<FdLease | undefined> {
  let lease: FdLease;
  try {
    lease = await fds.acquire(known.path);
  } catch {
    return undefined;
  }
  try {
    const file = fileState(lease.handle);
    // Unlinked: evicted by the primary; do not hold its disk space through the open-file cache.
    if (file.identity === undefined) throw new Error('unlinked');
    if (!stillChecked(known.check, file, known.length)) {
      // A file the primary just named (by its answer, or by the bytes it sent) needs no reading
      // the first time: its name is its bytes' CRC, and the primary renames a file into place
      // only once it is whole.
      // Otherwise the primary's check of the same file, unchanged since, is as good as this
      // process's own: one check per block for all workers instead of one each.
      if (!known.fromPrimary || known.check.identity !== undefined) {
        const bad = await checkOnce(known, lease, file.identity, primaryChecked, onBad);
        if (bad) throw new Error(bad);
      }
      recordCheck(known.check, file, known.length);
    }
    return lease;
  } catch {
    lease.release();
    fds.forget(known.path);
    return undefined;
  }
}

/**
 * The primary's word or a whole check of `known` in the state `identity`, once for every reader
 * that asks meanwhile: in a cold wave a hundred readers of a worker reached a fresh block in the
 * same moment, each found it unchecked, and each read and checked it whole (97 checks of one
 * 2 MiB block, 4.5 GB read per worker in a 200-node wave). The check reads through the first
 * asker's lease, which that reader holds until the check has settled. A corrupt file is counted
 * (`onBad`) once.
 */
function checkOnce(
  known: Known,
  lease: FdLease,
  identity: string,
  primaryChecked: (identity: string) => Promise<boolean>,
  onBad: () => void,
): Promise<string | undefined> {
  const under = known.checking;
  if (under?.identity === identity) return under.result;
  const result = (async () => {
    if (await primaryChecked(identity)) return undefined;
    const bad = await checkWhole(lease.handle, known.length, known.crc);
    // Counted once, however many readers waited for the check.
    if (bad) onBad();
    return bad;
  })();
  const checking = { identity, result };
  known.checking = checking;
  const done = (): void => {
    if (known.checking === checking) known.checking = undefined;
  };
  result.then(done, done);
  return result;
}
