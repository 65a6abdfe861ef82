// Base copies: ranges of the virtual image that read the base's own bytes from elsewhere (how an
// initrd grows into the tail without being copied). Validated once with the overlays, mapped to
// base segments at their source offset, and equal to a naive reference for any layout and range.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildPatchSet, PatchSetError, type BaseCopy, type Overlay } from '../../src/overlay/patch-set.js';
import { readVirtual, segmentsOf, streamVirtual } from '../../src/overlay/virtual-image.js';

const BASE = Uint8Array.from({ length: 100 }, (_, i) => (i * 7 + 3) & 0xff);
const readBase = async (o: number, n: number) => BASE.slice(o, o + n);
const bytes = (...b: number[]) => new Uint8Array(b);

function naive(size: number, overlays: readonly Overlay[], copies: readonly BaseCopy[]): Uint8Array {
  const out = new Uint8Array(size);
  out.set(BASE.subarray(0, Math.min(size, BASE.length)));
  for (const c of copies) out.set(BASE.subarray(c.baseOffset, c.baseOffset + c.length), c.offset);
  for (const o of overlays) out.set(o.data, o.offset);
  return out;
}

describe('buildPatchSet with base copies', () => {
  it('sorts copies and keeps them out of the overlays', () => {
    const p = buildPatchSet(
      100,
      200,
      [{ offset: 150, data: bytes(1) }],
      [
        { offset: 160, baseOffset: 0, length: 10 },
        { offset: 100, baseOffset: 20, length: 30 },
      ],
    );
    expect(p.copies).toEqual([
      { offset: 100, baseOffset: 20, length: 30 },
      { offset: 160, baseOffset: 0, length: 10 },
    ]);
    expect(p.overlays).toHaveLength(1);
  });
  it.each([
    ['a copy past the image', [], [{ offset: 190, baseOffset: 0, length: 20 }], /outside the image/],
    ['a copy reading past the base', [], [{ offset: 100, baseOffset: 90, length: 20 }], /outside the base/],
    [
      'two copies that overlap',
      [],
      [
        { offset: 100, baseOffset: 0, length: 20 },
        { offset: 110, baseOffset: 0, length: 5 },
      ],
      /overlap/,
    ],
    ['a copy under an overlay', [{ offset: 105, data: bytes(1) }], [{ offset: 100, baseOffset: 0, length: 20 }], /overlaps the overlay/],
    ['a negative source', [], [{ offset: 100, baseOffset: -1, length: 2 }], /outside the image/],
  ] as const)('refuses %s', (_what, overlays, copies, message) => {
    expect(() => buildPatchSet(100, 200, overlays as unknown as Overlay[], copies as unknown as BaseCopy[])).toThrow(PatchSetError);
    expect(() => buildPatchSet(100, 200, overlays as unknown as Overlay[], copies as unknown as BaseCopy[])).toThrow(message);
  });
  it('keeps the digest of a patch set without copies, and changes it with any copy field', () => {
    const o = [{ offset: 3, data: bytes(1) }];
    expect(buildPatchSet(100, 200, o).digest).toBe(buildPatchSet(100, 200, o, []).digest);
    const digests = [
      buildPatchSet(100, 200, o).digest,
      buildPatchSet(100, 200, o, [{ offset: 100, baseOffset: 0, length: 10 }]).digest,
      buildPatchSet(100, 200, o, [{ offset: 100, baseOffset: 1, length: 10 }]).digest,
      buildPatchSet(100, 200, o, [{ offset: 100, baseOffset: 0, length: 11 }]).digest,
      buildPatchSet(100, 200, o, [{ offset: 101, baseOffset: 0, length: 10 }]).digest,
    ];
    expect(new Set(digests).size).toBe(5);
  });
});

describe('segmentsOf with base copies', () => {
  // An initrd of 30 base bytes at 20..50 moved to the tail at 100, followed by 4 overlay bytes.
  const p = buildPatchSet(100, 140, [{ offset: 130, data: bytes(1, 2, 3, 4) }], [{ offset: 100, baseOffset: 20, length: 30 }]);
  it.each([
    [
      98,
      101,
      [
        { kind: 'base', offset: 98, length: 2 },
        { kind: 'base', offset: 20, length: 2 },
      ],
    ],
    [110, 110, [{ kind: 'base', offset: 30, length: 1 }]],
    [
      125,
      135,
      [
        { kind: 'base', offset: 45, length: 5 },
        { kind: 'data', bytes: bytes(1, 2, 3, 4) },
        { kind: 'zero', length: 2 },
      ],
    ],
    [
      129,
      130,
      [
        { kind: 'base', offset: 49, length: 1 },
        { kind: 'data', bytes: bytes(1) },
      ],
    ],
  ] as const)('maps bytes %i-%i', (start, end, expected) => {
    expect(segmentsOf(p, start, end)).toEqual(expected);
  });
});

describe('reading a virtual image with base copies', () => {
  const pieceArb = fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('o' as const), len: fc.integer({ min: 1, max: 12 }), seed: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant('c' as const), len: fc.integer({ min: 1, max: 40 }), from: fc.integer({ min: 0, max: 99 }) }),
      fc.record({ kind: fc.constant('gap' as const), len: fc.integer({ min: 1, max: 15 }) }),
    ),
    { maxLength: 10 },
  );
  it('equals the naive reference for any overlays, copies and range', async () => {
    await fc.assert(
      fc.asyncProperty(pieceArb, fc.nat(), fc.nat(), async (pieces, a, b) => {
        const overlays: Overlay[] = [];
        const copies: BaseCopy[] = [];
        let at = 0;
        for (const piece of pieces) {
          if (piece.kind === 'o') overlays.push({ offset: at, data: Uint8Array.from({ length: piece.len }, (_, i) => (piece.seed + i) & 0xff) });
          if (piece.kind === 'c') {
            const length = Math.min(piece.len, 100 - piece.from);
            copies.push({ offset: at, baseOffset: piece.from, length });
            at += length;
            continue;
          }
          at += piece.len;
        }
        const size = Math.max(at, 100) + 5;
        const p = buildPatchSet(100, size, overlays, copies);
        const start = a % size;
        const end = start + (b % (size - start));
        const expected = naive(size, overlays, copies).subarray(start, end + 1);
        expect(await readVirtual(p, readBase, start, end - start + 1)).toEqual(expected);
        const chunks: Uint8Array[] = [];
        const base = async function* (o: number, n: number) {
          yield BASE.slice(o, o + n);
        };
        for await (const c of streamVirtual(p, base, start, end, new AbortController().signal)) chunks.push(c);
        expect(Buffer.concat(chunks)).toEqual(Buffer.from(expected));
      }),
      { numRuns: 400 },
    );
  });
});
