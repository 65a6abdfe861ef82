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
import type { CheckRecord } from '../cache/checked-file.js';

/** A listing of a version directory younger than this is trusted for "not on disk". */
const LISTING_TTL_MS = 100;

export interface Known {
  readonly path: string;
  readonly length: number;
  readonly crc: number;
  /** This process's last whole check of the file; none yet for a file only listed. */
  readonly check: CheckRecord;
  /** The bytes came from the primary: the file the primary writes from them needs no check. */
  fromPrimary: boolean;
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
    const crc = crc32(bytes) >>> 0;
    const path = join(this.dir, blockFileName({ index, lengthBytes: bytes.length, crc }));
    this.files.set(index, { path, length: bytes.length, crc, check: {}, fromPrimary: true });
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
