import { describe, expect, it } from 'vitest';
import { memorySource } from '../src/byte-source.js';
import { OutOfBoundsError } from '../src/errors.js';

describe('memorySource', () => {
  it('returns exactly the bytes asked for', async () => {
    const src = memorySource(new Uint8Array([1, 2, 3, 4]));
    expect(Array.from(await src.read(1, 2))).toEqual([2, 3]);
  });
  it('refuses reads past the end instead of returning short data', async () => {
    const src = memorySource(new Uint8Array(4));
    await expect(src.read(3, 2)).rejects.toBeInstanceOf(OutOfBoundsError);
    await expect(src.read(-1, 1)).rejects.toBeInstanceOf(OutOfBoundsError);
  });
});
