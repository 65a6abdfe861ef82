// SYSLINUX / ISOLINUX / EXTLINUX configuration (isolinux.cfg, syslinux.cfg, extlinux.conf and every
// file reached by INCLUDE, MENU INCLUDE or CONFIG), following syslinux 6
// com32/elflink/ldlinux/readconfig.c and doc/syslinux.txt:
// - one directive per line, keyword case-insensitive, `#` at the start of a line is a comment,
//   `TEXT HELP` ... `ENDTEXT` is help text, not directives; lines longer than 4095 bytes are
//   split by the parser (MAX_LINE), so an edit never makes one that long;
// - INCLUDE and MENU INCLUDE are textual: parser state (the current LABEL, the global APPEND) carries
//   across files as if they were concatenated; CONFIG starts a new configuration;
// - a LABEL's command line is `<KERNEL line> <APPEND or else the global APPEND>` (`APPEND -` means
//   none), plus ` initrd=<INITRD>`; so arguments written after the image on the KERNEL line count;
// - the global APPEND is the last APPEND outside any LABEL before the label (MENU BEGIN/END end a
//   label).
// Edited: the APPEND of each LABEL whose kernel is a Linux image (LINUX, or KERNEL with a name that
// is not a COM32 module, boot sector, PXE or floppy image, memtest or memdisk); the global APPEND
// when it feeds at least one such label; for a Linux label with neither, its KERNEL line (adding an
// APPEND line would change the line count). Everything else is left alone.

import type { ArgSegment, ArgToken, IncludeRef, KernelCommand } from './model.js';
import { physicalLines, type PhysicalLine } from './text.js';

/** Deepest INCLUDE nesting followed (syslinux itself stops at 16). */
export const SYSLINUX_MAX_INCLUDE_DEPTH = 16;
/**
 * Most directives read, a file counted again each time it is INCLUDEd (syslinux re-reads it):
 * without it a few lines of repeated or diamond INCLUDEs read a file thousands of times, 2^16
 * times through a chain of double INCLUDEs. Shared by the configurations of one file system (see
 * SyslinuxFiles.budget), since each root reads its INCLUDEs again.
 */
export const SYSLINUX_MAX_DIRECTIVES = 1 << 17;
/** readconfig.c reads lines with fgets into a 4096-byte buffer. */
export const SYSLINUX_MAX_LINE = 4094;

export interface SyslinuxDirective {
  readonly line: PhysicalLine;
  /** Lower case; `menu include`, `menu begin`, `menu end` for MENU sub-keywords. */
  readonly keyword: string;
  /** Offset where the arguments start (after the keyword and blanks). */
  readonly argStart: number;
  readonly args: readonly ArgToken[];
}

const KERNEL_KEYWORDS = new Set(['kernel', 'linux', 'boot', 'bss', 'pxe', 'fdimage', 'comboot', 'com32', 'config', 'localboot']);
/** Images KERNEL runs as something else than a Linux kernel (doc/syslinux.txt, "KERNEL file"). */
const NON_LINUX_IMAGE = /\.(c32|cbt|com|bs|bss|0|bin|img|lkrn|efi|sys)$/i;

function blankAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c === 0x20 || c === 0x09;
}

/** Blank-separated words of text[start, end) with offsets. */
export function splitWords(text: string, start: number, end: number): ArgToken[] {
  const out: ArgToken[] = [];
  let i = start;
  while (i < end) {
    while (i < end && blankAt(text, i)) i++;
    if (i >= end) break;
    const s = i;
    while (i < end && !blankAt(text, i)) i++;
    out.push({ start: s, end: i, value: text.slice(s, i), multiline: false });
  }
  return out;
}

export function parseSyslinux(text: string): SyslinuxDirective[] {
  const out: SyslinuxDirective[] = [];
  let inText = false;
  for (const line of physicalLines(text)) {
    const words = splitWords(text, line.start, line.end);
    const first = words[0];
    if (!first) continue;
    let keyword = first.value.toLowerCase();
    if (inText) {
      if (keyword === 'endtext') inText = false;
      continue;
    }
    if (keyword.startsWith('#')) continue;
    let afterKeyword = first.end;
    if (keyword === 'menu' && words[1]) {
      keyword = `menu ${words[1].value.toLowerCase()}`;
      afterKeyword = words[1].end;
    }
    if (keyword === 'text') inText = true;
    let argStart = afterKeyword;
    while (argStart < line.end && blankAt(text, argStart)) argStart++;
    out.push({ line, keyword, argStart, args: splitWords(text, argStart, line.end) });
  }
  return out;
}

