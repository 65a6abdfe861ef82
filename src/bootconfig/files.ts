// Validation and normalization of a node's files (the `files` edit): what isoproxy appends, as a
// newc archive, to every initrd a kernel line loads (src/remaster/initrd.ts), so the files land in
// the root file system of the booted initramfs.
//
// Each entry is { path, mode?, content | contentBase64 }:
// - path: absolute, '/'-separated, no empty, `.` or `..` segments, no NUL or control characters
//   (a newline would also break `cpio -t` listings), at most 255 bytes per segment (NAME_MAX) and
//   4095 in all (PATH_MAX less the NUL), not '/' itself; two entries cannot name the same path,
//   and no entry can be a parent directory of another (the archive would need both a file and a
//   directory there);
// - mode: permission bits as an octal string ("0644", "600", "0o755"), default 0644; numbers
//   are refused because 644 and 0o644 are both plausible readings of one;
// - content: text (written as UTF-8), or contentBase64 (RFC 4648, padding required): exactly one.
// Limits per node, configurable: 256 files and 4 MiB of content by default.
// Errors are EditValidationError (code INVALID_EDIT) naming the entry: `files[3] (/etc/x.conf)`.

import { createHash } from 'node:crypto';
import { EditValidationError } from '../errors.js';

export interface FileEdit {
  readonly path: string;
  /** Octal permission bits as a string; default "0644". */
  readonly mode?: string;
  /** Text content, written as UTF-8. */
  readonly content?: string;
  /** Binary content in base64. */
  readonly contentBase64?: string;
}

export interface NormalizedFile {
  readonly path: string;
  readonly mode: number;
  readonly data: Uint8Array;
  /** sha256 of data, hex. */
  readonly sha256: string;
}

export interface FileLimits {
  /** Most files per node. */
  readonly maxFiles: number;
  /** Most bytes of content per node, all files together. */
  readonly maxTotalBytes: number;
}

export const DEFAULT_FILE_LIMITS: FileLimits = Object.freeze({ maxFiles: 256, maxTotalBytes: 4 * 1024 * 1024 });

export const DEFAULT_FILE_MODE = 0o644;
const NAME_MAX = 255;
const PATH_MAX = 4095;
const OCTAL_MODE = /^(?:0o?)?([0-7]{1,4})$/;

/** Parses an octal mode string ("0644", "600", "0o755") into permission bits, or undefined. */
export function parseFileMode(text: string): number | undefined {
  const m = OCTAL_MODE.exec(text.trim());
  return m ? parseInt(m[1]!, 8) : undefined;
}

function checkPath(who: string, path: unknown): string {
  if (typeof path !== 'string') throw new EditValidationError(who, 'path must be a string');
  if (!path.startsWith('/')) throw new EditValidationError(who, 'path must be absolute (start with "/")');
  if (path === '/') throw new EditValidationError(who, 'path names the root directory, not a file');
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0) throw new EditValidationError(who, `path contains NUL at index ${i}`);
    if (c < 0x20 || c === 0x7f)
      throw new EditValidationError(who, `path contains control character U+${c.toString(16).toUpperCase().padStart(4, '0')} at index ${i}`);
  }
  if (/[\uD800-\uDFFF]/u.test(path)) throw new EditValidationError(who, 'path contains a lone surrogate; it has no UTF-8 form');
  const segments = path.slice(1).split('/');
  for (const s of segments) {
    if (s === '') throw new EditValidationError(who, 'path has an empty segment ("//" or a trailing "/")');
    if (s === '.' || s === '..') throw new EditValidationError(who, `path has a "${s}" segment; give the path without it`);
    if (Buffer.byteLength(s, 'utf8') > NAME_MAX)
      throw new EditValidationError(who, `path segment of ${Buffer.byteLength(s, 'utf8')} bytes is over NAME_MAX (${NAME_MAX})`);
  }
  if (Buffer.byteLength(path, 'utf8') > PATH_MAX)
    throw new EditValidationError(who, `path of ${Buffer.byteLength(path, 'utf8')} bytes is over PATH_MAX (${PATH_MAX})`);
  return path;
}

