import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changedRuns } from '../../src/remaster/compute.js';

const b = (s: string) => Buffer.from(s, 'latin1');

describe('changedRuns', () => {
  it('emits only the bytes that differ, merging differences closer than 32 bytes', () => {
    const old = b(`${'a'.repeat(100)}${'b'.repeat(100)}`);
    const next = b(`${'a'.repeat(10)}X${'a'.repeat(10)}Y${'a'.repeat(78)}${'b'.repeat(50)}Z${'b'.repeat(49)}`);
    expect(changedRuns(old, next).map((r) => [r.offset, Buffer.from(r.data).toString('latin1')])).toEqual([
      [10, `X${'a'.repeat(10)}Y`],
      [150, 'Z'],
    ]);
  });
  it('emits growth past the old end, joined to a difference just before it', () => {
    expect(changedRuns(b('abcdef'), b('abcdef+more')).map((r) => [r.offset, Buffer.from(r.data).toString()])).toEqual([[6, '+more']]);
    expect(changedRuns(b('abcdef'), b('abcdeX+more')).map((r) => [r.offset, Buffer.from(r.data).toString()])).toEqual([[5, 'X+more']]);
  });
  it('applied to the old bytes always gives the new bytes (within the new length)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (old, next) => {
        const out = new Uint8Array(Math.max(old.length, next.length));
        out.set(old);
        for (const r of changedRuns(old, next)) out.set(r.data, r.offset);
        expect(out.subarray(0, next.length)).toEqual(next);
      }),
      { numRuns: 500 },
    );
  });
  it('compares only the given ranges, and gives what comparing everything gives when the rest is equal', () => {
    // Ranges: sorted, apart; the new bytes differ from the old only inside them.
    const ranges = fc.array(fc.tuple(fc.nat(80), fc.integer({ min: 1, max: 40 })), { maxLength: 6 }).map((steps) => {
      const out: [number, number][] = [];
      let at = 0;
      for (const [gap, length] of steps) {
        out.push([at + gap, at + gap + length]);
        at += gap + length;
      }
      return out;
    });
    fc.assert(
      fc.property(
        ranges,
        fc.uint8Array({ minLength: 400, maxLength: 400 }),
        fc.uint8Array({ minLength: 400, maxLength: 400 }),
        (spans, old, noise) => {
          const next = old.slice();
          for (const [from, to] of spans) for (let i = from; i < Math.min(to, next.length); i++) next[i] = noise[i]!;
          expect(changedRuns(old, next, spans)).toEqual(changedRuns(old, next));
        },
      ),
      { numRuns: 1000 },
    );
    // Outside the ranges nothing is looked at.
    expect(changedRuns(b('abcdef'), b('XbcdeY'), [[5, 6]]).map((r) => r.offset)).toEqual([5]);
  });
});
