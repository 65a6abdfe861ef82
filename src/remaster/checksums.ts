// Checksum files at the root of Debian/Ubuntu media (md5sum.txt, sha256sum.txt, ...): lines of
// `<hex digest>  ./path` (or `<hex> *path`). After an edit, the lines of the edited files get
// their new digests; every other byte of the file stays as it was. The digest has the same
// length, so the file keeps its size and is always rewritten in place.

import { createHash } from 'node:crypto';
import { latin1 } from '../binary.js';
import type { ChecksumAlgorithm } from './base-context.js';

const HEX_LENGTH: Record<ChecksumAlgorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 };
const NON_ASCII = /[^\x00-\x7f]/;

export function digestHex(algorithm: ChecksumAlgorithm, data: Uint8Array): string {
  return createHash(algorithm).update(data).digest('hex');
}

/** Normalizes a checksum-file path (`./boot/grub/grub.cfg`, `*boot/x`) to an absolute ISO path. */
function isoPathOf(listed: string): string {
  let p = listed.startsWith('*') ? listed.slice(1) : listed;
  if (p.startsWith('./')) p = p.slice(1);
  if (!p.startsWith('/')) p = `/${p}`;
  return p;
}

/** The new digest of a changed file, by algorithm (computed lazily: only for files a checksum file lists). */
export type DigestOf = (algorithm: ChecksumAlgorithm) => string;

/** A DigestOf over bytes in memory. */
export function digestOfBytes(data: Uint8Array): DigestOf {
  return (algorithm) => digestHex(algorithm, data);
}

/** A digest rewritten in a checksum file's text: `hex` replaces as many characters at `offset`. */
export interface DigestReplacement {
  readonly offset: number;
  readonly hex: string;
}

/** What a node's edits change in one checksum file: the changed files it lists, and their new digests, in text order. */
export interface ChecksumUpdate {
  readonly updated: string[];
  readonly replaced: DigestReplacement[];
}

/** A checksum file's bytes, and the same with A-Z lowered when every byte is ASCII (asciiLowered). */
export interface ChecksumBytes {
  readonly bytes: Uint8Array;
  readonly lowered?: Uint8Array;
}

/** The bytes with A-Z lowered, when every byte is ASCII; else undefined. Made once per base. */
export function asciiLowered(bytes: Uint8Array): Uint8Array | undefined {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b > 0x7f) return undefined;
    out[i] = b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
  }
  return out;
}

/**
 * The new digests of the files in `changed` (absolute ISO path -> its new digest) in a checksum
 * file. Paths match exactly, else case-insensitively (plain ISO 9660 names are upper case). A
 * digest keeps its length and its place, so what changes is given as replacements at offsets of
 * the file (its text is latin1, one character per byte), not as a new text.
 *
 * Only the lines holding a changed file's name are decoded and parsed: a Debian or Ubuntu
 * md5sum.txt has thousands of lines and a node changes two or three files. Parsing every line of
 * the bench image's (3,000 lines) cost each node's patch set about 1.5 ms, and decoding it and
 * searching the text a further 0.5 ms. A line can only match a changed path if it contains that
 * path's last component, case aside, which a search of the lowered bytes finds; the lines left
 * out are the ones the full parse leaves as they are. A file with bytes past ASCII (where case
 * is more than A-Z) or a changed path that is not ASCII is parsed line by line.
 */
export function checksumUpdates(file: ChecksumBytes, algorithm: ChecksumAlgorithm, changed: ReadonlyMap<string, DigestOf>): ChecksumUpdate {
  const names = [...changed.keys()].map((p) => p.slice(p.lastIndexOf('/') + 1));
  if (file.lowered === undefined || names.some((n) => n === '' || NON_ASCII.test(n))) {
    return checksumUpdatesByLine(latin1(file.bytes), algorithm, changed);
  }
  const lowered = Buffer.from(file.lowered.buffer, file.lowered.byteOffset, file.lowered.byteLength);
  const starts = new Set<number>();
  for (const name of names) {
    const needle = Buffer.from(name.toLowerCase(), 'latin1');
    for (let at = lowered.indexOf(needle); at !== -1; ) {
      starts.add(lowered.lastIndexOf(NEWLINE, at) + 1);
      // One visit per line: the search goes on after this line's end, so a line repeating the
      // name costs its length once, not once per repetition (scanning back to its start); and
      // always past this match (a name may hold a newline: the match may start on one).
      const nl = lowered.indexOf(NEWLINE, at);
      if (nl === -1) break;
      at = lowered.indexOf(needle, Math.max(nl, at + needle.length));
    }
  }
  const match = lineMatcher(algorithm, changed);
  const update: ChecksumUpdate = { updated: [], replaced: [] };
  for (const start of [...starts].sort((a, b) => a - b)) {
    const nl = lowered.indexOf(NEWLINE, start);
    match(latin1(file.bytes.subarray(start, nl === -1 ? file.bytes.length : nl)), start, update);
  }
  return update;
}

const NEWLINE = 0x0a;

/** `checksumUpdates` parsing every line: the reference the filtered one must equal. */
export function checksumUpdatesByLine(text: string, algorithm: ChecksumAlgorithm, changed: ReadonlyMap<string, DigestOf>): ChecksumUpdate {
  const match = lineMatcher(algorithm, changed);
  const update: ChecksumUpdate = { updated: [], replaced: [] };
  let start = 0;
  for (const line of text.split('\n')) {
    match(line, start, update);
    start += line.length + 1;
  }
  return update;
}

/**
 * Every path a checksum file's text lists, as checksumUpdates compares it: absolute and
 * lower-cased. (Which digests a node cannot update, as for an initrd that grows.)
 */
export function listedPaths(text: string): Set<string> {
  const out = new Set<string>();
  // Line by line, not split: 16 MiB of newlines would hold millions of lines at once.
  for (let start = 0; start <= text.length; ) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl;
    const line = end > start ? checksumLine(text.slice(start, end)) : undefined;
    if (line) out.add(line.path.toLowerCase());
    start = end + 1;
  }
  return out;
}

/**
 * Adds to `update` the line's new digest when it lists a changed file (its key to `updated`). The
 * digest is the line's first characters, so it is replaced at the line's own offset in the text.
 */
function lineMatcher(
  algorithm: ChecksumAlgorithm,
  changed: ReadonlyMap<string, DigestOf>,
): (line: string, offset: number, update: ChecksumUpdate) => void {
  const byLower = new Map<string, string>();
  for (const p of changed.keys()) byLower.set(p.toLowerCase(), p);
  const hexLength = HEX_LENGTH[algorithm];
  return (text, offset, update) => {
    const line = checksumLine(text);
    if (!line || line.hex.length !== hexLength) return;
    const key = changed.has(line.path) ? line.path : byLower.get(line.path.toLowerCase());
    if (key === undefined) return;
    const digest = changed.get(key)!(algorithm);
    const hex = line.hex === line.hex.toUpperCase() && /[A-F]/.test(line.hex) ? digest.toUpperCase() : digest;
    update.updated.push(key);
    update.replaced.push({ offset, hex });
  };
}

/** A line `<hex><space><space or *><name>` (an optional \r ends it), and the ISO path it names. */
function checksumLine(text: string): { hex: string; path: string } | undefined {
  const m = /^([0-9a-fA-F]+)( [ *])(.*?)\r?$/.exec(text);
  if (!m) return undefined;
  return { hex: m[1]!, path: isoPathOf((m[2] === ' *' ? '*' : '') + m[3]!) };
}
