// The patch set: what a node's image differs from its base by. Flat, sorted, non-overlapping
// byte overlays plus an appended tail: bytes in [baseSize, size) not covered by an overlay are
// zero. Built by src/remaster, served by src/overlay/virtual-image. Validated once, here.
//
// Besides overlays (bytes the patch set carries), a patch set may hold base copies: ranges of the
// virtual image that read the base's own bytes from another offset. That is how a file grows
// without being copied: its new extent in the tail is a copy of its old extent (served from the
// block cache like any base byte), followed by overlay bytes (src/remaster/initrd.ts appends a
// node's files to an initrd this way). Copies cost a few numbers each, whatever their length.

import { createHash } from 'node:crypto';
import { IsoproxyError } from '../errors.js';

export interface Overlay {
  /** Absolute byte offset in the virtual image. */
  readonly offset: number;
  readonly data: Uint8Array;
}

/** [offset, offset + length) of the virtual image reads the base at [baseOffset, baseOffset + length). */
export interface BaseCopy {
  readonly offset: number;
  readonly baseOffset: number;
  readonly length: number;
}

export interface PatchSet {
  /** Size of the base image the overlays apply to. */
  readonly baseSize: number;
  /** Size of the virtual image (baseSize, or more when a tail is appended). */
  readonly size: number;
  /** Sorted by offset, non-overlapping, non-empty, inside [0, size). */
  readonly overlays: readonly Overlay[];
  /** Sorted by offset, non-empty, overlapping neither each other nor any overlay. */
  readonly copies: readonly BaseCopy[];
  /** sha256 (hex) over baseSize, size, every overlay and every copy: same patch set, same digest. */
  readonly digest: string;
}

export class PatchSetError extends IsoproxyError {
  constructor(message: string) {
    super('PATCH_SET_INVALID', message);
  }
}

/**
 * Builds a patch set from overlays in any order. Overlays that touch or overlap are merged when
 * they agree byte for byte where they overlap; overlays that disagree are a PatchSetError (two
 * edits writing different bytes at one place is a bug, never something to resolve silently).
 */
export function buildPatchSet(baseSize: number, size: number, overlays: readonly Overlay[], copies: readonly BaseCopy[] = []): PatchSet {
  if (!Number.isSafeInteger(baseSize) || baseSize < 0 || !Number.isSafeInteger(size) || size < baseSize) {
    throw new PatchSetError(`bad sizes: base ${baseSize}, image ${size}`);
  }
  const sorted = overlays
    .filter((o) => o.data.length > 0)
    .slice()
    .sort((a, b) => a.offset - b.offset || b.data.length - a.data.length);
  const merged: { offset: number; parts: Uint8Array[]; end: number }[] = [];
  for (const o of sorted) {
    if (!Number.isSafeInteger(o.offset) || o.offset < 0 || o.offset + o.data.length > size) {
      throw new PatchSetError(`overlay [${o.offset}, ${o.offset + o.data.length}) is outside the image of ${size} bytes`);
    }
    const last = merged[merged.length - 1];
    if (last && o.offset <= last.end) {
      // Overlap or adjacency: the overlapping part must agree with what is already there.
      const overlapEnd = Math.min(last.end, o.offset + o.data.length);
      if (overlapEnd > o.offset) {
        const incoming = o.data.subarray(0, overlapEnd - o.offset);
        if (!runHolds(last.parts, last.end - last.offset, o.offset - last.offset, incoming)) {
          throw new PatchSetError(`overlays disagree at bytes [${o.offset}, ${overlapEnd})`);
        }
      }
      if (o.offset + o.data.length > last.end) {
        last.parts.push(o.data.subarray(last.end - o.offset));
        last.end = o.offset + o.data.length;
      }
    } else {
      merged.push({ offset: o.offset, parts: [o.data], end: o.offset + o.data.length });
    }
  }
  const flat = packed(merged.map((m) => ({ offset: m.offset, data: plain(concat(m.parts)) })));
  const sortedCopies = checkCopies(baseSize, size, flat, copies);
  return { baseSize, size, overlays: flat, copies: sortedCopies, digest: digestOf(baseSize, size, flat, sortedCopies) };
}

