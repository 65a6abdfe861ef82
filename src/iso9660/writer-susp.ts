// System Use entries for the deterministic ISO writer: SUSP 1.12 (SP, CE, ER) and Rock Ridge
// RRIP 1.12 entries (PX with inode number, TF, NM) under the "RRIP_1991A" identifier, which is
// what xorriso writes and what Linux, libisofs and pycdlib all recognise. Each builder returns the
// entry's bytes; the writer packs them into a record and spills the rest to a continuation area.

import { latin1Bytes, writeBoth32 } from '../binary.js';

/** The 7-byte ECMA-119 9.1.5 recording date, also used in TF entries (short form). */
export function recordingDate(date: Date): Uint8Array {
  return Uint8Array.of(
    date.getUTCFullYear() - 1900,
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    0, // offset from GMT in 15-minute units: we write UTC
  );
}

function entry(sig: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out[0] = sig.charCodeAt(0);
  out[1] = sig.charCodeAt(1);
  out[2] = out.length; // LEN_SUE
  out[3] = 1; // SUE version
  out.set(body, 4);
  return out;
}

/** SUSP 5.3 SP: marks SUSP in use; only in the root's "." record, first entry, LEN_SKP 0. */
export function spEntry(): Uint8Array {
  return entry('SP', Uint8Array.of(0xbe, 0xef, 0));
}

export const CE_LENGTH = 28;

/** SUSP 5.1 CE: where the rest of this record's System Use entries continue. */
export function ceEntry(lba: number, offset: number, length: number): Uint8Array {
  const body = new Uint8Array(24);
  writeBoth32(body, 0, lba);
  writeBoth32(body, 8, offset);
  writeBoth32(body, 16, length);
  return entry('CE', body);
}

const ER_ID = 'RRIP_1991A';
const ER_DES = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const ER_SRC =
  'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

/** SUSP 5.5 ER: names the Rock Ridge extension. Longer than a record has room for: goes to CE. */
export function erEntry(): Uint8Array {
  const text = ER_ID + ER_DES + ER_SRC;
  const body = new Uint8Array(4 + text.length);
  body[0] = ER_ID.length;
  body[1] = ER_DES.length;
  body[2] = ER_SRC.length;
  body[3] = 1; // EXT_VER
  body.set(latin1Bytes(text), 4);
  return entry('ER', body);
}

/** RRIP 4.1.1 PX (44-byte form with the file serial number). */
export function pxEntry(mode: number, links: number, ino: number): Uint8Array {
  const body = new Uint8Array(40);
  writeBoth32(body, 0, mode);
  writeBoth32(body, 8, links);
  writeBoth32(body, 16, 0); // uid
  writeBoth32(body, 24, 0); // gid
  writeBoth32(body, 32, ino);
  return entry('PX', body);
}

/** RRIP 4.1.6 TF: modify, access and attribute-change times, all the same fixed date. */
export function tfEntry(date: Date): Uint8Array {
  const stamp = recordingDate(date);
  const body = new Uint8Array(1 + 3 * 7);
  body[0] = 0x02 | 0x04 | 0x08; // MODIFY | ACCESS | ATTRIBUTES, short form
  for (let i = 0; i < 3; i++) body.set(stamp, 1 + 7 * i);
  return entry('TF', body);
}

/** Bytes of name per NM entry; longer names are split with the CONTINUE flag (RRIP 4.1.4). */
const NM_CHUNK = 200;

/** RRIP 4.1.4 NM: the real name, UTF-8, in one or more entries. */
export function nmEntries(name: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < name.length || out.length === 0; at += NM_CHUNK) {
    const chunk = name.subarray(at, at + NM_CHUNK);
    const body = new Uint8Array(1 + chunk.length);
    body[0] = at + NM_CHUNK < name.length ? 0x01 : 0; // CONTINUE
    body.set(chunk, 1);
    out.push(entry('NM', body));
  }
  return out;
}

export const MODE_DIR = 0o040755;
export const MODE_FILE = 0o100644;

/** RRIP 4.1.5.1 CL: in the stand-in record, where the relocated directory really is. */
export function clEntry(lba: number): Uint8Array {
  const body = new Uint8Array(8);
  writeBoth32(body, 0, lba);
  return entry('CL', body);
}

/** RRIP 4.1.5.2 PL: in a relocated directory's "..", where its real parent is. */
export function plEntry(lba: number): Uint8Array {
  const body = new Uint8Array(8);
  writeBoth32(body, 0, lba);
  return entry('PL', body);
}

/** RRIP 4.1.5.3 RE: marks the relocated directory's record in rr_moved (readers hide it). */
export function reEntry(): Uint8Array {
  return entry('RE', new Uint8Array(0));
}

/** Writes the LBA into a CL or PL entry made before the layout was known. */
export function setLinkLba(linkEntry: Uint8Array, lba: number): void {
  writeBoth32(linkEntry, 4, lba);
}