/** Includes of a syslinux file: INCLUDE and MENU INCLUDE (textual), CONFIG (a new configuration). */
export function syslinuxIncludes(text: string): IncludeRef[] {
  const out: IncludeRef[] = [];
  for (const d of parseSyslinux(text)) {
    const target = d.args[0]?.value;
    if (!target) continue;
    if (d.keyword === 'include' || d.keyword === 'menu include') out.push({ line: d.line.number, target, syntax: 'syslinux' });
    else if (d.keyword === 'config') out.push({ line: d.line.number, target, syntax: 'syslinux', newSession: true });
  }
  return out;
}

export function isLinuxImage(keyword: string, image: string): boolean {
  if (keyword !== 'linux' && keyword !== 'kernel') return false;
  const base = (image.split('/').pop() ?? image).toLowerCase();
  if (base.startsWith('memtest') || base.startsWith('memdisk')) return false;
  return keyword === 'linux' || !NON_LINUX_IMAGE.test(base);
}

export interface SyslinuxFiles {
  text(path: string): string | undefined;
  /** parseSyslinux of text(path), when the caller keeps parses across configurations. */
  directives?(path: string): readonly SyslinuxDirective[];
  /** Resolves an INCLUDE target named in `from`, with the configuration's directory `cwd`. */
  resolve(from: string, target: string, cwd: string): string | undefined;
  /** Shared by several configurations; a new one for each when absent. */
  readonly budget?: SyslinuxBudget;
}

/** Directives left to read (SYSLINUX_MAX_DIRECTIVES at first), and whether an INCLUDE was refused. */
export interface SyslinuxBudget {
  left: number;
  exhausted: boolean;
}

export function syslinuxBudget(): SyslinuxBudget {
  return { left: SYSLINUX_MAX_DIRECTIVES, exhausted: false };
}

interface Located {
  readonly path: string;
  readonly directive: SyslinuxDirective;
}

interface LabelState {
  readonly at: Located;
  kernel?: Located;
  append?: Located;
  initrd?: string;
}

interface GlobalAppend {
  readonly at: Located;
  fedLinux: boolean;
}

function appendSegment(d: SyslinuxDirective): ArgSegment {
  const only = d.args[0];
  if (d.args.length === 1 && only && only.value === '-') {
    return { tokens: [], end: only.end, placeholder: { start: only.start, end: only.end } };
  }
  const last = d.args[d.args.length - 1];
  return { tokens: d.args, end: last ? last.end : keywordEnd(d) };
}

/** End of the keyword (before the blanks) when a directive has no arguments. */
function keywordEnd(d: SyslinuxDirective): number {
  let k = d.argStart - d.line.start;
  while (k > 0 && (d.line.content[k - 1] === ' ' || d.line.content[k - 1] === '\t')) k--;
  return d.line.start + k;
}

export interface SyslinuxSessionResult {
  readonly commands: readonly KernelCommand[];
  readonly warnings: readonly string[];
  /** Files read in this configuration, in order. */
  readonly visited: readonly string[];
}

/** parseSyslinux of each file `text` gives, parsed once however often it is INCLUDEd. */
export function parsedOnce(text: (path: string) => string | undefined): (path: string) => readonly SyslinuxDirective[] {
  const parsed = new Map<string, readonly SyslinuxDirective[]>();
  return (path) => {
    let ds = parsed.get(path);
    if (!ds) {
      ds = parseSyslinux(text(path) ?? '');
      parsed.set(path, ds);
    }
    return ds;
  };
}

/**
 * Reads one configuration (a root file and its INCLUDEs, depth first, as syslinux does) and returns
 * the kernel command lines to edit.
 */
