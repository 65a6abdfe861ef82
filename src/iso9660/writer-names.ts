// Names for the deterministic ISO writer: the ISO 9660 identifier (ECMA-119 7.5/7.6, level 2
// lengths: d-characters, at most 30 for name + extension of a file, 31 for a directory), the
// Joliet identifier (UCS-2 big-endian, at most 64 characters, no `;1` version, the way
// genisoimage and xorriso write it), and the ECMA-119 9.3 ordering of directory records.
// Rock Ridge NM carries the real name, so the ISO identifier only has to be legal and unique.

import { latin1Bytes } from '../binary.js';

/** Longest ISO 9660 file name + extension (level 2, ECMA-119 10.2). */
const ISO_FILE_MAX = 30;
/** Longest ISO 9660 directory identifier (level 2). */
const ISO_DIR_MAX = 31;
/** Joliet allows 64 UCS-2 characters per identifier. */
const JOLIET_MAX = 64;
/** Extensions longer than this are folded into the name part. */
const ISO_EXT_MAX = 8;

function dChars(s: string): string {
  let out = '';
  for (const ch of s.toUpperCase()) out += /[A-Z0-9_]/.test(ch) ? ch : '_';
  return out;
}

/** The ISO 9660 identifier candidate for a name, before uniqueness. Files get `.` and `;1`. */
function isoCandidate(name: string, isDir: boolean): { base: string; ext: string } {
  if (isDir) return { base: dChars(name).slice(0, ISO_DIR_MAX) || '_', ext: '' };
  const dot = name.lastIndexOf('.');
  let base = dot >= 0 ? name.slice(0, dot) : name;
  let ext = dot >= 0 ? name.slice(dot + 1) : '';
  if (ext.length > ISO_EXT_MAX) {
    base = name;
    ext = '';
  }
  base = dChars(base);
  ext = dChars(ext);
  base = base.slice(0, ISO_FILE_MAX - ext.length);
  if (base === '' && ext === '') base = '_';
  return { base, ext };
}

function isoIdentifier(base: string, ext: string, isDir: boolean): string {
  return isDir ? base : `${base}.${ext};1`;
}

/**
 * Assigns unique ISO 9660 identifiers to the entries of one directory. `entries` must already be
 * in a deterministic order (the caller sorts by the real name); collisions are resolved by
 * replacing the tail of the name part with a counter, first come first served.
 */
export function assignIsoNames(entries: ReadonlyArray<{ name: string; isDir: boolean }>): string[] {
  const used = new Set<string>();
  return entries.map(({ name, isDir }) => {
    const { base, ext } = isoCandidate(name, isDir);
    let id = isoIdentifier(base, ext, isDir);
    const max = isDir ? ISO_DIR_MAX : ISO_FILE_MAX - ext.length;
    for (let n = 1; used.has(id); n++) {
      const suffix = String(n);
      id = isoIdentifier(base.slice(0, Math.max(0, max - suffix.length)) + suffix, ext, isDir);
    }
    used.add(id);
    return id;
  });
}

/** Joliet forbids these in identifiers (Joliet spec 3.2.1) besides control characters. */
function jolietClean(name: string): string {
  let out = '';
  for (const ch of name) {
    const c = ch.codePointAt(0)!;
    out += c < 0x20 || '*/:;?\\'.includes(ch) ? '_' : ch;
  }
  return out;
}

/**
 * Truncates to `max` UTF-16 code units without splitting a surrogate pair; a cut name loses
 * trailing spaces, which Windows would not show.
 */
function truncateUcs2(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = max;
  const last = s.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return s.slice(0, cut).trimEnd() || '_';
}

/** Unique Joliet identifiers for the entries of one directory (same order rules as ISO names). */
export function assignJolietNames(entries: ReadonlyArray<{ name: string }>): string[] {
  const used = new Set<string>();
  return entries.map(({ name }) => {
    const clean = jolietClean(name);
    let id = truncateUcs2(clean, JOLIET_MAX);
    for (let n = 1; used.has(id); n++) {
      const suffix = `_${n}`;
      id = truncateUcs2(clean, JOLIET_MAX - suffix.length) + suffix;
    }
    used.add(id);
    return id;
  });
}

export function encodeUcs2be(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c >>> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

/** ISO 9660 identifiers are d-/a-characters, a subset of latin1. */
export function encodeAscii(s: string): Uint8Array {
  return latin1Bytes(s);
}

function indexOfByte(b: Uint8Array, value: number, from = 0): number {
  for (let i = from; i < b.length; i++) if (b[i] === value) return i;
  return -1;
}

function comparePadded(a: Uint8Array, b: Uint8Array, pad: number): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = i < a.length ? a[i]! : pad;
    const y = i < b.length ? b[i]! : pad;
    if (x !== y) return x - y;
  }
  return 0;
}

/**
 * ECMA-119 9.3 order of two ISO 9660 identifiers: file name, then extension, each padded with
 * 0x20; then version number descending. Directory identifiers have no extension.
 */
export function compareIsoIdentifiers(a: Uint8Array, b: Uint8Array): number {
  const split = (id: Uint8Array): [Uint8Array, Uint8Array, number] => {
    const semi = indexOfByte(id, 0x3b);
    const body = semi >= 0 ? id.subarray(0, semi) : id;
    const version = semi >= 0 ? Number.parseInt(String.fromCharCode(...id.subarray(semi + 1)), 10) || 0 : 0;
    const dot = indexOfByte(body, 0x2e);
    return dot >= 0 ? [body.subarray(0, dot), body.subarray(dot + 1), version] : [body, new Uint8Array(0), version];
  };
  const [an, ae, av] = split(a);
  const [bn, be, bv] = split(b);
  return comparePadded(an, bn, 0x20) || comparePadded(ae, be, 0x20) || bv - av;
}

/** Joliet identifiers: byte order of their UCS-2BE encodings (what genisoimage does). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return comparePadded(a, b, 0);
}

/** A total, locale-free order on real names: by UTF-16 code units. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
