// A copy-on-write view of a FAT image: reads see the base bytes plus every write made so far,
// writes land in private copies of the touched pages only, so the base (read-only, possibly in a
// SharedArrayBuffer shared by workers) is never copied whole nor modified. At the end the
// modified pages are diffed against the base into sorted, non-overlapping byte overlays.

import { OutOfBoundsError } from '../errors.js';

/** What the FAT table and directory readers need: bounds-checked little-endian reads. */
export interface FatBytes {
  readonly length: number;
  u8(offset: number): number;
  u16le(offset: number): number;
  u32le(offset: number): number;
  /** A copy or a view of [offset, offset + length); callers must not modify it. */
  slice(offset: number, length: number): Uint8Array;
}

export interface FatOverlay {
  /** Byte offset relative to the start of the FAT image. */
  readonly offset: number;
  readonly data: Uint8Array;
}

/** Unchanged runs shorter than this between two changed runs are carried in one overlay. */
const MERGE_GAP_BYTES = 16;

export class CowImage implements FatBytes {
  readonly base: Uint8Array;
  private readonly pageSize: number;
  private readonly pages = new Map<number, Uint8Array>();

  constructor(base: Uint8Array, pageSize = 512) {
    this.base = base;
    this.pageSize = pageSize;
  }

  get length(): number {
    return this.base.length;
  }

  private check(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.base.length) {
      throw new OutOfBoundsError(offset, length, this.base.length);
    }
  }

  u8(offset: number): number {
    this.check(offset, 1);
    const page = this.pages.get(Math.floor(offset / this.pageSize));
    return page ? page[offset % this.pageSize]! : this.base[offset]!;
  }
  u16le(offset: number): number {
    this.check(offset, 2);
    return this.u8(offset) | (this.u8(offset + 1) << 8);
  }
  u32le(offset: number): number {
    this.check(offset, 4);
    return (this.u8(offset) | (this.u8(offset + 1) << 8) | (this.u8(offset + 2) << 16) | (this.u8(offset + 3) << 24)) >>> 0;
  }

  slice(offset: number, length: number): Uint8Array {
    this.check(offset, length);
    const out = new Uint8Array(length);
    this.eachPage(offset, length, (pageNo, inPage, at, n, done) => {
      const page = this.pages.get(pageNo);
      out.set(page ? page.subarray(inPage, inPage + n) : this.base.subarray(at, at + n), done);
    });
    return out;
  }

  /** Calls `fn` for each page-sized piece of [offset, offset + length), in order. */
  private eachPage(offset: number, length: number, fn: (pageNo: number, inPage: number, at: number, n: number, done: number) => void): void {
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const inPage = at % this.pageSize;
      const n = Math.min(this.pageSize - inPage, length - done);
      fn(Math.floor(at / this.pageSize), inPage, at, n, done);
      done += n;
    }
  }

  private page(pageNo: number): Uint8Array {
    let page = this.pages.get(pageNo);
    if (!page) {
      const start = pageNo * this.pageSize;
      page = new Uint8Array(this.pageSize);
      page.set(this.base.subarray(start, Math.min(start + this.pageSize, this.base.length)));
      this.pages.set(pageNo, page);
    }
    return page;
  }

  write(offset: number, data: Uint8Array): void {
    this.check(offset, data.length);
    this.eachPage(offset, data.length, (pageNo, inPage, _at, n, done) => this.page(pageNo).set(data.subarray(done, done + n), inPage));
  }

  /** Writes `length` zero bytes at `offset`. */
  zero(offset: number, length: number): void {
    this.check(offset, length);
    this.eachPage(offset, length, (pageNo, inPage, at, n) => {
      // Pages that are zero in the base need no private copy to stay zero.
      if (this.pages.has(pageNo) || this.base.subarray(at, at + n).some((b) => b !== 0)) this.page(pageNo).fill(0, inPage, inPage + n);
    });
  }

  setU8(offset: number, value: number): void {
    this.check(offset, 1);
    this.page(Math.floor(offset / this.pageSize))[offset % this.pageSize] = value & 0xff;
  }
  setU16le(offset: number, value: number): void {
    this.setU8(offset, value);
    this.setU8(offset + 1, value >>> 8);
  }
  setU32le(offset: number, value: number): void {
    this.setU8(offset, value);
    this.setU8(offset + 1, value >>> 8);
    this.setU8(offset + 2, value >>> 16);
    this.setU8(offset + 3, value >>> 24);
  }

  /**
   * The bytes that differ from the base, as sorted non-overlapping overlays. Runs separated by
   * fewer than MERGE_GAP_BYTES unchanged bytes are joined (fewer, still small overlays).
   */
  overlays(): FatOverlay[] {
    const runs: { start: number; end: number }[] = [];
    const pageNos = [...this.pages.keys()].sort((a, b) => a - b);
    for (const pageNo of pageNos) {
      const page = this.pages.get(pageNo)!;
      const start = pageNo * this.pageSize;
      const n = Math.min(this.pageSize, this.base.length - start);
      for (let i = 0; i < n; i++) {
        if (page[i] === this.base[start + i]) continue;
        const at = start + i;
        const last = runs[runs.length - 1];
        if (last && at - last.end < MERGE_GAP_BYTES) last.end = at + 1;
        else runs.push({ start: at, end: at + 1 });
      }
    }
    return runs.map((r) => ({ offset: r.start, data: this.slice(r.start, r.end - r.start) }));
  }
}
