// Command-line edits shared by `preview` and `materialize`: --append, --set k=v, --remove k,
// and files for the initramfs: --file /etc/x.conf=@./local-file (a local file's bytes) or
// --file /etc/motd=text, each with an optional --file-mode (right after its --file, or as
// PATH=MODE anywhere). Local files are read as bytes and sent as contentBase64; their own mode
// on this machine is not used (the same command gives the same image on any machine).

import { readFileSync } from 'node:fs';
import type { Edits } from '../bootconfig/types.js';
import type { FileEdit } from '../bootconfig/files.js';

export const editOptions = {
  append: { type: 'string', multiple: true },
  set: { type: 'string', multiple: true },
  remove: { type: 'string', multiple: true },
  separator: { type: 'string' },
  file: { type: 'string', multiple: true },
  'file-mode': { type: 'string', multiple: true },
} as const;

export const editHelp = [
  '  --append "TOKENS"   kernel parameters appended to every kernel line (repeatable)',
  "  --set KEY=VALUE     replace KEY's value wherever it appears, else append (repeatable)",
  '  --remove KEY        remove KEY, with or without a value, from every kernel line (repeatable)',
  '  --separator before|after   grub lines with `---`: put edits before it (default) or after',
  '  --file PATH=@LOCAL  add the local file LOCAL as PATH in the booted initramfs (repeatable);',
  '                      --file PATH=TEXT adds TEXT; appended to every initrd a kernel line loads',
  '  --file-mode MODE    octal mode of the --file just before (default 0644); or PATH=MODE',
].join('\n');

/** Splits on blanks outside double quotes: `a=1 b="x y"` -> ['a=1', 'b="x y"']. */
export function splitTokens(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && (ch === ' ' || ch === '\t')) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** The option tokens of parseArgs({ tokens: true }) that filesFromArgs reads. */
export interface OptionToken {
  readonly kind: string;
  readonly name?: string;
  readonly value?: string | undefined;
}

/**
 * Files from --file and --file-mode, in the order given. A bare --file-mode MODE applies to the
 * --file before it; --file-mode PATH=MODE to that path wherever it stands. `readLocal` reads
 * `@path` values (a parameter for tests).
 */
export function filesFromArgs(tokens: readonly OptionToken[], readLocal: (path: string) => Uint8Array = (p) => readFileSync(p)): FileEdit[] {
  const files: { path: string; mode?: string; content?: string; contentBase64?: string }[] = [];
  const modes = new Map<string, string>();
  for (const t of tokens) {
    if (t.kind !== 'option' || t.value === undefined) continue;
    if (t.name === 'file') {
      const eq = t.value.indexOf('=');
      if (eq <= 0) throw new Error(`--file expects PATH=@LOCAL-FILE or PATH=TEXT, got ${JSON.stringify(t.value)}`);
      const path = t.value.slice(0, eq);
      const rest = t.value.slice(eq + 1);
      if (rest.startsWith('@')) {
        let bytes: Uint8Array;
        try {
          bytes = readLocal(rest.slice(1));
        } catch (err) {
          throw new Error(`--file ${path}: cannot read ${rest.slice(1)}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
        files.push({ path, contentBase64: Buffer.from(bytes).toString('base64') });
      } else {
        files.push({ path, content: rest });
      }
    } else if (t.name === 'file-mode') {
      const eq = t.value.indexOf('=');
      if (eq > 0) {
        modes.set(t.value.slice(0, eq), t.value.slice(eq + 1));
        continue;
      }
      const last = files[files.length - 1];
      if (!last) throw new Error(`--file-mode ${t.value} comes before any --file; put it after the --file it is for, or write --file-mode PATH=MODE`);
      if (last.mode !== undefined) throw new Error(`--file-mode given twice for ${last.path}`);
      last.mode = t.value;
    }
  }
  for (const [path, mode] of modes) {
    const f = files.find((x) => x.path === path);
    if (!f) throw new Error(`--file-mode ${path}=${mode}: no --file ${path}`);
    f.mode = mode;
  }
  return files;
}

export function editsFromArgs(
  values: { append?: string[]; set?: string[]; remove?: string[]; separator?: string },
  tokens: readonly OptionToken[] = [],
): Edits {
  const set: Record<string, string> = {};
  for (const kv of values.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects KEY=VALUE, got ${JSON.stringify(kv)}`);
    set[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const files = filesFromArgs(tokens);
  const separator = values.separator;
  if (separator !== undefined && separator !== 'before' && separator !== 'after')
    throw new Error(`--separator must be before or after, got ${JSON.stringify(separator)}`);
  return {
    append: (values.append ?? []).flatMap(splitTokens),
    set,
    remove: values.remove ?? [],
    ...(separator ? { separator } : {}),
    ...(files.length > 0 ? { files } : {}),
  };
}