function checkMode(who: string, mode: unknown): number {
  if (mode === undefined) return DEFAULT_FILE_MODE;
  if (typeof mode !== 'string')
    throw new EditValidationError(who, 'mode must be an octal string such as "0644" (a number is ambiguous: 644 or 0o644?)');
  const bits = parseFileMode(mode);
  if (bits === undefined)
    throw new EditValidationError(who, `mode ${JSON.stringify(mode)} is not an octal mode such as "0644" (at most 4 octal digits)`);
  return bits;
}

function checkContent(who: string, raw: Record<string, unknown>): Uint8Array {
  const text = raw['content'];
  const b64 = raw['contentBase64'];
  if (text !== undefined && b64 !== undefined) throw new EditValidationError(who, 'give content or contentBase64, not both');
  if (text !== undefined) {
    if (typeof text !== 'string') throw new EditValidationError(who, 'content must be a string');
    // In a `u` regex a surrogate pair is one code point, so only a lone surrogate matches.
    if (/[\uD800-\uDFFF]/u.test(text))
      throw new EditValidationError(who, 'content has a lone surrogate; it has no UTF-8 form (use contentBase64 for binary data)');
    return new Uint8Array(Buffer.from(text, 'utf8'));
  }
  if (b64 !== undefined) {
    if (typeof b64 !== 'string') throw new EditValidationError(who, 'contentBase64 must be a string');
    // Buffer.from(…, 'base64') skips what it does not understand, so decode and encode again:
    // only canonical base64 (RFC 4648 alphabet, padded, no line breaks) comes back the same.
    // Native both ways: a regex over megabytes of text costs a hundred times more.
    const data = Buffer.from(b64, 'base64');
    if (data.toString('base64') !== b64)
      throw new EditValidationError(who, 'contentBase64 is not base64 (RFC 4648 alphabet, padded, no line breaks)');
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new EditValidationError(who, 'has no content: give content (text) or contentBase64');
}

/**
 * Validates the `files` edit. Deterministic: files come back sorted by path, so the same set in
 * any order gives the same archive, patch set and ETag.
 */
export function normalizeFiles(value: unknown, limits: FileLimits = DEFAULT_FILE_LIMITS): readonly NormalizedFile[] {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value)) throw new EditValidationError('files', 'must be a list of { path, mode?, content | contentBase64 }');
  if (value.length > limits.maxFiles)
    throw new EditValidationError('files', `has ${value.length} entries, over the limit of ${limits.maxFiles} files per node`);
  const out: NormalizedFile[] = [];
  const byPath = new Map<string, string>();
  let total = 0;
  value.forEach((entry: unknown, i) => {
    let who = `files[${i}]`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry))
      throw new EditValidationError(who, 'must be an object { path, mode?, content | contentBase64 }');
    const raw = entry as Record<string, unknown>;
    for (const k of Object.keys(raw)) {
      if (!['path', 'mode', 'content', 'contentBase64'].includes(k))
        throw new EditValidationError(who, `unknown field ${JSON.stringify(k)} (path, mode, content, contentBase64)`);
    }
    const path = checkPath(who, raw['path']);
    who = `files[${i}] (${path})`;
    const previous = byPath.get(path);
    if (previous) throw new EditValidationError(who, `names the same path as ${previous}`);
    byPath.set(path, who);
    const mode = checkMode(who, raw['mode']);
    const data = checkContent(who, raw);
    total += data.length;
    if (total > limits.maxTotalBytes)
      throw new EditValidationError(who, `brings the node's files to ${total} bytes or more, over the limit of ${limits.maxTotalBytes}`);
    out.push(Object.freeze({ path, mode, data, sha256: createHash('sha256').update(data).digest('hex') }));
  });
  // A path that is a parent directory of another entry would have to be a file and a directory.
  for (const f of out) {
    for (let at = f.path.indexOf('/', 1); at > 0; at = f.path.indexOf('/', at + 1)) {
      const parent = byPath.get(f.path.slice(0, at));
      if (parent) throw new EditValidationError(parent, `is a file, but ${byPath.get(f.path)} needs it to be a directory`);
    }
  }
  out.sort((a, b) => Buffer.compare(Buffer.from(a.path, 'utf8'), Buffer.from(b.path, 'utf8')));
  return Object.freeze(out);
}

/** Total content bytes of normalized files. */
export function filesBytes(files: readonly NormalizedFile[]): number {
  let n = 0;
  for (const f of files) n += f.data.length;
  return n;
}
