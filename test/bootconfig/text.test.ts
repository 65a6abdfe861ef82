import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { Splice } from '../../src/bootconfig/model.js';
import { applySplices } from '../../src/bootconfig/text.js';

/** Each splice on the whole text, last offset first: the plain definition applySplices must match. */
function reference(text: string, splices: readonly Splice[]): string {
  const sorted = [...splices].sort((a, b) => b.start - a.start || b.end - a.end);
  let out = text;
  for (const s of sorted) out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return out;
}

const textArb = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '\n', '\r'), maxLength: 16 });
const offset = fc.integer({ min: -3, max: 20 });
const spliceArb: fc.Arbitrary<Splice> = fc.record({ start: offset, end: offset, text: fc.constantFrom('', 'X', 'YZ', ' q') });

describe('applySplices', () => {
  test('equals splicing one by one, for any splices: adjacent, at one offset, overlapping, out of range', () => {
    fc.assert(
      fc.property(textArb, fc.array(spliceArb, { maxLength: 8 }), (text, splices) => {
        expect(applySplices(text, splices)).toBe(reference(text, splices));
      }),
      { numRuns: 5000 },
    );
  });

  test('equals splicing one by one for disjoint splices, the shape edits make', () => {
    const disjoint = fc
      .tuple(textArb, fc.array(fc.tuple(fc.nat(16), fc.nat(2), fc.constantFrom('', 'X', 'YZ')), { maxLength: 8 }))
      .map(([text, raw]) => {
        const starts = [...new Set(raw.map(([s]) => Math.min(s, text.length)))].sort((a, b) => a - b);
        const splices = starts.map((start, i) => {
          const end = Math.min(start + (raw[i]?.[1] ?? 0), starts[i + 1] ?? text.length);
          return { start, end, text: raw[i]?.[2] ?? '' };
        });
        return { text, splices: [...splices, ...splices.map((s) => ({ start: s.start, end: s.start, text: 'i' }))] };
      });
    fc.assert(
      fc.property(disjoint, ({ text, splices }) => {
        expect(applySplices(text, splices)).toBe(reference(text, splices));
      }),
      { numRuns: 5000 },
    );
  });

  test('at one offset: a replacement goes before an insertion, equal splices in reverse order of the list', () => {
    const splices = [
      { start: 2, end: 2, text: '1' },
      { start: 2, end: 4, text: 'R' },
      { start: 2, end: 2, text: '2' },
    ];
    expect(applySplices('abcdef', splices)).toBe('ab21Ref');
    expect(reference('abcdef', splices)).toBe('ab21Ref');
  });

  test('forty thousand insertions into a 360 KB text', () => {
    const n = 40_000;
    const text = 'linux /v\n'.repeat(n);
    const splices = Array.from({ length: n }, (_, i) => ({ start: i * 9 + 8, end: i * 9 + 8, text: ' quiet' }));
    expect(applySplices(text, splices)).toBe('linux /v quiet\n'.repeat(n));
  });
});
