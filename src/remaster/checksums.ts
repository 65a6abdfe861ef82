// Checksum files at the root of Debian/Ubuntu media (md5sum.txt, sha256sum.txt, ...): lines of
// `<hex digest>  ./path` (or `<hex> *path`). After an edit, the lines of the edited files get
// their new digests; every other byte of the file stays as it was. The digest has the same
// length, so the file keeps its size and is always rewritten in place.

import { createHash } from 'node:crypto';
import type { ChecksumAlgorithm } from './base-context.js';

const HEX_LENGTH: Record<ChecksumAlgorithm, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 };

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
 */
export function updateChecksumText(
  text: string,
  algorithm: ChecksumAlgorithm,
  changed: ReadonlyMap<string, DigestOf>,
): { text: string; updated: string[] } {
  const byLower = new Map<string, string>();
  for (const p of changed.keys()) byLower.set(p.toLowerCase(), p);
  const hexLength = HEX_LENGTH[algorithm];
  const updated: string[] = [];
  const lines = text.split('\n');
  const out = lines.map((line) => {
    // `<hex><space><space or *><path>`, with an optional \r kept as it is.
    const m = /^([0-9a-fA-F]+)( [ *])(.*?)(\r?)$/.exec(line);
    if (!m || m[1]!.length !== hexLength) return line;
    const path = isoPathOf((m[2] === ' *' ? '*' : '') + m[3]!);
    const key = changed.has(path) ? path : byLower.get(path.toLowerCase());
    if (key === undefined) return line;
    const digest = changed.get(key)!(algorithm);
    const hex = m[1] === m[1]!.toUpperCase() && /[A-F]/.test(m[1]!) ? digest.toUpperCase() : digest;
    updated.push(key);
    return `${hex}${m[2]}${m[3]}${m[4]}`;
  });
  return { text: out.join('\n'), updated };
}
