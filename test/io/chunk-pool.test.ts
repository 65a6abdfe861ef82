import { describe, expect, it } from 'vitest';
import { ChunkPool } from '../../src/io/chunk-pool.js';

describe('ChunkPool', () => {
  it('hands a slab out again only after it was given back', () => {
    const pool = new ChunkPool(4 * 1024);
    const a = pool.take(100, 1024);
    expect(a.length).toBe(100);
    const b = pool.take(1024, 1024);
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a);
    expect(pool.freeBytes).toBe(1024);
    const c = pool.take(1024, 1024);
    expect(c.buffer).toBe(a.buffer);
    expect(pool.freeBytes).toBe(0);
  });

  it('ignores what it did not hand out, and a second give of the same chunk', () => {
    const pool = new ChunkPool(4 * 1024);
    pool.give(new Uint8Array(1024));
    pool.give(Buffer.alloc(1024));
    expect(pool.freeBytes).toBe(0);
    const a = pool.take(1024, 1024);
    pool.give(a);
    pool.give(a);
    expect(pool.freeBytes).toBe(1024);
    // One slab, once: two takes get two different slabs.
    const x = pool.take(1024, 1024);
    const y = pool.take(1024, 1024);
    expect(x.buffer).not.toBe(y.buffer);
  });

  it('keeps at most its bound of free bytes, all sizes together', () => {
    const pool = new ChunkPool(1024);
    const chunks = [0, 1, 2, 3].map(() => pool.take(512, 512));
    for (const c of chunks) pool.give(c);
    expect(pool.freeBytes).toBe(2 * 512);
    pool.give(pool.take(256, 256));
    expect(pool.freeBytes).toBe(2 * 512);
    pool.take(512, 512);
    pool.give(pool.take(256, 256));
    expect(pool.freeBytes).toBe(512 + 256);
  });

  it('pools slabs of different sizes apart', () => {
    const pool = new ChunkPool(4096);
    pool.give(pool.take(10, 256));
    pool.give(pool.take(10, 512));
    expect(pool.freeBytes).toBe(256 + 512);
    expect(pool.take(512, 512).length).toBe(512);
    expect(pool.freeBytes).toBe(256);
  });
});
