// Paths of boot configs: which files are candidates, which syntax a file's name or place implies,
// and case-insensitive lookup of include targets. Paths are absolute, '/'-separated, as the ISO
// tree or a FAT image lists them. Plain ISO 9660 names are upper case and may carry a `;1` version
// (e.g. '/ISOLINUX/ISOLINUX.CFG;1'), so names are compared in lower case without the version.

import type { ConfigSyntax } from './types.js';

/** Lower case, without an ISO 9660 `;<version>` or the `.` a name without extension ends with. */
function cleanName(name: string): string {
  const lower = name.toLowerCase();
  // Most names have neither; skipping the regexes keeps key building cheap for every lookup.
  if (!lower.includes(';') && !lower.endsWith('.')) return lower;
  return lower.replace(/;\d*$/, '').replace(/\.$/, '');
}

function segmentsOf(path: string): string[] {
  return path
    .split('/')
    .filter((s) => s.length > 0)
    .map(cleanName);
}

/** The segments of '/a/./b//c/../d': ['a', 'b', 'd']. */
function normalizedSegments(path: string): string[] {
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return out;
}

/** '/a/./b//c/../d' -> '/a/b/d'. */
export function normalizePath(path: string): string {
  return `/${normalizedSegments(path).join('/')}`;
}

export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function joinPath(dir: string, rel: string): string {
  return normalizePath(`${dir}/${rel}`);
}

/** The key a path is looked up by: normalized, lower case, no ISO 9660 versions. */
export function pathKey(path: string): string {
  return `/${normalizedSegments(path).map(cleanName).join('/')}`;
}

function isLoaderEntry(segs: readonly string[]): boolean {
  const n = segs.length;
  return n >= 3 && segs[n - 3] === 'loader' && segs[n - 2] === 'entries' && (segs[n - 1] ?? '').endsWith('.conf');
}

/**
 * Which files the engine must read and hand to editBootConfigs: every *.cfg (grub.cfg,
 * loopback.cfg, isolinux.cfg, syslinux.cfg and includes with any name), extlinux.conf, and
 * systemd-boot entries loader/entries/*.conf.
 */
export function isBootConfigCandidate(path: string): boolean {
  const segs = segmentsOf(path);
  const base = segs[segs.length - 1];
  if (!base) return false;
  return base.endsWith('.cfg') || base === 'extlinux.conf' || isLoaderEntry(segs);
}

/** The syntax a file's own name implies: the files bootloaders open first. */
export function syntaxByName(path: string): ConfigSyntax | undefined {
  const segs = segmentsOf(path);
  const base = segs[segs.length - 1] ?? '';
  if (isLoaderEntry(segs)) return 'systemd-boot';
  if (base === 'grub.cfg' || base === 'loopback.cfg') return 'grub';
  if (base === 'isolinux.cfg' || base === 'syslinux.cfg' || base === 'extlinux.conf') return 'syslinux';
  return undefined;
}

/** The syntax a *.cfg's directory implies (nearest named directory wins). */
export function syntaxByLocation(path: string): ConfigSyntax | undefined {
  const segs = segmentsOf(path);
  for (let i = segs.length - 2; i >= 0; i--) {
    const s = segs[i];
    if (s === 'grub' || s === 'grub2') return 'grub';
    if (s === 'isolinux' || s === 'syslinux' || s === 'extlinux') return 'syslinux';
  }
  return undefined;
}

/** Files ending with one suffix: the first in key order and how many. */
export interface SuffixMatches {
  readonly first?: string;
  readonly count: number;
}