/** Copies sorted; each inside the image and the base, none overlapping another or an overlay. */
function checkCopies(baseSize: number, size: number, overlays: readonly Overlay[], copies: readonly BaseCopy[]): BaseCopy[] {
  const sorted = copies
    .filter((c) => c.length !== 0)
    .map((c) => ({ offset: c.offset, baseOffset: c.baseOffset, length: c.length }))
    .sort((a, b) => a.offset - b.offset);
  let prevEnd = 0;
  for (const c of sorted) {
    const ok = [c.offset, c.baseOffset, c.length].every((n) => Number.isSafeInteger(n) && n >= 0);
    if (!ok || c.offset + c.length > size)
      throw new PatchSetError(`base copy [${c.offset}, ${c.offset + c.length}) is outside the image of ${size} bytes`);
    if (c.baseOffset + c.length > baseSize)
      throw new PatchSetError(`base copy reads [${c.baseOffset}, ${c.baseOffset + c.length}), outside the base of ${baseSize} bytes`);
    if (c.offset < prevEnd) throw new PatchSetError(`base copies overlap at byte ${c.offset}`);
    prevEnd = c.offset + c.length;
    const i = firstOverlayAtOrAfter(overlays, c.offset);
    const o = overlays[i];
    if (o && o.offset < c.offset + c.length)
      throw new PatchSetError(`base copy [${c.offset}, ${c.offset + c.length}) overlaps the overlay at byte ${o.offset}`);
  }
  return sorted;
}

function digestOf(baseSize: number, size: number, overlays: readonly Overlay[], copies: readonly BaseCopy[]): string {
  const h = createHash('sha256');
  h.update(`isoproxy-patch-set-v1 ${baseSize} ${size} ${overlays.length}\n`);
  for (const o of overlays) {
    h.update(`${o.offset} ${o.data.length}\n`);
    h.update(o.data);
  }
  // Only when there are copies: patch sets without them keep the digests (and ETags) they had.
  if (copies.length > 0) {
    h.update(`copies ${copies.length}\n`);
    for (const c of copies) h.update(`${c.offset} ${c.baseOffset} ${c.length}\n`);
  }
  return h.digest('hex');
}

/** Index of the first copy that ends after `offset` (binary search). */
export function firstCopyAtOrAfter(copies: readonly BaseCopy[], offset: number): number {
  let lo = 0;
  let hi = copies.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const c = copies[mid]!;
    if (c.offset + c.length <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first overlay that ends after `offset` (binary search). */
export function firstOverlayAtOrAfter(overlays: readonly Overlay[], offset: number): number {
  let lo = 0;
  let hi = overlays.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const o = overlays[mid]!;
    if (o.offset + o.data.length <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Bytes of the overlays that patch set carries (its cost per node). */
export function patchSetBytes(p: PatchSet): number {
  let n = 0;
  for (const o of p.overlays) n += o.data.length;
  return n;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * The overlays with bytes of their own: when any is a view of a larger array (a changed run of a
 * whole edited file, a slice of Node's Buffer pool), all are copied into one array of exactly
 * their size. A view keeps its whole array alive for as long as the patch set is memoized, and a
 * structured clone (the patch-set thread's answer) copies the whole array: a 2 KiB patch set
 * held 240 KiB that way.
 */
function packed(overlays: Overlay[]): Overlay[] {
  let total = 0;
  let owned = true;
  for (const o of overlays) {
    total += o.data.length;
    if (o.data.byteOffset !== 0 || o.data.byteLength !== o.data.buffer.byteLength) owned = false;
  }
  if (owned) return overlays;
  const bytes = new Uint8Array(total);
  let at = 0;
  return overlays.map((o) => {
    bytes.set(o.data, at);
    at += o.data.length;
    return { offset: o.offset, data: bytes.subarray(at - o.data.length, at) };
  });
}

/** A plain Uint8Array view (not a Buffer): patch sets compare equal after a structured clone. */
function plain(data: Uint8Array): Uint8Array {
  return data.constructor === Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Whether a run of parts (`length` bytes in all) holds `bytes` at `at`, compared part by part: a
 * run joined for each overlapping overlay cost its whole length every time, quadratic when many
 * overlays overlap one after another. The part holding `at` is sought from the end, where
 * overlaps meet a run (overlays come sorted by offset).
 */
function runHolds(parts: readonly Uint8Array[], length: number, at: number, bytes: Uint8Array): boolean {
  let i = parts.length;
  let partStart = length;
  while (i > 0 && partStart > at) partStart -= parts[--i]!.length;
  let k = 0;
  for (let off = at - partStart; k < bytes.length && i < parts.length; i++, off = 0) {
    const part = parts[i]!;
    const n = Math.min(part.length - off, bytes.length - k);
    for (let j = 0; j < n; j++) if (part[off + j] !== bytes[k + j]) return false;
    k += n;
  }
  return k === bytes.length;
}
