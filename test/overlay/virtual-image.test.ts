import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildPatchSet, PatchSetError, type Overlay } from '../../src/overlay/patch-set.js';
import { readVirtual, segmentsOf, streamVirtual } from '../../src/overlay/virtual-image.js';
import { RangeNotSatisfiableError } from '../../src/errors.js';

const BASE = Uint8Array.from({ length: 100 }, (_, i) => i);
const readBase = async (o: number, n: number) => BASE.slice(o, o + n);
const bytes = (...v: number[]) => Uint8Array.from(v);

/** The naive reference: copy the base, grow it with zeros, write every overlay. */
function naive(size: number, overlays: readonly Overlay[]): Uint8Array {
  const out = new Uint8Array(size);
  out.set(BASE.subarray(0, Math.min(BASE.length, size)));
  for (const o of overlays) out.set(o.data, o.offset);
  return out;
}

describe('buildPatchSet', () => {
  it('sorts overlays and merges adjacent ones', () => {
    const p = buildPatchSet(100, 100, [
      { offset: 12, data: bytes(2) },
      { offset: 10, data: bytes(0, 1) },
    ]);
    expect(p.overlays).toEqual([{ offset: 10, data: bytes(0, 1, 2) }]);
  });
  it('accepts overlaps that agree and rejects overlaps that disagree', () => {
    expect(
      buildPatchSet(100, 100, [
        { offset: 10, data: bytes(1, 2, 3) },
        { offset: 11, data: bytes(2, 3, 4) },
      ]).overlays,
    ).toEqual([{ offset: 10, data: bytes(1, 2, 3, 4) }]);
    expect(() =>
      buildPatchSet(100, 100, [
        { offset: 10, data: bytes(1, 2) },
        { offset: 11, data: bytes(9) },
      ]),
    ).toThrow(PatchSetError);
  });
  it('checks overlaps across the parts of a long run as a joined run would, and takes thousands chained', () => {
    // Random overlays cut from one image agree wherever they overlap; one flipped byte must not.
    let x = 5;
    const rand = (n: number) => {
      x = (x * 1103515245 + 12345) >>> 0;
      return (x >>> 8) % n;
    };
    for (let round = 0; round < 50; round++) {
      const image = Uint8Array.from({ length: 400 }, () => rand(256));
      const overlays = Array.from({ length: 30 }, () => {
        const offset = rand(380);
        return { offset, data: image.slice(offset, offset + 1 + rand(400 - offset - 1)) };
      });
      const p = buildPatchSet(400, 400, overlays);
      const out = naive(400, p.overlays);
      for (const o of overlays) expect(out.subarray(o.offset, o.offset + o.data.length)).toEqual(o.data);
      const bad = overlays[rand(30)]!;
      const flipped = bad.data.slice();
      const i = rand(flipped.length);
      flipped[i]! ^= 1;
      const others = overlays.filter((o) => o !== bad);
      const at = bad.offset + i;
      const build = () => buildPatchSet(400, 400, [...others, { offset: bad.offset, data: flipped }]);
      if (others.some((o) => o.offset <= at && at < o.offset + o.data.length)) expect(build).toThrow(PatchSetError);
      else expect(build).not.toThrow();
    }
    const chained = Array.from({ length: 5000 }, (_, i) => ({ offset: i * 100, data: new Uint8Array(200).fill(7) }));
    expect(buildPatchSet(600_000, 600_000, chained).overlays).toEqual([{ offset: 0, data: new Uint8Array(500_100).fill(7) }]);
  });
  it('rejects overlays outside the image', () => {
    expect(() => buildPatchSet(100, 100, [{ offset: 99, data: bytes(1, 2) }])).toThrow(/outside the image/);
    expect(() => buildPatchSet(100, 90, [])).toThrow(PatchSetError);
  });
  it('gives the same digest for the same overlays in any order, another for other bytes', () => {
    const a = buildPatchSet(100, 4196, [
      { offset: 1, data: bytes(1) },
      { offset: 4100, data: bytes(7) },
    ]);
    const b = buildPatchSet(100, 4196, [
      { offset: 4100, data: bytes(7) },
      { offset: 1, data: bytes(1) },
    ]);
    const c = buildPatchSet(100, 4196, [
      { offset: 4100, data: bytes(8) },
      { offset: 1, data: bytes(1) },
    ]);
    expect(a.digest).toBe(b.digest);
    expect(a.digest).not.toBe(c.digest);
    expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
  });
  it('holds only its own bytes when overlays are views of larger arrays', () => {
    // Changed runs of a whole edited file: small views of a large array.
    const file = new Uint8Array(256 * 1024).fill(9);
    const views = [
      { offset: 10, data: file.subarray(100, 116) },
      { offset: 5000, data: file.subarray(9000, 9100) },
    ];
    const p = buildPatchSet(1 << 20, 1 << 20, views);
    const same = buildPatchSet(1 << 20, 1 << 20, [
      { offset: 10, data: new Uint8Array(16).fill(9) },
      { offset: 5000, data: new Uint8Array(100).fill(9) },
    ]);
    expect(p.digest).toBe(same.digest);
    for (const o of p.overlays) expect(o.data.buffer.byteLength).toBe(116);
    expect([...p.overlays[1]!.data]).toEqual(new Array(100).fill(9));
    // What a patch-set thread's answer copies: 116 bytes, not the file.
    expect(structuredClone(p).overlays[0]!.data.buffer.byteLength).toBe(116);
  });
});

