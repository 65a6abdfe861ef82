import { describe, expect, it } from 'vitest';
import { SmallReads } from '../../src/cache/small-reads.js';

const BLOCK = 1024 * 1024;
const block = (index: number): Uint8Array => Buffer.alloc(BLOCK, index + 1);

describe('SmallReads', () => {
  it('serves small reads within one block from one load, as copies the reader may change', async () => {
    const small = new SmallReads(BLOCK);
    let loads = 0;
    const load = async (index: number) => {
      loads++;
      return block(index);
    };
    const a = await small.read('v', 512, 92, load);
    expect(a).toEqual(new Uint8Array(92).fill(1));
    // A reader patching what it got (a checksum field zeroed to recompute it) changes nothing kept.
    a!.fill(0);
    expect(await small.read('v', 512, 92, load)).toEqual(new Uint8Array(92).fill(1));
    expect(await small.read('v', BLOCK + 10, 10, load)).toEqual(new Uint8Array(10).fill(2));
    expect(loads).toBe(2);
  });

  it('leaves large reads, reads across blocks and blocks it cannot load to the caller', async () => {
    const small = new SmallReads(BLOCK);
    const load = async (index: number) => block(index);
    expect(await small.read('v', 0, 64 * 1024 + 1, load)).toBeUndefined();
    expect(await small.read('v', BLOCK - 10, 20, load)).toBeUndefined();
    expect(await small.read('v', 0, 0, load)).toBeUndefined();
    let tries = 0;
    const missing = async () => {
      tries++;
      return undefined;
    };
    expect(await small.read('w', 0, 10, missing)).toBeUndefined();
    // Not remembered as missing: the next read tries again (the block may be on disk by then).
    expect(await small.read('w', 0, 10, missing)).toBeUndefined();
    expect(tries).toBe(2);
  });

  it('drops a block once it has gone unread for a while, and loads it again when asked', async () => {
    const small = new SmallReads(BLOCK, 100);
    let loads = 0;
    const load = async (index: number) => {
      loads++;
      return block(index);
    };
    await small.read('v', 0, 4, load);
    // Read again within the idle time: kept, and its idle time starts over.
    await new Promise((r) => setTimeout(r, 60));
    await small.read('v', 8, 4, load);
    await new Promise((r) => setTimeout(r, 60));
    expect(small.size).toBe(1);
    await new Promise((r) => setTimeout(r, 150));
    expect(small.size).toBe(0);
    expect(await small.read('v', 0, 4, load)).toEqual(new Uint8Array(4).fill(1));
    expect(loads).toBe(2);
  });

  it('keeps versions apart', async () => {
    const small = new SmallReads(BLOCK);
    expect(await small.read('v1', 0, 4, async () => Buffer.alloc(BLOCK, 7))).toEqual(new Uint8Array(4).fill(7));
    expect(await small.read('v2', 0, 4, async () => Buffer.alloc(BLOCK, 9))).toEqual(new Uint8Array(4).fill(9));
  });
});
