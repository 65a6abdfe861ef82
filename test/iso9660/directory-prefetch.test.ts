// Directory extents read ahead of the walk: the index is the same with and without, reads overlap,
// nothing is read twice, and what the prefetcher holds stays bounded. The images are made by
// xorriso; the unit tests feed the prefetcher a source of zeros (extents that list nothing).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openFileSource, type ByteSource, type FileSource } from '../../src/byte-source.js';
import { DirectoryPrefetch, PREFETCH_BYTES, PREFETCH_READS } from '../../src/iso9660/directory-prefetch.js';
import { FLAG_DIRECTORY, listedDirectories, parseDirectoryExtent, type DirectoryRecord } from '../../src/iso9660/directory-record.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';

const SECTOR = 2048;

/** A source that counts its reads, the most in flight at once, and can hold answers back. */
function countingSource(inner: ByteSource, options: { fail?: (offset: number) => boolean } = {}) {
  const stats = { reads: 0, bytes: 0, inFlight: 0, maxInFlight: 0, offsets: [] as number[] };
  const source: ByteSource = {
    size: inner.size,
    async read(offset, length, signal) {
      stats.reads++;
      stats.bytes += length;
      stats.offsets.push(offset);
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        // A turn of the event loop per read, as a real source takes: reads issued together overlap.
        await new Promise((r) => setImmediate(r));
        if (options.fail?.(offset)) throw new Error(`read at ${offset} failed`);
        return await inner.read(offset, length, signal);
      } finally {
        stats.inFlight--;
      }
    },
  };
  return { source, stats };
}

const zeros = (size: number): ByteSource => ({ size, read: async (_o, length) => new Uint8Array(length) });

function dirRecord(lba: number, dataLength: number): DirectoryRecord {
  return { lba, dataLength, flags: FLAG_DIRECTORY, special: undefined } as unknown as DirectoryRecord;
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
};

describe('DirectoryPrefetch', () => {
  it('keeps at most PREFETCH_READS reads in flight and PREFETCH_BYTES held, and reads more as the walk takes', async () => {
    const extent = 64 * 1024;
    const count = 2 * (PREFETCH_BYTES / extent);
    const { source, stats } = countingSource(zeros(count * extent + SECTOR));
    const p = new DirectoryPrefetch(source);
    p.follow(Array.from({ length: count }, (_, i) => dirRecord(i * (extent / SECTOR), extent)));
    expect(stats.inFlight).toBe(PREFETCH_READS);
    await settle();
    expect(stats.maxInFlight).toBe(PREFETCH_READS);
    // Nothing taken: it stops at its byte budget.
    expect(stats.bytes).toBe(PREFETCH_BYTES);
    const first = await p.take(0, extent);
    expect(first?.length).toBe(extent);
    await settle();
    expect(stats.bytes).toBe(PREFETCH_BYTES + extent);
    // Taken once; a different length is not this extent.
    expect(p.take(0, extent)).toBeUndefined();
    expect(p.take(extent, SECTOR)).toBeUndefined();
    p.stop();
    expect(p.take(extent, extent)).toBeUndefined();
  });

  it('reads each extent once, skips what is too large or outside the source, and answers a failed read with undefined', async () => {
    const { source, stats } = countingSource(zeros(100 * SECTOR), { fail: (o) => o === 3 * SECTOR });
    const p = new DirectoryPrefetch(source);
    p.follow([dirRecord(2, SECTOR), dirRecord(2, SECTOR), dirRecord(3, SECTOR), dirRecord(200, SECTOR), dirRecord(4, 64 * 1024 * 1024)]);
    p.follow([dirRecord(2, SECTOR)]);
    await settle();
    expect(stats.offsets).toEqual([2 * SECTOR, 3 * SECTOR]);
    expect(await p.take(3 * SECTOR, SECTOR)).toBeUndefined();
    expect((await p.take(2 * SECTOR, SECTOR))?.length).toBe(SECTOR);
  });

  it('takes a source that throws instead of rejecting as a failed read', async () => {
    const throwing: ByteSource = {
      size: 100 * SECTOR,
      read() {
        throw new Error('thrown, not rejected');
      },
    };
    const p = new DirectoryPrefetch(throwing);
    expect(() => p.follow([dirRecord(2, SECTOR)])).not.toThrow();
    expect(await p.take(2 * SECTOR, SECTOR)).toBeUndefined();
  });

  it('reads nothing once stopped', async () => {
    const { source, stats } = countingSource(zeros(100 * SECTOR));
    const p = new DirectoryPrefetch(source);
    p.stop();
    p.follow([dirRecord(2, SECTOR)]);
    await settle();
    expect(stats.reads).toBe(0);
  });
});

const needed = missingTools('xorriso');
if (needed.length > 0) console.warn(`skipping directory prefetch cross-checks: missing ${needed.join(', ')}`);

