// A unified diff of a boot config before and after its edits, for `isoproxy preview`. Edits never
// add or remove lines, so lines pair up by number; hunks carry three lines of context.

const CONTEXT = 3;

export function unifiedDiff(path: string, before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  if (a.length !== b.length) return simpleDiff(path, a, b);
  const changed: number[] = [];
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) changed.push(i);
  if (changed.length === 0) return '';
  const out = [`--- a${path}`, `+++ b${path}`];
  let i = 0;
  while (i < changed.length) {
    const start = Math.max(0, changed[i]! - CONTEXT);
    let j = i;
    while (j + 1 < changed.length && changed[j + 1]! - changed[j]! <= 2 * CONTEXT) j++;
    const end = Math.min(a.length - 1, changed[j]! + CONTEXT);
    const body: string[] = [];
    let count = 0;
    for (let k = start; k <= end; k++) {
      if (a[k] === b[k]) body.push(` ${a[k]}`);
      else body.push(`-${a[k]}`, `+${b[k]}`);
      count++;
    }
    out.push(`@@ -${start + 1},${count} +${start + 1},${count} @@`, ...body);
    i = j + 1;
  }
  return `${out.join('\n')}\n`;
}

function simpleDiff(path: string, a: string[], b: string[]): string {
  return (
    [`--- a${path}`, `+++ b${path}`, `@@ -1,${a.length} +1,${b.length} @@`, ...a.map((l) => `-${l}`), ...b.map((l) => `+${l}`)].join('\n') + '\n'
  );
}
