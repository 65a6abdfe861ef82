// Discovery: given the candidate files of one file system (path -> text), decide which are boot
// configs and in which syntax, follow their includes, report include cycles and missing includes
// (never fatal), and find every kernel command line.
//
// Syntax, in order of precedence:
// 1. the file's own name: grub.cfg / loopback.cfg (grub), isolinux.cfg / syslinux.cfg /
//    extlinux.conf (syslinux), loader/entries/*.conf (systemd-boot); these are the roots;
// 2. who includes it: a file INCLUDEd from syslinux is syslinux whatever its name, a file
//    `source`d or `configfile`d from grub is grub (grub's syslinux_source reads syslinux);
//    the first includer in breadth-first order from the sorted roots wins;
// 3. its directory: *.cfg under a grub/ or grub2/ directory is grub, under isolinux/,
//    syslinux/ or extlinux/ is syslinux (menus not reached by an include still boot via CONFIG or
//    a bootloader's own search);
// 4. anything else is read as grub, then as syslinux, and kept only if it has kernel lines.
// Listed in the result: files of kinds 1-3 (with kernelLines 0 when they have none) and files
// of kind 4 that have kernel lines. Other candidates are omitted.

import type { ConfigSyntax } from './types.js';
import type { IncludeRef, KernelCommand } from './model.js';
import { analyzeGrub } from './grub.js';
import { analyzeSyslinuxSession, parsedOnce, type SyslinuxFiles, syslinuxBudget, syslinuxIncludes } from './syslinux.js';
import { analyzeSystemdBoot } from './systemd-boot.js';
import { dirname, PathLookup, resolveGrubTarget, resolveSyslinuxTarget, syntaxByLocation, syntaxByName } from './paths.js';

/** Caps on what the image controls. */
export const MAX_CONFIG_FILES = 4096;
export const MAX_CONFIG_TEXT = 1024 * 1024;
/** Include loops listed; more are counted in a warning (each back edge is one loop). */
export const MAX_REPORTED_CYCLES = 100;
/**
 * Warnings and missing includes listed; more are counted in a warning. A config can name a
 * missing file or an ambiguous `$var` include on every one of its lines, and each node's report
 * carries the lists.
 */
export const MAX_REPORTED_WARNINGS = 200;
export const MAX_REPORTED_MISSING = 200;

/** The first `max` warnings, and one more counting the rest when there are more. */
export function listedWarnings(warnings: readonly string[]): string[] {
  if (warnings.length <= MAX_REPORTED_WARNINGS) return [...warnings];
  return [...warnings.slice(0, MAX_REPORTED_WARNINGS), `${warnings.length - MAX_REPORTED_WARNINGS} more warnings not listed`];
}

export interface FileAnalysis {
  readonly path: string;
  readonly syntax: ConfigSyntax;
  readonly commands: readonly KernelCommand[];
  readonly includes: readonly string[];
  readonly includedBy: readonly string[];
}

export interface Analysis {
  /** In path order. */
  readonly files: readonly FileAnalysis[];
  readonly cycles: readonly (readonly string[])[];
  readonly missing: ReadonlyArray<{ readonly from: string; readonly target: string }>;
  readonly warnings: readonly string[];
}

interface Edge {
  readonly to: string;
  readonly textual: boolean;
}

function includesOf(syntax: ConfigSyntax, path: string, text: string): IncludeRef[] {
  if (syntax === 'grub') return [...analyzeGrub(path, text).includes];
  if (syntax === 'syslinux') return syslinuxIncludes(text);
  return [];
}

