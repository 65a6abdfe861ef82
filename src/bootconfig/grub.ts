// GRUB 2 script (grub.cfg, loopback.cfg, files reached by `source`/`configfile`): a lexer that
// follows grub-core/script/yylex.l closely enough to find commands and their words, and the
// kernel lines (`linux`, `linuxefi`, `linux16`) and includes in them.
//
// Lexing as GRUB does: words are separated by blanks; newline, `;`, `&`, `|`, `<`, `>`, `{` and
// `}` end a command (the last two are tokens of their own wherever they stand, so
// `menuentry x {linux /v}` holds a kernel line); `#` at the start of a word opens a comment; single
// quotes are literal; double quotes take `\` escapes of `$ " \ newline`; outside quotes `\` escapes
// the next character and `\` newline continues the line; `$name` and `${name}` stay as written.
// `then`, `do`, `else` (and `!`) lead into the command that follows them on the same line.
// A kernel line whose image is memtest86+ is not a Linux kernel line.

import type { ArgToken, IncludeRef, KernelCommand } from './model.js';
import { lineLocator } from './text.js';

export interface GrubWord extends ArgToken {}

export interface GrubCommandWords {
  readonly words: readonly GrubWord[];
}

const SEPARATORS = new Set(['\n', ';', '&', '|', '<', '>', '{', '}']);
const KEYWORD_PREFIXES = new Set(['then', 'do', 'else', '!']);
export const GRUB_KERNEL_COMMANDS = new Set(['linux', 'linuxefi', 'linux16']);

/** grub commands that read another config file, and the syntax of that file. */
const INCLUDE_COMMANDS = new Map<string, 'grub' | 'syslinux'>([
  ['source', 'grub'],
  ['configfile', 'grub'],
  ['normal', 'grub'],
  ['extract_entries_source', 'grub'],
  ['extract_entries_configfile', 'grub'],
  ['syslinux_source', 'syslinux'],
  ['syslinux_configfile', 'syslinux'],
]);

/** Splits a grub script into commands of words (with offsets and unquoted values). */
export function lexGrub(text: string): GrubCommandWords[] {
  const commands: GrubCommandWords[] = [];
  let words: GrubWord[] = [];
  let start = -1;
  let value = '';
  let multiline = false;
  const endWord = (end: number): void => {
    if (start >= 0) words.push({ start, end, value, multiline });
    start = -1;
    value = '';
    multiline = false;
  };
  const endCommand = (): void => {
    if (words.length > 0) commands.push({ words });
    words = [];
  };
  const begin = (i: number): void => {
    if (start < 0) start = i;
  };

  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
      endWord(i);
      i++;
    } else if (SEPARATORS.has(c)) {
      endWord(i);
      endCommand();
      i++;
    } else if (c === '#' && start < 0) {
      while (i < n && text[i] !== '\n') i++;
    } else if (c === '\\') {
      const next = text[i + 1];
      if (next === '\n' || (next === '\r' && text[i + 2] === '\n')) {
        // Line continuation: the word (if any) goes on across the line break.
        if (start >= 0) multiline = true;
        i += next === '\n' ? 2 : 3;
      } else {
        begin(i);
        if (next !== undefined) value += next;
        i += 2;
      }
    } else if (c === "'") {
      begin(i);
      const close = text.indexOf("'", i + 1);
      const end = close < 0 ? n : close;
      const body = text.slice(i + 1, end);
      if (body.includes('\n')) multiline = true;
      value += body;
      i = end + 1;
    } else if (c === '"') {
      begin(i);
      i++;
      while (i < n && text[i] !== '"') {
        const d = text[i] as string;
        if (d === '\\' && i + 1 < n) {
          const e = text[i + 1] as string;
          if (e === '\n') {
            multiline = true;
            i += 2;
            continue;
          }
          if (e === '$' || e === '"' || e === '\\') {
            value += e;
            i += 2;
            continue;
          }
        }
        if (d === '\n') multiline = true;
        value += d;
        i++;
      }
      i++;
    } else if (c === '$') {
      begin(i);
      let j = i + 1;
      if (text[j] === '{') {
        const close = text.indexOf('}', j);
        j = close < 0 ? n : close + 1;
      } else {
        while (j < n && /[A-Za-z0-9_?#@*]/.test(text[j] as string)) j++;
      }
      const raw = text.slice(i, j);
      if (raw.includes('\n')) multiline = true;
      value += raw;
      i = j;
    } else {
      begin(i);
      value += c;
      i++;
    }
  }
  endWord(n);
  endCommand();
  return commands;
}

/** The words of a command with leading `then`/`do`/`else`/`!` removed. */
function commandWords(cmd: GrubCommandWords): readonly GrubWord[] {
  let k = 0;
  while (k < cmd.words.length && KEYWORD_PREFIXES.has((cmd.words[k] as GrubWord).value)) k++;
  return cmd.words.slice(k);
}

export interface GrubAnalysis {
  readonly commands: readonly KernelCommand[];
  readonly includes: readonly IncludeRef[];
  /**
   * Files the `initrd` commands load (`initrd`, `initrdefi`, `initrd16`), as written, with their
   * line. Options (`--nounzip`) and grub's `newc:` wrappers (a file grub packs into a cpio member
   * itself, not an initrd image) are left out.
   */
  readonly initrds: ReadonlyArray<{ readonly line: number; readonly target: string }>;
}

export const GRUB_INITRD_COMMANDS = new Set(['initrd', 'initrdefi', 'initrd16']);

export function analyzeGrub(path: string, text: string): GrubAnalysis {
  const lineOf = lineLocator(text);
  const commands: KernelCommand[] = [];
  const includes: IncludeRef[] = [];
  const initrds: { line: number; target: string }[] = [];
  for (const cmd of lexGrub(text)) {
    const words = commandWords(cmd);
    const head = words[0];
    if (!head) continue;
    if (GRUB_INITRD_COMMANDS.has(head.value)) {
      for (const w of words.slice(1)) {
        if (w.value.startsWith('-') || w.value.startsWith('newc:')) continue;
        initrds.push({ line: lineOf(w.start), target: w.value });
      }
      continue;
    }
    if (GRUB_KERNEL_COMMANDS.has(head.value)) {
      const kernel = words[1];
      // memtest86+ is loaded with linux16/linux on Ubuntu and Fedora media: not a Linux kernel.
      if (!kernel || /^memtest/i.test(kernel.value.split('/').pop() ?? '')) continue;
      const args = words.slice(2);
      const last = args[args.length - 1] ?? kernel;
      commands.push({
        path,
        line: lineOf(head.start),
        directive: head.value,
        kernel: kernel.value,
        segments: [{ tokens: args, end: last.end }],
        // grub's linux loader puts "BOOT_IMAGE=<path> " in front (grub-core/loader/i386/linux.c).
        overheadBytes: 'BOOT_IMAGE='.length + kernel.value.length + 1,
      });
      continue;
    }
    const syntax = INCLUDE_COMMANDS.get(head.value);
    if (syntax) {
      const target = words.slice(1).find((w) => !w.value.startsWith('-'));
      if (target) includes.push({ line: lineOf(head.start), target: target.value, syntax });
    }
  }
  return { commands, includes, initrds };
}

const SAFE = /^[A-Za-z0-9_.,:/=+@%^~!-]+$/;

/** Quotes an argument for a grub command line so it reaches the kernel literally. */
export function quoteGrubArg(arg: string): string {
  if (SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}
