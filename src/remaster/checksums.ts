// Checksum files at the root of Debian/Ubuntu media (md5sum.txt, sha256sum.txt, ...): lines of
// `<hex digest>  ./path` (or `<hex> *path`). After an edit, the lines of the edited files get
// their new digests; every other byte of the file stays as it was. The digest has the same
// length, so the file keeps its size and is always rewritten in place.

import { createHash } from 'node:crypto';
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

/**
 * Rewrites the digests of the files in `changed` (absolute ISO path -> its new digest) in a
 * checksum file's text. Paths match exactly, else case-insensitively (plain ISO 9660 names are
 * upper case). Returns the new text and the paths it updated.
 *
 * Only the lines holding a changed file's name are parsed: a Debian or Ubuntu md5sum.txt has
 * thousands of lines and a node changes two or three files, and parsing every line of the bench
 * image's (3,000 lines) cost each node's patch set about 1.5 ms. A line can only match a changed
 * path if it contains that path's last component, case aside, so the lines left out are the ones
 * the full parse leaves as they are.
 */
export function updateChecksumText(
  text: string,
  algorithm: ChecksumAlgorithm,
  changed: ReadonlyMap<string, DigestOf>,
): { text: string; updated: string[] } {
  // A case-insensitive search agrees with comparing lower-cased paths for ASCII only; anything
  // else is parsed line by line. (Lower-casing the whole text to search it would copy it once
  // more per node.)
  if (NON_ASCII.test(text) || [...changed.keys()].some((p) => NON_ASCII.test(p))) return updateChecksumLines(text, algorithm, changed);
  const starts = new Set<number>();
  for (const p of changed.keys()) {
    const name = p.slice(p.lastIndexOf('/') + 1);
    if (name === '') return updateChecksumLines(text, algorithm, changed);
    const re = new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi');
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      starts.add(text.lastIndexOf('\n', m.index) + 1);
      // One visit per line: the search goes on after this line's end, so a line repeating the
      // name costs its length once, not once per repetition (scanning back to its start).
      const nl = text.indexOf('\n', m.index);
      re.lastIndex = Math.max(re.lastIndex, nl === -1 ? text.length : nl);
    }
  }
  if (starts.size === 0) return { text, updated: [] };
  const match = lineMatcher(algorithm, changed);
  const updated: string[] = [];
  const parts: string[] = [];
  let done = 0;
  for (const start of [...starts].sort((a, b) => a - b)) {
    const nl = text.indexOf('\n', start);
    const end = nl === -1 ? text.length : nl;
    const line = match(text.slice(start, end), updated);
    if (line === undefined) continue;
    parts.push(text.slice(done, start), line);
    done = end;
  }
  parts.push(text.slice(done));
  return { text: parts.join(''), updated };
}

/**
 * Every path a checksum file's text lists, as updateChecksumText would compare it: absolute and
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

/** `updateChecksumText` parsing every line: the reference the filtered one must equal. */
export function updateChecksumLines(
  text: string,
  algorithm: ChecksumAlgorithm,
  changed: ReadonlyMap<string, DigestOf>,
): { text: string; updated: string[] } {
  const match = lineMatcher(algorithm, changed);
  const updated: string[] = [];
  const out = text.split('\n').map((line) => match(line, updated) ?? line);
  return { text: out.join('\n'), updated };
}

/** A line with its digest replaced when it lists a changed file (its key pushed to `updated`); else undefined. */
function lineMatcher(algorithm: ChecksumAlgorithm, changed: ReadonlyMap<string, DigestOf>): (line: string, updated: string[]) => string | undefined {
  const byLower = new Map<string, string>();
  for (const p of changed.keys()) byLower.set(p.toLowerCase(), p);
  const hexLength = HEX_LENGTH[algorithm];
  return (text, updated) => {
    const line = checksumLine(text);
    if (!line || line.hex.length !== hexLength) return undefined;
    const key = changed.has(line.path) ? line.path : byLower.get(line.path.toLowerCase());
    if (key === undefined) return undefined;
    const digest = changed.get(key)!(algorithm);
    const hex = line.hex === line.hex.toUpperCase() && /[A-F]/.test(line.hex) ? digest.toUpperCase() : digest;
    updated.push(key);
    return `${hex}${line.separator}${line.name}${line.cr}`;
  };
}

/** A line `<hex><space><space or *><name>` (an optional \r kept as it is), and the ISO path it names. */
function checksumLine(text: string): { hex: string; separator: string; name: string; cr: string; path: string } | undefined {
  const m = /^([0-9a-fA-F]+)( [ *])(.*?)(\r?)$/.exec(text);
  if (!m) return undefined;
  return { hex: m[1]!, separator: m[2]!, name: m[3]!, cr: m[4]!, path: isoPathOf((m[2] === ' *' ? '*' : '') + m[3]!) };
}
