import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IntervalSet } from '../../src/status/interval-set.js';

/** The naive reference: a set of every byte offset. */
function naive(ranges: ReadonlyArray<readonly [number, number]>): Set<number> {
  const s = new Set<number>();
  for (const [a, b] of ranges) for (let i = a; i < b; i++) s.add(i);
  return s;
}

describe('IntervalSet', () => {
  it.each([
    [
      'adjacent ranges merge',
      [
        [0, 10],
        [10, 20],
      ],
      [[0, 20]],
      20,
    ],
    [
      'overlapping ranges merge',
      [
        [0, 10],
        [5, 15],
      ],
      [[0, 15]],
      15,
    ],
    [
      'a range inside another adds nothing',
      [
        [0, 100],
        [10, 20],
      ],
      [[0, 100]],
      100,
    ],
    [
      'disjoint ranges stay apart, sorted',
      [
        [50, 60],
        [0, 10],
      ],
      [
        [0, 10],
        [50, 60],
      ],
      20,
    ],
    [
      'a range bridging two merges all three',
      [
        [0, 10],
        [20, 30],
        [5, 25],
      ],
      [[0, 30]],
      30,
    ],
    [
      'a range touching both neighbours merges all three',
      [
        [0, 10],
        [20, 30],
        [10, 20],
      ],
      [[0, 30]],
      30,
    ],
    [
      'a range swallowing several merges them',
      [
        [2, 3],
        [5, 6],
        [8, 9],
        [0, 100],
      ],
      [[0, 100]],
      100,
    ],
    [
      'empty and inverted ranges are ignored',
      [
        [5, 5],
        [9, 3],
      ],
      [],
      0,
    ],
  ] as const)('%s', (_title, adds, want, covered) => {
    const s = new IntervalSet();
    for (const [a, b] of adds) s.add(a, b);
    expect(s.intervals()).toEqual(want);
    expect(s.coveredBytes).toBe(covered);
    expect(s.coarsenedBytes).toBe(0);
  });

  it('keeps one interval for a sequential read of many chunks', () => {
    const s = new IntervalSet();
    for (let off = 0; off < 64 * 1024 * 1024; off += 65536) s.add(off, off + 65536);
    expect(s.size).toBe(1);
    expect(s.coveredBytes).toBe(64 * 1024 * 1024);
  });

  it('keeps two interleaved sequential readers as two intervals', () => {
    const s = new IntervalSet();
    for (let i = 0; i < 1000; i++) {
      s.add(i * 100, i * 100 + 100);
      s.add(1e9 + i * 100, 1e9 + i * 100 + 100);
    }
    expect(s.intervals()).toEqual([
      [0, 100_000],
      [1e9, 1e9 + 100_000],
    ]);
  });

  it('coarsens past its cap by merging the smallest gap, and says by how much', () => {
    const s = new IntervalSet(3);
    s.add(0, 10);
    s.add(100, 110);
    s.add(1000, 1010);
    s.add(115, 120); // gap of 5 to [100,110): the smallest, merged
    expect(s.intervals()).toEqual([
      [0, 10],
      [100, 120],
      [1000, 1010],
    ]);
    expect(s.coarsenedBytes).toBe(5);
    expect(s.coveredBytes).toBe(10 + 20 + 10);
  });

  it('matches a byte-set reference exactly while under its cap, and stays within its bound past it', () => {
    const range = fc.tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 300 })).map(([a, n]) => [a, a + n] as const);
    fc.assert(
      fc.property(fc.array(range, { maxLength: 80 }), fc.integer({ min: 1, max: 40 }), (ranges, cap) => {
        const s = new IntervalSet(cap);
        for (const [a, b] of ranges) s.add(a, b);
        const truth = naive(ranges).size;
        const list = s.intervals();
        expect(list.length).toBeLessThanOrEqual(cap);
        // Sorted, disjoint, not adjacent.
        for (let i = 1; i < list.length; i++) expect(list[i]![0]).toBeGreaterThan(list[i - 1]![1]);
        expect(s.coveredBytes).toBe(list.reduce((n, [a, b]) => n + b - a, 0));
        expect(s.coveredBytes).toBeGreaterThanOrEqual(truth);
        expect(s.coveredBytes - s.coarsenedBytes).toBeLessThanOrEqual(truth);
        if (s.coarsenedBytes === 0) expect(s.coveredBytes).toBe(truth);
        // Every byte served is inside some interval.
        for (const [a, b] of ranges) if (b > a) expect(list.some(([x, y]) => x <= a && b <= y)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
