// The relay's packed batches: what a worker packs, the primary unpacks the same after a structured
// clone; strings go once; anything else (junk, a cut batch, a bad field) is left out, never thrown.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/status/relay.js';
import { packBatch, unpackBatch } from '../../src/status/relay-wire.js';

const events: RelayEvent[] = [
  [
    0,
    {
      node: 'n1',
      source: 'store',
      method: 'GET',
      start: 0,
      end: 262144,
      at: 1_764_806_400_000,
      imageSize: 540016640,
      base: 'http://up/b.iso',
      etag: '"e1"',
    },
    206,
  ],
  [1, 'n1', 0, 262144],
  [2, { node: 'n1', status: 206, at: 1_764_806_400_005 }],
  [0, { node: 'bmc-2', source: 'ironic', method: 'HEAD', start: 0, end: 0, at: 1_764_806_400_006 }, 200],
  [2, { node: 'bmc-2', status: 502, code: 'UPSTREAM_STATUS', at: 1_764_806_400_007 }],
  [0, { node: 'n1', source: 'store', method: 'GET', start: 5, end: 9 }, 206],
  [2, { node: 'n1', status: 416 }],
];

describe('relay batches on the wire', () => {
  it('unpacks what was packed, after a structured clone, with each string once', () => {
    const batch = packBatch(events);
    expect(unpackBatch(structuredClone(batch))).toEqual(events);
    expect(batch.strings.filter((s) => s === 'n1')).toHaveLength(1);
    expect(batch.numbers).toHaveLength(3 * 11 + 4 + 3 * 5 + 0);
    expect(unpackBatch(packBatch([]))).toEqual([]);
  });

  it('leaves out what does not parse', () => {
    for (const junk of [undefined, null, 5, 'x', [], [[0, {}, 1]], { strings: [], numbers: [0, 1] }, { strings: 'n1', numbers: new Float64Array(4) }])
      expect(unpackBatch(junk)).toEqual([]);
    const { strings, numbers } = packBatch(events);
    // Cut inside the fourth event: the three before it stay.
    expect(unpackBatch({ strings, numbers: numbers.subarray(0, 11 + 4 + 5 + 3) })).toEqual(events.slice(0, 3));
    // An unknown kind ends the batch there.
    const bad = Float64Array.from(numbers);
    bad[11 + 4] = 7;
    expect(unpackBatch({ strings, numbers: bad })).toEqual(events.slice(0, 2));
    // A string index off the table, or a required number that is not one: that event is skipped.
    const offTable = Float64Array.from(numbers);
    offTable[11 + 1] = 999;
    expect(unpackBatch({ strings, numbers: offTable })).toEqual([events[0], ...events.slice(2)]);
    const notANumber = Float64Array.from(numbers);
    notANumber[4] = Number.NaN;
    expect(unpackBatch({ strings, numbers: notANumber })).toEqual(events.slice(1));
    // A table entry that is not a string.
    expect(unpackBatch({ strings: [5, ...strings.slice(1)], numbers })).toEqual(events.filter((e) => (e[0] === 1 ? e[1] : e[1].node) !== 'n1'));
  });

  it('never throws on any batch, and gives only well-formed events (fuzzed)', () => {
    const entry = fc.oneof(fc.integer({ min: -2, max: 12 }), fc.double(), fc.constantFrom(0, 1, 2, -1));
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.integer())), fc.array(entry, { maxLength: 80 }), (strings, nums) => {
        const out = unpackBatch({ strings, numbers: Float64Array.from(nums) });
        for (const ev of out) {
          if (ev[0] === 1) expect(typeof ev[1] === 'string' && Number.isFinite(ev[2]) && Number.isFinite(ev[3])).toBe(true);
          else {
            expect(typeof ev[1].node).toBe('string');
            if (ev[0] === 0) expect(Number.isFinite(ev[1].start) && Number.isFinite(ev[1].end) && Number.isFinite(ev[2])).toBe(true);
            else expect(Number.isFinite(ev[1].status)).toBe(true);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