export function analyzeBootConfigs(input: ReadonlyMap<string, string>): Analysis {
  const warnings: string[] = [];
  const texts = new Map<string, string>();
  for (const path of [...input.keys()].sort()) {
    const text = input.get(path) as string;
    if (texts.size >= MAX_CONFIG_FILES) {
      warnings.push(`more than ${MAX_CONFIG_FILES} candidate files; ${path} and later ones not read`);
      break;
    }
    if (text.length > MAX_CONFIG_TEXT) {
      warnings.push(`${path}: ${text.length} bytes, over the ${MAX_CONFIG_TEXT}-byte cap for a boot config; not read`);
      continue;
    }
    texts.set(path, text);
  }
  const paths = [...texts.keys()];
  const lookup = new PathLookup(paths);

  const syntaxOf = new Map<string, ConfigSyntax>();
  const edges = new Map<string, Edge[]>();
  const missing: { from: string; target: string }[] = [];
  const sessionRoots = new Set<string>();
  const textualTargets = new Set<string>();

  // Breadth-first from the seeds, giving each reached file its includer's syntax.
  const walk = (seeds: readonly string[]): void => {
    const queue = seeds.filter((p) => syntaxOf.has(p));
    for (let qi = 0; qi < queue.length; qi++) {
      const from = queue[qi] as string;
      const syntax = syntaxOf.get(from) as ConfigSyntax;
      const out: Edge[] = [];
      for (const inc of includesOf(syntax, from, texts.get(from) as string)) {
        let to: string | undefined;
        if (syntax === 'grub') {
          const r = resolveGrubTarget(lookup, from, inc.target);
          if (r.warning) warnings.push(r.warning);
          to = r.path;
        } else {
          to = resolveSyslinuxTarget(lookup, from, inc.target, dirname(from));
        }
        if (!to) {
          missing.push({ from, target: inc.target });
          continue;
        }
        const textual = inc.syntax === 'syslinux' && syntax === 'syslinux' && !inc.newSession;
        out.push({ to, textual });
        if (textual) textualTargets.add(to);
        else if (inc.syntax === 'syslinux') sessionRoots.add(to);
        if (!syntaxOf.has(to)) {
          syntaxOf.set(to, inc.syntax);
          queue.push(to);
        } else if (syntaxOf.get(to) !== inc.syntax) {
          warnings.push(`${to} is ${syntaxOf.get(to)} but ${from} includes it as ${inc.syntax}; read as ${syntaxOf.get(to)}`);
        }
      }
      edges.set(from, out);
    }
  };

  const byName = paths.filter((p) => syntaxByName(p) !== undefined);
  for (const p of byName) syntaxOf.set(p, syntaxByName(p) as ConfigSyntax);
  walk(byName);
  const byLocation = paths.filter((p) => !syntaxOf.has(p) && syntaxByLocation(p) !== undefined);
  for (const p of byLocation) syntaxOf.set(p, syntaxByLocation(p) as ConfigSyntax);
  walk(byLocation);
  const sniffed = new Set<string>();
  for (const p of paths) {
    if (syntaxOf.has(p)) continue;
    const text = texts.get(p) as string;
    if (analyzeGrub(p, text).commands.length > 0) syntaxOf.set(p, 'grub');
    else if (analyzeSyslinuxSession(p, { text: (q) => (q === p ? text : undefined), resolve: () => undefined }).commands.length > 0)
      syntaxOf.set(p, 'syslinux');
    else continue;
    sniffed.add(p);
    walk([p]);
  }

  // Kernel command lines. syslinux is read per configuration, as syslinux reads it: from each
  // root through its INCLUDEs, so a global APPEND in isolinux.cfg feeds labels in txt.cfg.
  const commands = new Map<string, KernelCommand[]>();
  const seen = new Set<string>();
  const add = (c: KernelCommand): void => {
    const key = `${c.path}\u0000${c.line}\u0000${c.directive}`;
    if (seen.has(key)) return;
    seen.add(key);
    const list = commands.get(c.path) ?? [];
    list.push(c);
    commands.set(c.path, list);
  };
  const syslinuxFiles = sharedSyslinuxFiles(texts, lookup);
  const warned = new Set(warnings);
  for (const p of paths) {
    const syntax = syntaxOf.get(p);
    if (syntax === 'grub') analyzeGrub(p, texts.get(p) as string).commands.forEach(add);
    if (syntax === 'systemd-boot') {
      const r = analyzeSystemdBoot(p, texts.get(p) as string);
      r.commands.forEach(add);
      for (const w of r.warnings) {
        warned.add(w);
        warnings.push(w);
      }
    }
    if (syntax === 'syslinux' && (syntaxByName(p) === 'syslinux' || sessionRoots.has(p) || !textualTargets.has(p))) {
      const r = analyzeSyslinuxSession(p, syslinuxFiles);
      r.commands.forEach(add);
      for (const w of r.warnings) {
        if (warned.has(w)) continue;
        warned.add(w);
        warnings.push(w);
      }
    }
  }

  const includedBy = new Map<string, Set<string>>();
  for (const [from, out] of edges) {
    for (const e of out) {
      const set = includedBy.get(e.to) ?? new Set<string>();
      set.add(from);
      includedBy.set(e.to, set);
    }
  }

  const files: FileAnalysis[] = [];
  for (const p of paths) {
    const syntax = syntaxOf.get(p);
    if (!syntax) continue;
    const cmds = (commands.get(p) ?? []).sort((a, b) => a.line - b.line);
    if (sniffed.has(p) && cmds.length === 0) continue;
    files.push({
      path: p,
      syntax,
      commands: cmds,
      includes: [...new Set((edges.get(p) ?? []).map((e) => e.to))],
      includedBy: [...(includedBy.get(p) ?? [])].sort(),
    });
  }
  const loops = findCycles(paths, edges);
  // Counts of lists cut short go first: the warnings themselves may be cut short after them.
  if (missing.length > MAX_REPORTED_MISSING) {
    warnings.unshift(`${missing.length} includes of files that are not there; only the first ${MAX_REPORTED_MISSING} are reported`);
  }
  if (loops.found > loops.cycles.length) warnings.unshift(`${loops.found} include cycles; only the first ${loops.cycles.length} are reported`);
  return { files, cycles: loops.cycles, missing: missing.slice(0, MAX_REPORTED_MISSING), warnings };
}

