// Validation and normalization of a node's kernel-parameter edits (Edits -> NormalizedEdits).
//
// Rules, each with its own error (EditValidationError naming the parameter):
// - a parameter is one kernel argument: printable ASCII without spaces. Control characters,
//   newlines and NUL would break out of the config line; a double quote is the kernel's own
//   quoting (linux/lib/cmdline.c next_arg) and cannot be placed safely in every syntax; non-ASCII
//   would not survive the engine's latin1 byte round trip as the user meant it.
// - grub metacharacters ($ ; { } ' \ # * ? [ ...) are allowed: the grub writer single-quotes such
//   tokens, so they reach the kernel literally. syslinux and systemd-boot pass lines verbatim.
// - `--` and `---` are separators, not parameters; `initrd` and `BOOT_IMAGE` belong to the
//   bootloader (syslinux keeps `initrd=` first where it was).
// - a key is not both set and removed, appended and removed, or appended and set.
// - the edits alone fit in the kernel's command line (2047 bytes on x86); the whole line is
//   checked again when applied (cmdline.ts).
// - `files` (per-node files appended to the initrds) are checked in files.ts, against limits
//   the caller may configure (NormalizeEditsOptions).

import { EditValidationError } from '../errors.js';
import type { Edits } from './types.js';
import type { NormalizedEdits } from './model.js';
import { DEFAULT_FILE_LIMITS, normalizeFiles, type FileLimits } from './files.js';

export interface NormalizeEditsOptions {
  /** Caps on the `files` edit (default 256 files, 4 MiB per node). */
  readonly fileLimits?: FileLimits;
}

/** Caps on what a user controls: entries per kind and bytes per parameter. */
export const MAX_EDIT_ENTRIES = 128;
export const MAX_PARAMETER_BYTES = 1024;
/** x86 COMMAND_LINE_SIZE (2048) less the final NUL. */
export const KERNEL_CMDLINE_MAX = 2047;

const RESERVED_KEYS = new Set(['initrd', 'BOOT_IMAGE']);

/** The part of an argument before its first '=' (the kernel's parameter name). */
export function argKey(arg: string): string {
  const eq = arg.indexOf('=');
  return eq < 0 ? arg : arg.slice(0, eq);
}

function describeChar(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Throws unless `text` is printable ASCII without spaces or double quotes. */
function checkChars(parameter: string, text: string, what: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0) throw new EditValidationError(parameter, `${what} contains NUL at index ${i}`);
    if (c === 0x0a || c === 0x0d)
      throw new EditValidationError(parameter, `${what} contains a line break at index ${i}; a boot config line cannot hold one`);
    if (c === 0x20 || c === 0x09)
      throw new EditValidationError(parameter, `${what} contains whitespace at index ${i}; give one kernel parameter per entry`);
    if (c < 0x20 || c === 0x7f) throw new EditValidationError(parameter, `${what} contains control character ${describeChar(c)} at index ${i}`);
    if (c > 0x7e)
      throw new EditValidationError(
        parameter,
        `${what} contains non-ASCII character ${describeChar(c)} at index ${i}; kernel parameters are edited as ASCII`,
      );
    if (c === 0x22)
      throw new EditValidationError(
        parameter,
        `${what} contains a double quote at index ${i}; the kernel treats it as quoting, which edits do not support`,
      );
  }
}

function checkKey(parameter: string, key: string, what: string): void {
  if (key.length === 0) throw new EditValidationError(parameter, `${what} is empty`);
  checkChars(parameter, key, what);
  if (key === '--' || key === '---') throw new EditValidationError(parameter, `${key} is a command-line separator, not a parameter`);
  if (RESERVED_KEYS.has(key)) throw new EditValidationError(parameter, `${key} is set by the bootloader and cannot be edited`);
}

function checkLength(parameter: string, text: string): void {
  if (text.length > MAX_PARAMETER_BYTES) {
    throw new EditValidationError(parameter, `is ${text.length} bytes, over the ${MAX_PARAMETER_BYTES}-byte limit for one parameter`);
  }
}

function stringArray(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new EditValidationError(field, 'must be a list of strings');
  if (value.length > MAX_EDIT_ENTRIES) throw new EditValidationError(field, `has ${value.length} entries, over the limit of ${MAX_EDIT_ENTRIES}`);
  return value.map((v, i) => {
    if (typeof v !== 'string') throw new EditValidationError(`${field}[${i}]`, 'must be a string');
    return v;
  });
}

/**
 * Validates and normalizes edits. Deterministic: the same edits give a deep-equal result.
 * Throws EditValidationError naming the offending parameter.
 */
