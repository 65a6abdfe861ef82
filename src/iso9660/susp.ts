// System Use Sharing Protocol (SUSP 1.12): the entries in a directory record's System Use area
// and the continuation areas (CE) it chains to. SP (indicator + LEN_SKP), CE, ER, ST and PD are
// handled here; everything else (Rock Ridge) is returned for rock-ridge.ts. Each entry must fit
// inside its area; CE hops are capped per record.

import { IsoFormatError, LimitExceededError } from '../errors.js';
import { BinaryView } from '../binary.js';
import type { MetadataReader } from './limits.js';
import { SECTOR_SIZE } from './types.js';

const MAX_CE_AREA_BYTES = 64 * 1024;

export interface SuspEntry {
  /** Two-letter signature, e.g. 'NM'. */
  readonly signature: string;
  readonly version: number;
  /** Absolute offset of the entry's first byte. */
  readonly offset: number;
  /** The whole entry including its 4-byte header. */
  readonly bytes: BinaryView;
}

export interface ExtensionReference {
  readonly id: string;
  readonly offset: number;
}

/** RRIP identifiers announced by ER (RRIP 1.09, 1.10, 1.12). */
export const ROCK_RIDGE_IDS = ['RRIP_1991A', 'IEEE_P1282', 'IEEE_1282'];

/** SUSP 5.3: the SP entry at the start of the root's "." System Use area; returns LEN_SKP. */
export function parseSp(systemUse: Uint8Array): number | undefined {
  if (
    systemUse.length >= 7 &&
    systemUse[0] === 0x53 &&
    systemUse[1] === 0x50 &&
    systemUse[2] === 7 &&
    systemUse[4] === 0xbe &&
    systemUse[5] === 0xef
  ) {
    return systemUse[6]!;
  }
  return undefined;
}

/** Where a CE entry points: a continuation area, and the CE entry's own offset. */
interface ContinuationPointer {
  readonly lba: number;
  readonly offset: number;
  readonly length: number;
  readonly at: number;
}

/** Splits one area (a System Use field or a continuation area) into entries; returns the CE pointer if any. */
function splitArea(bytes: Uint8Array, base: number, out: SuspEntry[]): ContinuationPointer | undefined {
  const view = new BinaryView(bytes, base);
  let ce: ContinuationPointer | undefined;
  let pos = 0;
  // Fewer than 4 bytes cannot hold an entry: padding (ECMA-119 pads records to even length).
  while (pos + 4 <= bytes.length) {
    if (bytes[pos] === 0) break; // zero padding seen after the last entry on some writers
    const signature = String.fromCharCode(bytes[pos]!, bytes[pos + 1]!);
    const length = bytes[pos + 2]!;
    if (length < 4) throw new IsoFormatError('SUSP entry', base + pos, `${JSON.stringify(signature)} has length ${length}, below the 4-byte header`);
    if (pos + length > bytes.length) {
      const left = bytes.length - pos;
      throw new IsoFormatError('SUSP entry', base + pos, `${JSON.stringify(signature)} of ${length} bytes runs past its area (${left} bytes left)`);
    }
    const entry = view.sub(pos, length);
    if (signature === 'ST') break; // SUSP 5.4: the rest of the area is ignored
    if (signature === 'CE') {
      if (length < 28) throw new IsoFormatError('SUSP CE entry', base + pos, `length ${length}, expected 28`);
      ce = { lba: entry.u32le(4), offset: entry.u32le(12), length: entry.u32le(20), at: base + pos };
    } else if (signature !== 'PD') {
      out.push({ signature, version: bytes[pos + 3]!, offset: base + pos, bytes: entry });
    }
    pos += length;
  }
  return ce;
}

/**
 * All SUSP entries of one record: its System Use area (after `skip` bytes) and every
 * continuation area it chains to. Most records have no continuation: their entries come back at
 * once, not as a promise (an image has thousands of records, and a wait each added up).
 */
export function readSuspEntries(
  reader: MetadataReader,
  systemUse: Uint8Array,
  systemUseOffset: number,
  skip: number,
): SuspEntry[] | Promise<SuspEntry[]> {
  const out: SuspEntry[] = [];
  if (skip >= systemUse.length) return out;
  const ce = splitArea(systemUse.subarray(skip), systemUseOffset + skip, out);
  return ce ? followContinuations(reader, ce, out) : out;
}

async function followContinuations(reader: MetadataReader, first: ContinuationPointer, out: SuspEntry[]): Promise<SuspEntry[]> {
  let ce: ContinuationPointer | undefined = first;
  let hops = 0;
  while (ce) {
    hops++;
    if (hops > reader.limits.maxContinuationHops) {
      throw new LimitExceededError('SUSP continuation hops', ce.at, `more than ${reader.limits.maxContinuationHops} CE areas for one record`);
    }
    // SUSP 5.1 wants an area inside one logical block; we only insist on a sane size, so a
    // writer that spills over a block boundary still reads, and a hostile length cannot.
    if (ce.length > MAX_CE_AREA_BYTES || ce.offset > MAX_CE_AREA_BYTES) {
      throw new IsoFormatError('SUSP CE entry', ce.at, `continuation area offset ${ce.offset} / length ${ce.length} above ${MAX_CE_AREA_BYTES}`);
    }
    const start = ce.lba * SECTOR_SIZE + ce.offset;
    const area = await reader.readPointed(start, ce.length, 'SUSP CE entry', ce.at);
    ce = splitArea(area, start, out);
  }
  return out;
}

/** ER entries (SUSP 5.5): extension identifiers. */
export function extensionReferences(entries: readonly SuspEntry[]): ExtensionReference[] {
  const out: ExtensionReference[] = [];
  for (const e of entries) {
    if (e.signature !== 'ER') continue;
    const idLength = e.bytes.u8(4);
    out.push({ id: e.bytes.ascii(8, idLength), offset: e.offset });
  }
  return out;
}