/**
 * What every syslinux configuration of the file system reads through: a file is parsed and an
 * INCLUDE resolved once however many configurations read them, under one directive budget.
 */
function sharedSyslinuxFiles(texts: ReadonlyMap<string, string>, lookup: PathLookup): SyslinuxFiles {
  const resolved = new Map<string, string | undefined>();
  return {
    text: (p) => texts.get(p),
    directives: parsedOnce((p) => texts.get(p)),
    resolve: (from, target, cwd) => {
      const key = `${from}\u0000${target}\u0000${cwd}`;
      if (!resolved.has(key)) resolved.set(key, resolveSyslinuxTarget(lookup, from, target, cwd));
      return resolved.get(key);
    },
    budget: syslinuxBudget(),
  };
}

/**
 * Include loops, each as the chain of paths ending where it started; found by depth-first search,
 * one per back edge. A file naming the same include many times is one edge, so one loop; only the
 * first MAX_REPORTED_CYCLES are copied out, since each copy is as long as the include chain.
 */
function findCycles(paths: readonly string[], edges: ReadonlyMap<string, readonly Edge[]>): { cycles: string[][]; found: number } {
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[][] = [];
  const stack: string[] = [];
  let found = 0;
  const dfs = (p: string): void => {
    state.set(p, 'open');
    stack.push(p);
    for (const to of new Set((edges.get(p) ?? []).map((e) => e.to))) {
      const s = state.get(to);
      if (s === 'open') {
        found++;
        if (cycles.length < MAX_REPORTED_CYCLES) cycles.push([...stack.slice(stack.indexOf(to)), to]);
      } else if (s === undefined) dfs(to);
    }
    stack.pop();
    state.set(p, 'done');
  };
  for (const p of paths) if (edges.has(p) && !state.has(p)) dfs(p);
  return { cycles, found };
}