function lastSegment(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** Case-insensitive lookup of the files of one file system. */
export class PathLookup {
  private readonly byKey = new Map<string, string>();
  /** Sorted keys by last segment: a key ends with a suffix only if its last segment is the suffix's. */
  private readonly byName = new Map<string, string[]>();
  /** Keys ending with each suffix asked for, sorted: a config may name one `$var` include many times. */
  private readonly bySuffix = new Map<string, readonly string[]>();

  constructor(paths: readonly string[]) {
    for (const p of [...paths].sort()) {
      const key = pathKey(p);
      if (!this.byKey.has(key)) this.byKey.set(key, p);
    }
    for (const key of [...this.byKey.keys()].sort()) {
      const name = lastSegment(key);
      const list = this.byName.get(name) ?? [];
      list.push(key);
      this.byName.set(name, list);
    }
  }

  get(path: string): string | undefined {
    return this.byKey.get(pathKey(path));
  }

  /**
   * Files whose path ends with `/<suffix>`, leaving out the file `except` names: the first in key
   * order and how many, without a pass over every match (a config may name many `$var` includes).
   */
  suffixMatches(suffix: string, except: string): SuffixMatches {
    const tail = pathKey(suffix);
    const keys = this.keysEndingWith(tail);
    const skip = pathKey(except);
    const skipped = keys.length > 0 && this.byKey.has(skip) && skip.endsWith(tail);
    const first = keys[0] === skip ? keys[1] : keys[0];
    const count = keys.length - (skipped ? 1 : 0);
    return first === undefined ? { count } : { first: this.byKey.get(first) as string, count };
  }

  private keysEndingWith(tail: string): readonly string[] {
    if (tail === '/') return [];
    let keys = this.bySuffix.get(tail);
    if (!keys) {
      keys = (this.byName.get(lastSegment(tail)) ?? []).filter((k) => k.endsWith(tail));
      this.bySuffix.set(tail, keys);
    }
    return keys;
  }
}

/** Where grub's path variables may point on install and live media. */
const GRUB_VARIABLE_DIRS: Record<string, readonly string[]> = {
  prefix: ['/boot/grub', '/boot/grub2', '/EFI/BOOT', '/EFI/BOOT/grub', '/grub'],
  cmdpath: ['/EFI/BOOT'],
  root: ['/'],
};

export interface Resolution {
  readonly path?: string;
  readonly warning?: string;
}

/**
 * Resolves a grub `source`/`configfile` target: a device prefix (`($root)`, `(cd0)`,
 * `(hd0,gpt2)`) is dropped and the path part resolved; `$prefix`, `$cmdpath`, `$root` and
 * `$config_directory` are tried against the usual places, then any file ending with the rest of
 * the path (the variables are set at run time by `search`, which this cannot follow).
 */
export function resolveGrubTarget(lookup: PathLookup, from: string, target: string): Resolution {
  let t = target.replace(/^\([^)]*\)/, '');
  const dir = dirname(from);
  const variable = /^\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/.exec(t);
  if (variable) {
    const name = variable[1] ?? variable[2] ?? '';
    const rest = t.slice(variable[0].length);
    const dirs = name === 'config_directory' ? [dir] : [dir, ...(GRUB_VARIABLE_DIRS[name] ?? [])];
    // A file never includes itself through a variable: `configfile $prefix/grub.cfg` in an EFI
    // image's /EFI/BOOT/grub.cfg points at the ISO's grub.cfg after `search` set $root (Ubuntu).
    const self = pathKey(from);
    for (const d of dirs) {
      const hit = lookup.get(joinPath(d, rest));
      if (hit && pathKey(hit) !== self) return { path: hit };
    }
    const { first, count } = lookup.suffixMatches(rest, from);
    if (!first || rest.replace(/\//g, '') === '') return {};
    return count === 1 ? { path: first } : { path: first, warning: `${from}: ${target} matches ${count} files; using ${first}` };
  }
  if (t === '') return {};
  if (!t.startsWith('/')) {
    const hit = lookup.get(joinPath('/', t)) ?? lookup.get(joinPath(dir, t));
    return hit ? { path: hit } : {};
  }
  t = normalizePath(t);
  const hit = lookup.get(t);
  return hit ? { path: hit } : {};
}

/**
 * Resolves a syslinux INCLUDE/CONFIG target: absolute, or relative to the configuration's
 * directory, then the including file's, then the root (archiso's `CONFIG archiso.cfg` with
 * `APPEND ../../` makes '/' the directory, so its includes read `boot/syslinux/archiso_head.cfg`).
 */
export function resolveSyslinuxTarget(lookup: PathLookup, from: string, target: string, cwd: string): string | undefined {
  if (target.startsWith('/')) return lookup.get(target);
  return lookup.get(joinPath(cwd, target)) ?? lookup.get(joinPath(dirname(from), target)) ?? lookup.get(joinPath('/', target));
}
