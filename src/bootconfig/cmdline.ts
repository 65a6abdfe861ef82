// The one edit engine: applies normalized edits to a kernel command line found by a syntax parser
// (KernelCommand: argument tokens with offsets), producing splices of the file's text.
//
// Policy (the same for grub, syslinux and systemd-boot):
// - remove: every argument whose name (text before '=') is the key goes, with the blanks before it.
// - set: every argument with the key gets the new value in place (so syslinux `initrd=` stays
//   first where it was); if none has it, key=value is appended like an append token.
// - append: a token already present verbatim is not appended again (idempotence).
// - arguments after `--` are init's, not the kernel's (linux/init/main.c): never matched, and new
//   tokens always go before `--`.
// - `---` (Debian/Ubuntu installers: what follows is copied to the installed system): new tokens go
//   just before it by default (separator 'before'), or at the end with separator 'after'.
// - a token whose raw text spans lines (grub quotes or `\` continuation) is never rewritten, since
//   that would change the line count; it is reported as a warning.
// - the resulting line, with what the bootloader adds (BOOT_IMAGE=, initrd=), must fit the limit.

import { EditValidationError } from '../errors.js';
import { argKey } from './edits.js';
import type { ArgToken, KernelCommand, NormalizedEdits, Splice } from './model.js';

export interface CommandEditResult {
  readonly splices: readonly Splice[];
  readonly warnings: readonly string[];
}

function isBlank(c: string | undefined): boolean {
  return c === ' ' || c === '\t';
}

/** The deletion of a token and the blanks before it (or after it, at the start of a line). */
function removal(text: string, tok: ArgToken): Splice {
  let start = tok.start;
  while (start > 0 && isBlank(text[start - 1])) start--;
  let end = tok.end;
  if (start === tok.start) while (end < text.length && isBlank(text[end])) end++;
  return { start, end, text: '' };
}

export function editCommand(
  text: string,
  cmd: KernelCommand,
  edits: NormalizedEdits,
  quote: (arg: string) => string,
  maxCmdlineBytes: number,
): CommandEditResult {
  const warnings: string[] = [];
  const where = `${cmd.path} line ${cmd.line}`;
  const all = cmd.segments.flatMap((s) => s.tokens);
  const initAt = all.findIndex((t) => t.value === '--');
  const params = initAt < 0 ? all : all.slice(0, initAt);

  const splices: Splice[] = [];
  const values = new Map<ArgToken, string | null>(); // new value, null when removed
  const untouchable = (tok: ArgToken, why: string): boolean => {
    if (!tok.multiline) return false;
    warnings.push(`${where}: cannot ${why} ${JSON.stringify(tok.value)}: its text spans lines`);
    return true;
  };

  for (const tok of params) {
    if (edits.remove.includes(argKey(tok.value)) && !untouchable(tok, 'remove')) {
      splices.push(removal(text, tok));
      values.set(tok, null);
    }
  }

  const pending: string[] = [];
  for (const [key, value] of edits.set) {
    const arg = `${key}=${value}`;
    const matches = params.filter((t) => argKey(t.value) === key);
    if (matches.length === 0) pending.push(arg);
    for (const tok of matches) {
      if (tok.value === arg || untouchable(tok, 'set')) continue;
      splices.push({ start: tok.start, end: tok.end, text: quote(arg) });
      values.set(tok, arg);
    }
  }
  for (const token of edits.append) {
    if (!params.some((t) => t.value === token && values.get(t) !== null) && !pending.includes(token)) pending.push(token);
  }

  if (pending.length > 0) {
    const raw = pending.map(quote).join(' ');
    const sep = edits.separator === 'before' ? params.find((t) => t.value === '---') : undefined;
    const before = sep ?? (initAt >= 0 ? all[initAt] : undefined);
    const last = cmd.segments[cmd.segments.length - 1];
    if (before) splices.push({ start: before.start, end: before.start, text: `${raw} ` });
    else if (last && last.tokens.length === 0 && last.placeholder) splices.push({ ...last.placeholder, text: raw });
    else if (last) splices.push({ start: last.end, end: last.end, text: ` ${raw}` });
  }

  if (splices.length > 0) {
    const length = (vals: readonly string[]): number => cmd.overheadBytes + vals.reduce((n, v) => n + v.length + 1, 0) - (vals.length > 0 ? 1 : 0);
    const beforeLen = length(all.map((t) => t.value));
    const afterVals = all.map((t) => (values.has(t) ? values.get(t) : t.value)).filter((v): v is string => typeof v === 'string');
    const afterLen = length([...afterVals, ...pending]);
    if (afterLen > maxCmdlineBytes && afterLen > beforeLen) {
      const culprit = pending[0] ?? edits.set[0]?.[0] ?? 'edits';
      throw new EditValidationError(
        argKey(culprit),
        `the kernel command line at ${where} would be ${afterLen} bytes, over the ${maxCmdlineBytes}-byte limit`,
      );
    }
  }
  return { splices, warnings };
}
