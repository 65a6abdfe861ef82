// Range parsing and resolution as a boundary table (RFC 9110 §14), plus conditional requests.

import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { coalesce, MAX_RANGES, parseRange, resolveRange, type RangeResolution } from '../../src/http/range.js';
import { ifRangeAllows, notModified, parseEtagList } from '../../src/http/conditional.js';

const SIZE = 1000;
const partial = (...r: Array<[number, number]>): RangeResolution => ({ kind: 'partial', ranges: r.map(([start, end]) => ({ start, end })) });
const full: RangeResolution = { kind: 'full' };
const unsat: RangeResolution = { kind: 'unsatisfiable' };

describe('resolveRange against a 1000-byte image', () => {
  const table: Array<[string | undefined, RangeResolution]> = [
    [undefined, full],
    ['bytes=0-0', partial([0, 0])],
    ['bytes=0-999', partial([0, 999])],
    ['bytes=999-999', partial([999, 999])],
    ['bytes=998-', partial([998, 999])],
    ['bytes=0-', partial([0, 999])],
    ['bytes=500-1500', partial([500, 999])],
    ['bytes=990-263133', partial([990, 999])],
    ['bytes=1000-1000', unsat],
    ['bytes=1000-', unsat],
    ['bytes=5000-6000', unsat],
    ['bytes=-1', partial([999, 999])],
    ['bytes=-1000', partial([0, 999])],
    ['bytes=-5000', partial([0, 999])],
    ['bytes=-0', unsat],
    ['bytes=1000-,-0', unsat],
    ['bytes=1000-,0-0', partial([0, 0])],
    ['BYTES = 1-2', partial([1, 2])],
    [' bytes=1-2 , 4-5 ', partial([1, 2], [4, 5])],
    ['bytes=0-1,,3-4', partial([0, 1], [3, 4])],
    ['bytes=0-9,5-19', partial([0, 19])],
    ['bytes=10-19,0-9', partial([0, 19])],
    ['bytes=20-29,0-9', partial([0, 9], [20, 29])],
    ['bytes=0-0,0-0', partial([0, 0])],
    ['bytes=10-5', full],
    ['bytes=abc', full],
    ['bytes=1-2-3', full],
    ['bytes=-', full],
    ['bytes=', full],
    ['bytes=+1-2', full],
    ['bytes=0x10-20', full],
    ['bytes=1.5-2', full],
    ['lines=0-10', full],
    ['bytes 0-10', full],
    ['bytes=99999999999999999-', full],
    [
      `bytes=${Array.from({ length: MAX_RANGES }, (_, i) => `${i * 10}-${i * 10}`).join(',')}`,
      partial(...Array.from({ length: MAX_RANGES }, (_, i): [number, number] => [i * 10, i * 10])),
    ],
    [`bytes=${Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i * 10}-${i * 10}`).join(',')}`, full],
  ];
  it.each(table)('%s', (header, expected) => {
    expect(resolveRange(header, SIZE)).toEqual(expected);
  });

  it('finds nothing satisfiable in an empty image', () => {
    expect(resolveRange('bytes=0-', 0)).toEqual(unsat);
    expect(resolveRange('bytes=-5', 0)).toEqual(unsat);
  });

  it('parses the three forms into a discriminated union', () => {
    expect(parseRange('bytes=1-2,3-,-4')).toEqual([
      { kind: 'bounded', start: 1, end: 2 },
      { kind: 'open', start: 3 },
      { kind: 'suffix', length: 4 },
    ]);
  });

  it('resolves any header to ranges inside the image, sorted and disjoint', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), fc.integer({ min: 0, max: 5000 }), (tail, size) => {
        const r = resolveRange(`bytes=${tail}`, size);
        if (r.kind !== 'partial') return;
        r.ranges.forEach((x, i) => {
          expect(x.start).toBeGreaterThanOrEqual(0);
          expect(x.end).toBeLessThan(size);
          expect(x.start).toBeLessThanOrEqual(x.end);
          if (i > 0) expect(x.start).toBeGreaterThan(r.ranges[i - 1]!.end + 1);
        });
      }),
      { numRuns: 500 },
    );
  });

  it('coalesces adjacent ranges', () => {
    expect(
      coalesce([
        { start: 0, end: 4 },
        { start: 5, end: 9 },
      ]),
    ).toEqual([{ start: 0, end: 9 }]);
  });
});

describe('conditional requests', () => {
  const v = { etag: '"b1-abc"', lastModified: new Date('2026-01-02T03:04:05.678Z') };

  it('answers 304 when If-None-Match lists the ETag (weakly) or is *', () => {
    expect(notModified({ ifNoneMatch: '"b1-abc"' }, v)).toBe(true);
    expect(notModified({ ifNoneMatch: 'W/"b1-abc"' }, v)).toBe(true);
    expect(notModified({ ifNoneMatch: '"x", "b1-abc"' }, v)).toBe(true);
    expect(notModified({ ifNoneMatch: '*' }, v)).toBe(true);
    expect(notModified({ ifNoneMatch: '"x"' }, v)).toBe(false);
  });

  it('ignores If-Modified-Since when If-None-Match is present', () => {
    expect(notModified({ ifNoneMatch: '"x"', ifModifiedSince: 'Fri, 02 Jan 2026 03:04:05 GMT' }, v)).toBe(false);
  });

  it('compares If-Modified-Since in whole seconds', () => {
    expect(notModified({ ifModifiedSince: 'Fri, 02 Jan 2026 03:04:05 GMT' }, v)).toBe(true);
    expect(notModified({ ifModifiedSince: 'Fri, 02 Jan 2026 03:04:04 GMT' }, v)).toBe(false);
    expect(notModified({ ifModifiedSince: 'not a date' }, v)).toBe(false);
  });

  it('allows a range under If-Range only for the same strong ETag or the exact date', () => {
    expect(ifRangeAllows(undefined, v)).toBe(true);
    expect(ifRangeAllows('"b1-abc"', v)).toBe(true);
    expect(ifRangeAllows('W/"b1-abc"', v)).toBe(false);
    expect(ifRangeAllows('"b0-abc"', v)).toBe(false);
    expect(ifRangeAllows('Fri, 02 Jan 2026 03:04:05 GMT', v)).toBe(true);
    expect(ifRangeAllows('Fri, 02 Jan 2026 03:04:06 GMT', v)).toBe(false);
    expect(ifRangeAllows('garbage', v)).toBe(false);
  });

  it('parses entity-tag lists and stops at garbage', () => {
    expect(parseEtagList('"a", W/"b" ,"c"')).toEqual(['"a"', 'W/"b"', '"c"']);
    expect(parseEtagList('"a", junk')).toEqual(['"a"']);
  });
});
