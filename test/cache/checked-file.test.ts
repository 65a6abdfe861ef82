import { open, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_PIECE_BYTES, checkWhole, fileState, recordCheck, stillChecked, type CheckRecord } from '../../src/cache/checked-file.js';
import { chunkPool } from '../../src/io/chunk-pool.js';
import { scratchDir } from '../helpers/tools.js';

let scratch: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  scratch = await scratchDir('checked-file');
});
afterAll(async () => scratch.cleanup());

const bytes = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 31) & 0xff));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('checked files', () => {
  it('checks length and CRC', async () => {
    const path = join(scratch.dir, 'a');
    await writeFile(path, bytes);
    const h = await open(path, 'r');
    try {
      expect(await checkWhole(h, bytes.length, crc32(bytes) >>> 0)).toBeUndefined();
      expect(await checkWhole(h, bytes.length, (crc32(bytes) + 1) >>> 0)).toBe('block checksum mismatch');
      expect(await checkWhole(h, bytes.length + 1, crc32(bytes) >>> 0)).toBe('block file short');
    } finally {
      await h.close();
    }
  });

  it('checks a block piece by piece, holding one piece of memory, and finds a flip in its last piece', async () => {
    const block = Buffer.from(Array.from({ length: 2 * 1024 * 1024 + 123 }, (_, i) => (i * 7 + (i >> 11)) & 0xff));
    const path = join(scratch.dir, 'pieces');
    await writeFile(path, block);
    const h = await open(path, 'r+');
    try {
      const before = chunkPool.freeBytes;
      expect(await checkWhole(h, block.length, crc32(block) >>> 0)).toBeUndefined();
      expect(chunkPool.freeBytes - before).toBeLessThanOrEqual(CHECK_PIECE_BYTES);
      await h.write(Buffer.from([block[block.length - 1]! ^ 1]), 0, 1, block.length - 1);
      expect(await checkWhole(h, block.length, crc32(block) >>> 0)).toBe('block checksum mismatch');
      expect(await checkWhole(h, block.length + CHECK_PIECE_BYTES, crc32(block) >>> 0)).toBe('block file short');
      expect(await checkWhole(h, 0, 0)).toBeUndefined();
    } finally {
      await h.close();
    }
  });

  it('trusts a checked file until it changes, and a check of a fresh change only provisionally', async () => {
    const path = join(scratch.dir, 'b');
    await writeFile(path, bytes);
    const h = await open(path, 'r');
    try {
      const rec: CheckRecord = {};
      const fresh = fileState(h);
      expect(fresh.settled).toBe(false);
      recordCheck(rec, fresh, bytes.length);
      // Within the second after the change: trusted provisionally.
      expect(stillChecked(rec, fileState(h), bytes.length)).toBe(true);
      // A file a second old: the provisional check no longer counts (made again, then settled).
      const old = new Date(Date.now() - 5_000);
      await utimes(path, old, old);
      await sleep(1_100);
      const later = fileState(h);
      expect(later.settled).toBe(true);
      expect(stillChecked(rec, later, bytes.length)).toBe(false);
      recordCheck(rec, later, bytes.length);
      expect(stillChecked(rec, fileState(h), bytes.length)).toBe(true);
      // A write of one byte in place (same size, same inode) is a change: checked again.
      const flipped = Buffer.from(await readFile(path));
      flipped[100] = flipped[100]! ^ 1;
      await writeFile(path, flipped);
      expect(stillChecked(rec, fileState(h), bytes.length)).toBe(false);
      // The wrong length never counts.
      expect(stillChecked(rec, fileState(h), bytes.length - 1)).toBe(false);
    } finally {
      await h.close();
    }
  });
});
