// BinaryView's integer reads against DataView's, and its bounds: every read past the end throws
// OutOfBoundsError with the absolute offset.

import { describe, expect, it } from 'vitest';
import { BinaryView } from '../src/binary.js';
import { OutOfBoundsError } from '../src/errors.js';

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

describe('BinaryView', () => {
  it('reads integers as DataView does, at every offset', () => {
    const bytes = randomBytes(4096, 7);
    bytes.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00], 100); // 2^53 - 1
    const view = new BinaryView(bytes, 1000);
    const dv = new DataView(bytes.buffer);
    for (let o = 0; o + 8 <= bytes.length; o++) {
      expect(view.u8(o)).toBe(dv.getUint8(o));
      expect(view.u16le(o)).toBe(dv.getUint16(o, true));
      expect(view.u16be(o)).toBe(dv.getUint16(o, false));
      expect(view.u32le(o)).toBe(dv.getUint32(o, true));
      expect(view.u32be(o)).toBe(dv.getUint32(o, false));
      const big = dv.getBigUint64(o, true);
      if (big <= BigInt(Number.MAX_SAFE_INTEGER)) expect(view.u64le(o)).toBe(Number(big));
      else expect(() => view.u64le(o)).toThrow(OutOfBoundsError);
    }
    expect(view.u64le(100)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('reads a sub-view relative to its start, with absolute offsets in errors', () => {
    const view = new BinaryView(randomBytes(64, 3), 2048);
    const sub = view.sub(16, 8);
    expect(sub.base).toBe(2064);
    expect(sub.u32le(4)).toBe(view.u32le(20));
    expect(() => sub.u32le(5)).toThrow(OutOfBoundsError);
    let thrown: unknown;
    try {
      sub.u16be(7);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(OutOfBoundsError);
    expect((thrown as OutOfBoundsError).offset).toBe(2071);
    expect(() => view.sub(60, 8)).toThrow(OutOfBoundsError);
    expect(() => view.u8(-1)).toThrow(OutOfBoundsError);
    expect(() => view.u8(1.5)).toThrow(OutOfBoundsError);
  });
});
