// Command-line edits shared by `preview` and `materialize`: --append, --set k=v, --remove k.

import type { Edits } from '../bootconfig/types.js';

export const editOptions = {
  append: { type: 'string', multiple: true },
  set: { type: 'string', multiple: true },
  remove: { type: 'string', multiple: true },
  separator: { type: 'string' },
} as const;

export const editHelp = [
  '  --append "TOKENS"   kernel parameters appended to every kernel line (repeatable)',
  '  --set KEY=VALUE     replace KEY\'s value wherever it appears, else append (repeatable)',
  '  --remove KEY        remove KEY, with or without a value, from every kernel line (repeatable)',
  '  --separator before|after   grub lines with `---`: put edits before it (default) or after',
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

export function editsFromArgs(values: { append?: string[]; set?: string[]; remove?: string[]; separator?: string }): Edits {
  const set: Record<string, string> = {};
  for (const kv of values.set ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--set expects KEY=VALUE, got ${JSON.stringify(kv)}`);
    set[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const separator = values.separator;
  if (separator !== undefined && separator !== 'before' && separator !== 'after') throw new Error(`--separator must be before or after, got ${JSON.stringify(separator)}`);
  return {
    append: (values.append ?? []).flatMap(splitTokens),
    set,
    remove: values.remove ?? [],
    ...(separator ? { separator } : {}),
  };
}