describe.skipIf(needed.length > 0)('buildIndex with directory prefetch', () => {
  let dir = '';
  let cleanup = async () => {};
  const opened: FileSource[] = [];
  let iso = '';
  const DIRS = 6;

  beforeAll(async () => {
    ({ dir, cleanup } = await scratchDir('isoproxy-prefetch-'));
    const tree = join(dir, 'tree');
    // 6 + 36 + 216 directories, a file in each leaf: several hundred extents per tree.
    for (let a = 0; a < DIRS; a++)
      for (let b = 0; b < DIRS; b++)
        for (let c = 0; c < DIRS; c++) {
          const d = join(tree, `dir-${a}`, `sub-${b}`, `leaf-${c}`);
          await mkdir(d, { recursive: true });
          await writeFile(join(d, 'file.txt'), `${a}/${b}/${c}\n`);
        }
    iso = join(dir, 'many-dirs.iso');
    await run('xorriso', ['-as', 'mkisofs', '-R', '-J', '-V', 'MANY_DIRS', '-o', iso, tree]);
  }, 120_000);
  afterAll(async () => {
    for (const s of opened) await s.close();
    await cleanup();
  });

  const source = async () => {
    const s = await openFileSource(iso);
    opened.push(s);
    return s;
  };

  it('gives the index it gives without, reading the same bytes once, with reads overlapping', async () => {
    const without = countingSource(await source());
    const with_ = countingSource(await source());
    const a = await buildIndex(without.source, { directoryPrefetch: false });
    const b = await buildIndex(with_.source);
    expect(b).toEqual(a);
    expect(b.bytesRead).toBe(a.bytesRead);
    expect(a.directories.length).toBeGreaterThanOrEqual(1 + DIRS + DIRS ** 2 + DIRS ** 3);
    expect(without.stats.maxInFlight).toBe(1);
    expect(with_.stats.maxInFlight).toBeGreaterThan(4);
    expect(with_.stats.maxInFlight).toBeLessThanOrEqual(PREFETCH_READS + 1);
    // Every extent the prefetcher read, the walk took: no byte read twice.
    expect(with_.stats.reads).toBe(without.stats.reads);
    expect(with_.stats.bytes).toBe(without.stats.bytes);
  });

  it('lists from each extent the directories its parsed records name', async () => {
    const src = await source();
    const idx = await buildIndex(src, { directoryPrefetch: false });
    for (const d of idx.directories) {
      const start = d.extent.lba * SECTOR;
      const bytes = await src.read(start, d.extent.lengthBytes);
      const listed: { offset: number; length: number }[] = [];
      listedDirectories(bytes, listed);
      const parsed = parseDirectoryExtent(bytes, start)
        .filter((r) => !r.special && r.flags & FLAG_DIRECTORY)
        .map((r) => ({ offset: r.lba * SECTOR, length: r.dataLength }));
      expect(listed).toEqual(parsed);
    }
    // A record that runs past its sector ends the list there, quietly.
    const bytes = new Uint8Array(2 * SECTOR);
    const record = (at: number, length: number, lba: number, directory: boolean): void => {
      bytes[at] = length;
      new DataView(bytes.buffer).setUint32(at + 2, lba, true);
      new DataView(bytes.buffer).setUint32(at + 10, SECTOR, true);
      bytes[at + 25] = directory ? FLAG_DIRECTORY : 0;
      bytes[at + 32] = 1;
      bytes[at + 33] = 0x41;
    };
    record(0, 40, 5, true);
    for (let at = 40; at < 2008; at += 246) record(at, 246, 0, false);
    record(2008, 60, 6, true); // 2008 + 60 crosses into the next sector
    record(SECTOR, 40, 7, true);
    const out: { offset: number; length: number }[] = [];
    listedDirectories(bytes, out);
    expect(out).toEqual([{ offset: 5 * SECTOR, length: SECTOR }]);
    expect(() => parseDirectoryExtent(bytes, 0)).toThrow(/crosses a sector boundary/);
  });

  it('gives the walk the bytes again when a read ahead failed', async () => {
    const inner = await source();
    let failed = 0;
    // Every read the prefetcher makes fails (told apart by its caller): the walk reads each extent itself.
    const flaky: ByteSource = {
      size: inner.size,
      read(offset, length, signal) {
        if (new Error().stack?.includes('DirectoryPrefetch')) {
          failed++;
          return Promise.reject(new Error('read ahead failed'));
        }
        return inner.read(offset, length, signal);
      },
    };
    const plain = await buildIndex(await source(), { directoryPrefetch: false });
    const idx = await buildIndex(flaky);
    expect(failed).toBeGreaterThan(100);
    expect(idx).toEqual(plain);
  });

  it('reports a metadata budget too small the same way with and without', async () => {
    const small = { maxMetadataBytes: 40 * SECTOR };
    const err = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: Error) => [e.name, e.message],
      );
    const a = await err(buildIndex(await source(), { ...small, directoryPrefetch: false }));
    const b = await err(buildIndex(await source(), small));
    expect(a?.[0]).toBe('LimitExceededError');
    expect(b).toEqual(a);
  });
});