export function analyzeSyslinuxSession(root: string, files: SyslinuxFiles): SyslinuxSessionResult {
  const cwd = root.slice(0, root.lastIndexOf('/')) || '/';
  const warnings: string[] = [];
  const visited: string[] = [];
  const seen = new Set<string>();
  const directivesOf = files.directives?.bind(files) ?? parsedOnce((p) => files.text(p));
  const budget = files.budget ?? syslinuxBudget();
  const labels: LabelState[] = [];
  const globals: GlobalAppend[] = [];
  let label: LabelState | undefined;
  let global: GlobalAppend | undefined;
  const labelGlobal = new Map<LabelState, GlobalAppend | undefined>();

  const finish = (): void => {
    if (label) {
      labels.push(label);
      labelGlobal.set(label, global);
    }
    label = undefined;
  };

  // False, with a warning the first time, once reading `next` would go over the directive budget.
  const withinBudget = (path: string, d: SyslinuxDirective, next: string): boolean => {
    if (budget.exhausted) return false;
    if (files.text(next) === undefined || directivesOf(next).length <= budget.left) return true;
    budget.exhausted = true;
    warnings.push(
      `${path} line ${d.line.number}: more than ${SYSLINUX_MAX_DIRECTIVES} syslinux directives to read, a file counted once per INCLUDE; ${next} and every later INCLUDE not read`,
    );
    return false;
  };

  const visit = (path: string, stack: readonly string[]): void => {
    const text = files.text(path);
    if (text === undefined) return;
    if (!seen.has(path)) {
      seen.add(path);
      visited.push(path);
    }
    const directives = directivesOf(path);
    budget.left -= directives.length;
    for (const d of directives) {
      const at: Located = { path, directive: d };
      switch (d.keyword) {
        case 'label':
          finish();
          label = { at };
          break;
        case 'menu begin':
        case 'menu end':
          finish();
          break;
        case 'append':
          if (label) label.append = at;
          else {
            global = { at, fedLinux: false };
            globals.push(global);
          }
          break;
        case 'initrd':
          if (label) label.initrd = text.slice(d.argStart, d.line.end).trimEnd();
          break;
        case 'include':
        case 'menu include': {
          const target = d.args[0]?.value;
          if (!target) break;
          const resolved = files.resolve(path, target, cwd);
          if (!resolved || stack.includes(resolved)) break; // reported by discovery as missing or a cycle
          if (stack.length >= SYSLINUX_MAX_INCLUDE_DEPTH) {
            warnings.push(`${path} line ${d.line.number}: INCLUDE nesting deeper than ${SYSLINUX_MAX_INCLUDE_DEPTH}; ${resolved} not read`);
            break;
          }
          if (withinBudget(path, d, resolved)) visit(resolved, [...stack, resolved]);
          break;
        }
        default:
          if (KERNEL_KEYWORDS.has(d.keyword) && label) label.kernel = at;
      }
    }
  };
  visit(root, [root]);
  finish();

  // Initrds: the label's INITRD directive and `initrd=` on its command line, comma-separated
  // lists both (doc/syslinux.txt); syslinux loads them in that order.
  const listOf = (text: string | undefined): string[] =>
    (text ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  const initrdArgs = (segments: readonly ArgSegment[]): string[] =>
    segments
      .flatMap((s) => s.tokens)
      .filter((t) => t.value.toLowerCase().startsWith('initrd='))
      .flatMap((t) => listOf(t.value.slice('initrd='.length)));
  const globalInitrds = new Map<GlobalAppend, string[]>();
  const commands: KernelCommand[] = [];
  for (const l of labels) {
    const k = l.kernel;
    if (!k) continue; // a label without a kernel directive boots a file named like the label: left alone
    const image = k.directive.args[0];
    if (!image || !isLinuxImage(k.directive.keyword, image.value)) continue;
    const kernelArgs = k.directive.args.slice(1);
    const overheadBytes = 'BOOT_IMAGE='.length + image.value.length + 1 + (l.initrd ? ' initrd='.length + l.initrd.length : 0);
    const g = labelGlobal.get(l);
    if (l.append) {
      const segments: ArgSegment[] = [];
      if (kernelArgs.length > 0 && k.path === l.append.path)
        segments.push({ tokens: kernelArgs, end: (kernelArgs[kernelArgs.length - 1] as ArgToken).end });
      segments.push(appendSegment(l.append.directive));
      const initrds = [...listOf(l.initrd), ...initrdArgs(segments)];
      commands.push({
        path: l.append.path,
        line: l.append.directive.line.number,
        directive: 'append',
        kernel: image.value,
        segments,
        overheadBytes,
        initrds,
        cwd,
      });
    } else if (g) {
      g.fedLinux = true;
      const list = globalInitrds.get(g) ?? [];
      list.push(...listOf(l.initrd));
      globalInitrds.set(g, list);
    } else {
      const last = kernelArgs[kernelArgs.length - 1] ?? image;
      const segments = [{ tokens: kernelArgs, end: last.end }];
      const initrds = [...listOf(l.initrd), ...initrdArgs(segments)];
      commands.push({
        path: k.path,
        line: k.directive.line.number,
        directive: k.directive.keyword,
        kernel: image.value,
        segments,
        overheadBytes,
        initrds,
        cwd,
      });
    }
  }
  for (const g of globals) {
    if (!g.fedLinux) continue;
    const d = g.at.directive;
    const segments = [appendSegment(d)];
    const initrds = [...(globalInitrds.get(g) ?? []), ...initrdArgs(segments)];
    commands.push({
      path: g.at.path,
      line: d.line.number,
      directive: 'append',
      kernel: '(global APPEND)',
      segments,
      overheadBytes: 'BOOT_IMAGE='.length + 'vmlinuz'.length + 1,
      initrds,
      cwd,
    });
  }
  return { commands, warnings, visited };
}