describe('segmentsOf', () => {
  const p = buildPatchSet(100, 120, [
    { offset: 0, data: bytes(9, 9) },
    { offset: 50, data: bytes(7, 7, 7) },
    { offset: 110, data: bytes(5) },
  ]);
  // Boundary table: at the start, in the middle, across an overlay's ends, in the tail, at the last byte.
  it.each([
    [0, 0, [{ kind: 'data', bytes: bytes(9) }]],
    [
      1,
      3,
      [
        { kind: 'data', bytes: bytes(9) },
        { kind: 'base', offset: 2, length: 2 },
      ],
    ],
    [
      49,
      53,
      [
        { kind: 'base', offset: 49, length: 1 },
        { kind: 'data', bytes: bytes(7, 7, 7) },
        { kind: 'base', offset: 53, length: 1 },
      ],
    ],
    [51, 51, [{ kind: 'data', bytes: bytes(7) }]],
    [
      98,
      112,
      [
        { kind: 'base', offset: 98, length: 2 },
        { kind: 'zero', length: 10 },
        { kind: 'data', bytes: bytes(5) },
        { kind: 'zero', length: 2 },
      ],
    ],
    [119, 119, [{ kind: 'zero', length: 1 }]],
  ] as const)('maps bytes %i-%i to base, overlay and tail runs', (start, end, expected) => {
    expect(segmentsOf(p, start, end)).toEqual(expected);
  });
  it('refuses a range past the end', () => {
    expect(() => segmentsOf(p, 100, 120)).toThrow(RangeNotSatisfiableError);
    expect(() => segmentsOf(p, 5, 4)).toThrow(RangeNotSatisfiableError);
  });
});

describe('reading the virtual image', () => {
  const overlayArb = fc.array(fc.record({ offset: fc.integer({ min: 0, max: 150 }), data: fc.uint8Array({ minLength: 1, maxLength: 20 }) }), {
    maxLength: 8,
  });
  it('equals the naive reference for any overlays and any range', async () => {
    await fc.assert(
      fc.asyncProperty(overlayArb, fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 200 }), async (raw, a, b) => {
        // Make overlays non-conflicting: later ones win by being cut out of earlier ones is not the
        // contract, so keep only overlays that do not intersect any kept before.
        const kept: Overlay[] = [];
        for (const o of raw) if (!kept.some((k) => o.offset < k.offset + k.data.length && k.offset < o.offset + o.data.length)) kept.push(o);
        const size = Math.max(100, ...kept.map((o) => o.offset + o.data.length)) + 8;
        const p = buildPatchSet(100, size, kept);
        const start = Math.min(a, b) % size;
        const end = Math.min(Math.max(a, b), size - 1);
        const expected = naive(size, kept).subarray(start, end + 1);
        expect(await readVirtual(p, readBase, start, end - start + 1)).toEqual(expected);
        const chunks: Uint8Array[] = [];
        const base = async function* (o: number, n: number) {
          yield BASE.slice(o, o + n);
        };
        for await (const c of streamVirtual(p, base, start, end, new AbortController().signal)) chunks.push(c);
        expect(Buffer.concat(chunks)).toEqual(Buffer.from(expected));
      }),
      { numRuns: 500 },
    );
  });
  it('ends the base stream when the consumer stops early', async () => {
    const p = buildPatchSet(100, 100, []);
    let finished = false;
    const base = async function* (o: number, n: number) {
      try {
        for (let i = o; i < o + n; i += 10) yield BASE.slice(i, i + 10);
      } finally {
        finished = true;
      }
    };
    for await (const _ of streamVirtual(p, base, 0, 99, new AbortController().signal)) break;
    expect(finished).toBe(true);
  });
});