export function normalizeEdits(edits: Edits, options: NormalizeEditsOptions = {}): NormalizedEdits {
  if (edits === null || typeof edits !== 'object' || Array.isArray(edits)) throw new EditValidationError('edits', 'must be an object');
  const raw = edits as Record<string, unknown>;
  for (const field of Object.keys(raw)) {
    if (!['append', 'set', 'remove', 'separator', 'files'].includes(field))
      throw new EditValidationError(field, 'is not a kind of edit (append, set, remove, separator, files)');
  }

  const separator = raw['separator'] ?? 'before';
  if (separator !== 'before' && separator !== 'after')
    throw new EditValidationError('separator', `must be "before" or "after", not ${JSON.stringify(separator)}`);

  const remove: string[] = [];
  for (const key of stringArray(raw['remove'], 'remove')) {
    checkLength(key, key);
    checkKey(key, key, 'key to remove');
    if (key.includes('='))
      throw new EditValidationError(key, 'a key to remove names a parameter without "=value"; every value of the key is removed');
    if (!remove.includes(key)) remove.push(key);
  }

  const set: [string, string][] = [];
  const setRaw = raw['set'];
  if (setRaw !== undefined) {
    if (setRaw === null || typeof setRaw !== 'object' || Array.isArray(setRaw))
      throw new EditValidationError('set', 'must be an object of key: value');
    const entries = Object.entries(setRaw as Record<string, unknown>);
    if (entries.length > MAX_EDIT_ENTRIES)
      throw new EditValidationError('set', `has ${entries.length} entries, over the limit of ${MAX_EDIT_ENTRIES}`);
    for (const [key, value] of entries) {
      if (typeof value !== 'string') throw new EditValidationError(key, 'the value to set must be a string');
      checkLength(key, `${key}=${value}`);
      checkKey(key, key, 'key to set');
      if (key.includes('=')) throw new EditValidationError(key, 'a key to set cannot contain "="; give the value separately');
      checkChars(key, value, 'value');
      if (remove.includes(key)) throw new EditValidationError(key, 'is both set and removed');
      set.push([key, value]);
    }
  }

  const append: string[] = [];
  for (const token of stringArray(raw['append'], 'append')) {
    checkLength(token, token);
    if (token.length === 0) throw new EditValidationError(token, 'an appended parameter is empty');
    checkChars(token, token, 'appended parameter');
    const key = argKey(token);
    if (key.length === 0) throw new EditValidationError(token, 'an appended parameter has an empty name before "="');
    checkKey(token, key, 'appended parameter');
    if (remove.includes(key)) throw new EditValidationError(token, `appends ${key}, which is also removed`);
    if (set.some(([k]) => k === key)) throw new EditValidationError(token, `appends ${key}, which is also set; use one of the two`);
    if (!append.includes(token)) append.push(token);
  }

  // The edits alone must fit in the kernel's command line; the whole line is checked when applied.
  let total = 0;
  for (const token of [...set.map(([k, v]) => `${k}=${v}`), ...append]) {
    total += token.length + 1;
    if (total > KERNEL_CMDLINE_MAX) {
      throw new EditValidationError(
        token,
        `the edits add ${total} bytes or more to the kernel command line, over its ${KERNEL_CMDLINE_MAX}-byte limit`,
      );
    }
  }

  const files = normalizeFiles(raw['files'], options.fileLimits ?? DEFAULT_FILE_LIMITS);

  remove.sort();
  return Object.freeze({
    append: Object.freeze(append),
    set: Object.freeze(set.map((pair) => Object.freeze(pair) as readonly [string, string])),
    remove: Object.freeze(remove),
    separator,
    files,
  });
}

/** A canonical string of normalized edits, for hashing (versioned so the format can change). */
// Files enter by path, mode and sha256 of their content, and only when there are some: edits
// without files keep the digest (so the memo keys and ETags) they had before files existed.
export function editsDigestInput(n: NormalizedEdits): string {
  const files = n.files ?? [];
  return JSON.stringify({
    v: 1,
    append: n.append,
    set: n.set,
    remove: [...n.remove].sort(),
    separator: n.separator,
    ...(files.length > 0 ? { files: files.map((f) => [f.path, f.mode, f.data.length, f.sha256]) } : {}),
  });
}

/** True when the edits change nothing. */
export function isEmptyEdits(n: NormalizedEdits): boolean {
  return n.append.length === 0 && n.set.length === 0 && n.remove.length === 0 && (n.files ?? []).length === 0;
}

/** True when the edits change kernel command lines (files alone do not). */
export function hasCommandLineEdits(n: NormalizedEdits): boolean {
  return n.append.length > 0 || n.set.length > 0 || n.remove.length > 0;
}
