// The virtual image: base ⊕ patch set, read by range. A range maps to a sequence of segments —
// runs of base bytes, runs of overlay bytes, and runs of zeros in the appended tail — found by
// binary search over the patch set's sorted overlays and base copies. A base copy is a run of
// base bytes read from another offset than its own (a base segment whose offset is where the
// bytes come from). Reading is streaming: base runs come from a caller-supplied stream (the
// block cache), never buffered whole.

import { RangeNotSatisfiableError } from '../errors.js';
import { firstCopyAtOrAfter, firstOverlayAtOrAfter, type PatchSet } from './patch-set.js';

export type Segment =
  | { readonly kind: 'base'; readonly offset: number; readonly length: number }
  | { readonly kind: 'data'; readonly bytes: Uint8Array }
  | { readonly kind: 'zero'; readonly length: number };

/** Segments covering [start, end] (inclusive) of the virtual image, in order, none empty. */
export function segmentsOf(patch: PatchSet, start: number, end: number): Segment[] {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end >= patch.size) {
    throw new RangeNotSatisfiableError(patch.size, `range ${start}-${end} is outside the image of ${patch.size} bytes`);
  }
  const out: Segment[] = [];
  const stop = end + 1;
  const copies = patch.copies ?? [];
  let at = start;
  let i = firstOverlayAtOrAfter(patch.overlays, start);
  let j = firstCopyAtOrAfter(copies, start);
  while (at < stop) {
    const o = patch.overlays[i];
    const c = copies[j];
    // The next piece of the patch set: whichever of the next overlay and the next copy comes first
    // (they never overlap).
    const useCopy = c !== undefined && (o === undefined || c.offset < o.offset);
    const pieceStart = useCopy ? c.offset : o ? o.offset : stop;
    const nextPatch = Math.max(pieceStart, at);
    if (at < Math.min(nextPatch, stop)) {
      // A gap before the next piece: base bytes, then zeros past the base's end.
      const gapEnd = Math.min(nextPatch, stop);
      const baseEnd = Math.min(gapEnd, patch.baseSize);
      if (at < baseEnd) out.push({ kind: 'base', offset: at, length: baseEnd - at });
      const zeroStart = Math.max(at, patch.baseSize);
      if (zeroStart < gapEnd) out.push({ kind: 'zero', length: gapEnd - zeroStart });
      at = gapEnd;
      continue;
    }
    if (useCopy) {
      const cEnd = Math.min(c.offset + c.length, stop);
      out.push({ kind: 'base', offset: c.baseOffset + (at - c.offset), length: cEnd - at });
      at = cEnd;
      j++;
      continue;
    }
    if (!o) break;
    const oEnd = Math.min(o.offset + o.data.length, stop);
    out.push({ kind: 'data', bytes: o.data.subarray(at - o.offset, oEnd - o.offset) });
    at = oEnd;
    i++;
  }
  return out;
}

/**
 * Streams base bytes [offset, offset+length) in order (e.g. the block cache's stream), as bytes
 * or, for a writer that sends files itself, as file spans too (src/io/file-span.ts).
 */
export type BaseStream<C = Uint8Array> = (offset: number, length: number, signal: AbortSignal) => AsyncIterable<C>;

const ZERO_CHUNK = new Uint8Array(256 * 1024);

/**
 * Streams [start, end] of the virtual image. Pull-based: nothing is read ahead of the consumer
 * beyond what `base` itself reads ahead. Returning early (client abort) ends the base stream's
 * iteration, which frees its upstream and file handles.
 */
export async function* streamVirtual<C = Uint8Array>(
  patch: PatchSet,
  base: BaseStream<C>,
  start: number,
  end: number,
  signal: AbortSignal,
): AsyncGenerator<C | Uint8Array> {
  for (const seg of segmentsOf(patch, start, end)) {
    if (seg.kind === 'data') {
      yield seg.bytes;
    } else if (seg.kind === 'zero') {
      for (let left = seg.length; left > 0; left -= ZERO_CHUNK.length) {
        yield ZERO_CHUNK.subarray(0, Math.min(left, ZERO_CHUNK.length));
      }
    } else {
      yield* base(seg.offset, seg.length, signal);
    }
  }
}

/** Reads [offset, offset+length) of the virtual image into memory (small reads: tests, materialize). */
export async function readVirtual(
  patch: PatchSet,
  readBase: (offset: number, length: number) => Promise<Uint8Array>,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  if (length === 0) return out;
  let at = 0;
  for (const seg of segmentsOf(patch, offset, offset + length - 1)) {
    if (seg.kind === 'data') {
      out.set(seg.bytes, at);
      at += seg.bytes.length;
    } else if (seg.kind === 'zero') {
      at += seg.length;
    } else {
      out.set(await readBase(seg.offset, seg.length), at);
      at += seg.length;
    }
  }
  return out;
}
