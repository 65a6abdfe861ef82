// Which initrds the kernel lines of one file system load, and where each lives: the input of
// src/remaster/initrd.ts, which appends a node's files to them. Every Linux kernel line is an
// edited line (edits apply to all of them), so every initrd any of them loads is found:
// - grub: the arguments of every `initrd`, `initrdefi` and `initrd16` command of a grub config
//   (they only ever load for the `linux` command of their menu entry);
// - syslinux: each Linux label's INITRD directive and `initrd=` argument, comma-separated lists,
//   relative to the configuration's directory;
// - systemd-boot: each Linux entry's `initrd` lines (paths on the ESP the entry is on).

import { analyzeBootConfigs } from './discover.js';
import { analyzeGrub } from './grub.js';
import { dirname, PathLookup, resolveGrubTarget, resolveSyslinuxTarget } from './paths.js';
import type { ConfigSyntax } from './types.js';

export interface InitrdReference {
  /** The boot config that names the initrd. */
  readonly config: string;
  readonly line: number;
  readonly syntax: ConfigSyntax;
  /** As written (device prefixes and variables included). */
  readonly target: string;
  /** syslinux: the configuration's directory, where relative paths start. */
  readonly cwd?: string;
}

/** Every initrd reference of the boot configs in `files` (path -> text), sorted by config and line. */
export function findInitrdReferences(files: ReadonlyMap<string, string>): InitrdReference[] {
  const analysis = analyzeBootConfigs(files);
  const out: InitrdReference[] = [];
  const seen = new Set<string>();
  const add = (r: InitrdReference): void => {
    const key = `${r.config}\u0000${r.line}\u0000${r.target}\u0000${r.cwd ?? ''}`;
    if (seen.has(key)) return;
    seen.add(key);
    out.push(r);
  };
  for (const f of analysis.files) {
    if (f.syntax === 'grub') {
      // Only files that load a kernel: an initrd command elsewhere has no linux to go with.
      if (f.commands.length === 0) continue;
      for (const i of analyzeGrub(f.path, files.get(f.path) as string).initrds)
        add({ config: f.path, line: i.line, syntax: 'grub', target: i.target });
      continue;
    }
    for (const c of f.commands) {
      for (const target of c.initrds ?? [])
        add({ config: c.path, line: c.line, syntax: f.syntax, target, ...(c.cwd !== undefined ? { cwd: c.cwd } : {}) });
    }
  }
  return out.sort((a, b) => (a.config < b.config ? -1 : a.config > b.config ? 1 : a.line - b.line));
}

/**
 * Resolves initrd references against the paths of one file system (case-insensitive, ISO 9660
 * versions ignored, as paths.ts does for includes): the path found, or undefined.
 */
export function initrdResolver(paths: readonly string[]): (ref: InitrdReference) => string | undefined {
  const lookup = new PathLookup(paths);
  return (ref) => {
    if (ref.syntax === 'grub') return resolveGrubTarget(lookup, ref.config, ref.target).path;
    if (ref.syntax === 'syslinux') return resolveSyslinuxTarget(lookup, ref.config, ref.target, ref.cwd ?? dirname(ref.config));
    return lookup.get(ref.target.startsWith('/') ? ref.target : `/${ref.target}`);
  };
}
