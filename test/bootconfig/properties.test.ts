// Properties of editBootConfigs over every fixture and random valid edits: the edits round-trip
// (discovery on the edited text sees them), applying twice equals once, lines that are not
// kernel lines stay byte for byte, and the line count never changes.

import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { discoverBootConfigs, editBootConfigs, normalizeEdits } from '../../src/bootconfig/index.js';
import type { Edits } from '../../src/bootconfig/index.js';
import { analyzeBootConfigs } from '../../src/bootconfig/discover.js';
import { lineLocator, physicalLines } from '../../src/bootconfig/text.js';
import { archEntries, archSyslinux, debianInstaller, ironicAgent, rhelDvd, ubuntuLive, utilityMenu } from './fixtures.js';

const tricky = new Map([
  [
    '/boot/grub/grub.cfg',
    "if true; then linux /a quiet 'vga=1'; fi\nmenuentry x {linux /b splash -- quiet}\nlinux /c a=1 \\\n  quiet b=2\r\n# linux /d quiet\nlinux /e",
  ],
  [
    '/isolinux/isolinux.cfg',
    'APPEND boot=live quiet\r\nLABEL live\r\n  KERNEL /live/vmlinuz\r\nLABEL own\r\n  LINUX /live/vmlinuz\r\n  APPEND -\r\nLABEL hdt\r\n  COM32 hdt.c32\r\n  APPEND quiet',
  ],
]);
const SETS: [string, ReadonlyMap<string, string>][] = [
  ['debian', debianInstaller],
  ['ubuntu', ubuntuLive],
  ['rhel', rhelDvd],
  ['arch-entries', archEntries],
  ['arch-syslinux', archSyslinux],
  ['ironic', ironicAgent],
  ['utility', utilityMenu],
  ['tricky', tricky],
];

const CHARS = Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i)).filter((c) => c !== '"');
const known = fc.constantFrom(
  'quiet',
  'splash',
  'vga',
  'console',
  'inst.stage2',
  'ipa-debug',
  'archisobasedir',
  'nomodeset',
  'priority',
  'boot',
  'a',
  'b',
);
const fresh = fc.stringMatching(/^[a-z][a-z0-9._-]{0,6}$/).filter((k) => k !== 'initrd');
const value = fc.string({ unit: fc.constantFrom(...CHARS), maxLength: 12 });

const editsArb: fc.Arbitrary<Edits> = fc
  .uniqueArray(fc.oneof(known, fresh), { maxLength: 8 })
  .chain((keys) =>
    fc.tuple(
      fc.constant(keys),
      fc.array(fc.nat(2), { minLength: keys.length, maxLength: keys.length }),
      fc.array(fc.option(value, { nil: undefined }), { minLength: keys.length, maxLength: keys.length }),
      fc.constantFrom<'before' | 'after'>('before', 'after'),
    ),
  )
  .map(([keys, kinds, values, separator]) => {
    const append: string[] = [];
    const set: Record<string, string> = {};
    const remove: string[] = [];
    keys.forEach((k, i) => {
      const v = values[i];
      if (kinds[i] === 0) append.push(v === undefined ? k : `${k}=${v}`);
      else if (kinds[i] === 1) set[k] = v ?? '';
      else remove.push(k);
    });
    return { append, set, remove, separator };
  });

/** Lines that hold a token or the insertion point of some kernel command line. */
function kernelLineNumbers(files: ReadonlyMap<string, string>): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const f of analyzeBootConfigs(files).files) {
    const lineOf = lineLocator(files.get(f.path) as string);
    const lines = new Set<number>();
    for (const c of f.commands) {
      for (const s of c.segments) {
        lines.add(lineOf(s.end));
        for (const t of s.tokens) for (let o = t.start; o <= t.end; o++) lines.add(lineOf(o));
      }
    }
    out.set(f.path, lines);
  }
  return out;
}

const RUNS = { numRuns: 40 };

describe.each(SETS)('properties on %s', (_name, files) => {
  const kernelLines = kernelLineNumbers(files);

  test('edits round-trip: every set key has its value, appended tokens are present, removed keys are gone', () => {
    fc.assert(
      fc.property(editsArb, (raw) => {
        const edits = normalizeEdits(raw);
        const edited = new Map(editBootConfigs(files, edits).configs.map((c) => [c.path, c.text]));
        for (const c of discoverBootConfigs(edited).configs) {
          for (const k of c.kernels) {
            const end = k.args.indexOf('--');
            const params = end < 0 ? k.args : k.args.slice(0, end);
            const keyOf = (a: string) => a.split('=')[0];
            for (const key of edits.remove) expect(params.map(keyOf)).not.toContain(key);
            if (k.kernel === '(global APPEND)') continue;
            for (const [key, v] of edits.set) expect(params.filter((a) => keyOf(a) === key)).toContain(`${key}=${v}`);
            for (const token of edits.append) expect(params).toContain(token);
          }
        }
      }),
      RUNS,
    );
  });

  test('applying the edits twice gives the same text as once', () => {
    fc.assert(
      fc.property(editsArb, (raw) => {
        const edits = normalizeEdits(raw);
        const once = editBootConfigs(files, edits);
        const twice = editBootConfigs(new Map(once.configs.map((c) => [c.path, c.text])), edits);
        expect(twice.configs.map((c) => c.text)).toEqual(once.configs.map((c) => c.text));
        expect(twice.configs.every((c) => !c.changed)).toBe(true);
      }),
      RUNS,
    );
  });

  test('every other line is byte-identical and the line count is unchanged', () => {
    fc.assert(
      fc.property(editsArb, (raw) => {
        for (const c of editBootConfigs(files, normalizeEdits(raw)).configs) {
          const before = files.get(c.path) as string;
          const a = physicalLines(before);
          const b = physicalLines(c.text);
          expect(b.length).toBe(a.length);
          expect(c.text.split('\n').length).toBe(before.split('\n').length);
          for (const [i, line] of a.entries()) {
            if (!kernelLines.get(c.path)?.has(i + 1))
              expect(before.slice(line.start, a[i + 1]?.start ?? before.length)).toBe(c.text.slice(b[i]?.start, b[i + 1]?.start ?? c.text.length));
          }
          for (const ch of c.changes) expect(kernelLines.get(c.path)?.has(ch.line)).toBe(true);
        }
      }),
      RUNS,
    );
  });
});
