// ECMA-119 structures for the deterministic ISO writer: directory records (9.1), path table
// records (9.4), and the primary (8.4) / Joliet supplementary (8.5, Joliet escape "%/E") /
// terminator (8.3) volume descriptors. Both-endian fields (7.2.3, 7.3.3) everywhere.

import { writeBoth16, writeBoth32, writeU16be, writeU16le, writeU32be, writeU32le } from '../binary.js';
import { encodeAscii, encodeUcs2be } from './writer-names.js';
import { recordingDate } from './writer-susp.js';
import { SECTOR_SIZE } from './types.js';

/** The largest directory record (its length is one byte, and even). */
export const MAX_RECORD = 254;

export function recordBaseLength(identifierLength: number): number {
  const n = 33 + identifierLength;
  return n + (n % 2); // 9.1.12: a padding byte when the identifier length is even
}

export interface RecordFields {
  readonly lba: number;
  readonly lengthBytes: number;
  readonly isDir: boolean;
  readonly identifier: Uint8Array;
  readonly date: Date;
  readonly systemUse: Uint8Array;
}

export function directoryRecord(f: RecordFields): Uint8Array {
  const base = recordBaseLength(f.identifier.length);
  let len = base + f.systemUse.length;
  len += len % 2; // 9.1.13: a record's length is even
  const r = new Uint8Array(len);
  r[0] = len;
  r[1] = 0; // extended attribute record length
  writeBoth32(r, 2, f.lba);
  writeBoth32(r, 10, f.lengthBytes);
  r.set(recordingDate(f.date), 18);
  r[25] = f.isDir ? 0x02 : 0;
  r[26] = 0; // file unit size (not interleaved)
  r[27] = 0; // interleave gap
  writeBoth16(r, 28, 1); // volume sequence number
  r[32] = f.identifier.length;
  r.set(f.identifier, 33);
  r.set(f.systemUse, base);
  return r;
}

/** One path table record, in L (little-endian) or M (big-endian) form. */
export function pathTableRecord(identifier: Uint8Array, lba: number, parent: number, bigEndian: boolean): Uint8Array {
  const r = new Uint8Array(8 + identifier.length + (identifier.length % 2));
  r[0] = identifier.length;
  r[1] = 0;
  if (bigEndian) {
    writeU32be(r, 2, lba);
    writeU16be(r, 6, parent);
  } else {
    writeU32le(r, 2, lba);
    writeU16le(r, 6, parent);
  }
  r.set(identifier, 8);
  return r;
}

/** 8.4.26.1: "YYYYMMDDHHMMSScc" digits and a GMT offset byte. */
function volumeDate(date: Date | undefined): Uint8Array {
  const out = new Uint8Array(17);
  if (date === undefined) {
    out.fill(0x30, 0, 16); // "not specified"
    return out;
  }
  const p = (n: number, w: number) => String(n).padStart(w, '0');
  const day = p(date.getUTCFullYear(), 4) + p(date.getUTCMonth() + 1, 2) + p(date.getUTCDate(), 2);
  const s = day + p(date.getUTCHours(), 2) + p(date.getUTCMinutes(), 2) + p(date.getUTCSeconds(), 2) + '00';
  out.set(encodeAscii(s), 0);
  return out;
}

export interface DescriptorFields {
  readonly volumeId: string;
  readonly volumeSpaceSize: number;
  readonly pathTableSize: number;
  readonly lPathLba: number;
  readonly mPathLba: number;
  readonly rootRecord: Uint8Array;
  readonly date: Date;
}

const SYSTEM_ID = 'LINUX';
const APPLICATION_ID = 'ISOPROXY DETERMINISTIC WRITER';

/** Primary (type 1) or Joliet supplementary (type 2) volume descriptor. */
export function volumeDescriptor(kind: 'primary' | 'joliet', f: DescriptorFields): Uint8Array {
  const d = new Uint8Array(SECTOR_SIZE);
  const joliet = kind === 'joliet';
  d[0] = joliet ? 2 : 1;
  d.set(encodeAscii('CD001'), 1);
  d[6] = 1;
  // Text fields: a-/d-characters padded with spaces, or UCS-2BE padded with UCS-2 spaces.
  const text = (at: number, width: number, s: string) => {
    if (joliet) {
      for (let i = 0; i + 1 < width; i += 2) writeU16be(d, at + i, 0x20);
      d.set(encodeUcs2be(s.slice(0, width >> 1)), at);
    } else {
      d.fill(0x20, at, at + width);
      d.set(encodeAscii(s.slice(0, width)), at);
    }
  };
  text(8, 32, SYSTEM_ID);
  text(40, 32, f.volumeId); // as given, like xorriso (mixed case is common in practice)
  writeBoth32(d, 80, f.volumeSpaceSize);
  if (joliet) d.set(encodeAscii('%/E'), 88); // Joliet level 3 escape sequence
  writeBoth16(d, 120, 1); // volume set size
  writeBoth16(d, 124, 1); // volume sequence number
  writeBoth16(d, 128, SECTOR_SIZE); // logical block size
  writeBoth32(d, 132, f.pathTableSize);
  writeU32le(d, 140, f.lPathLba);
  writeU32le(d, 144, 0); // optional L path table: none
  writeU32be(d, 148, f.mPathLba);
  writeU32be(d, 152, 0);
  d.set(f.rootRecord, 156);
  text(190, 128, ''); // volume set id
  text(318, 128, ''); // publisher
  text(446, 128, ''); // data preparer
  text(574, 128, APPLICATION_ID);
  text(702, 37, ''); // copyright file
  text(739, 37, ''); // abstract file
  text(776, 37, ''); // bibliographic file
  d.set(volumeDate(f.date), 813); // creation
  d.set(volumeDate(f.date), 830); // modification
  d.set(volumeDate(undefined), 847); // expiration
  d.set(volumeDate(f.date), 864); // effective
  d[881] = 1; // file structure version
  return d;
}

export function terminatorDescriptor(): Uint8Array {
  const d = new Uint8Array(SECTOR_SIZE);
  d[0] = 255;
  d.set(encodeAscii('CD001'), 1);
  d[6] = 1;
  return d;
}
