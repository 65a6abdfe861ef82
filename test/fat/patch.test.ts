// The patcher against the real tools: overlays planned by planFatWrites are applied to a copy
// of a mkfs.fat/mtools image, then mtype must read the new contents, fsck.fat -n must find no
// error, and every other file must come out of `mcopy -s` byte-identical.

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { FatNoSpaceError, NotFoundError } from '../../src/errors.js';
import { FatWriteConflictError, findFatFile, formatFat, listFatFiles, openFat, planFatWrites, readFatFile } from '../../src/fat/index.js';
import { countFreeClusters, followChain, getFatEntry } from '../../src/fat/table.js';
import { FAT_TOOLS, applyOverlays, bytesOf, extractAll, fsck, makeImage, mtype, text, type FixtureOp } from './mtools.js';

const missing = missingTools(...FAT_TOOLS);
if (missing.length > 0) console.warn(`skipping FAT patch tests: missing ${missing.join(', ')}`);

const GRUB = text('set timeout=5\n'.repeat(20)); // 280 bytes: one 512-byte cluster with room to spare

function fixtureOps(): FixtureOp[] {
  return [
    { put: '/EFI/BOOT/BOOTX64.EFI', data: bytesOf(3000, 1) },
    { put: '/EFI/BOOT/grub.cfg', data: GRUB },
    { put: '/loader/entries/Arch Linux.conf', data: text('title Arch\noptions rw quiet\n') },
    { put: '/empty.txt', data: new Uint8Array(0) },
    // A hole before 'big', so that freed and allocated clusters are not all at the end.
    { put: '/frag/a', data: bytesOf(1000, 2) },
    { put: '/frag/b', data: bytesOf(1500, 3) },
    { put: '/frag/c', data: bytesOf(600, 4) },
    { del: '/frag/b' },
    { forgetNextFree: true },
    { put: '/frag/big', data: bytesOf(6000, 5) },
    { put: '/z/after', data: bytesOf(700, 6) },
  ];
}

const TYPES = [
  { type: 12, sizeKiB: 1024 },
  { type: 16, sizeKiB: 8192 },
  { type: 32, sizeKiB: 34000 },
] as const;

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

describe.skipIf(missing.length > 0)('planFatWrites against mtools and fsck.fat', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  const bases = new Map<number, { image: Uint8Array; files: Map<string, Uint8Array> }>();
  let n = 0;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-fatpatch-');
    for (const t of TYPES) {
      const path = await makeImage(scratch.dir, `fat${t.type}.img`, { type: t.type, sizeKiB: t.sizeKiB, sectorsPerCluster: 1, ops: fixtureOps() });
      const image = new Uint8Array(await readFile(path));
      bases.set(t.type, { image, files: await extractAll(path, join(scratch.dir, `fat${t.type}.out`)) });
    }
  });
  afterAll(async () => scratch?.cleanup());

  /** Applies the plan to a copy, checks it with the tools, returns the patched image. */
  async function applyAndCheck(
    type: number,
    writes: { path: string; data: Uint8Array }[],
  ): Promise<{ patched: Uint8Array; overlays: { offset: number; data: Uint8Array }[] }> {
    const base = bases.get(type)!;
    const before = sha(base.image);
    const { overlays } = planFatWrites(base.image, writes);
    expect(sha(base.image)).toBe(before); // the base is never written
    for (let i = 0; i < overlays.length; i++) {
      const o = overlays[i]!;
      expect(o.data.length).toBeGreaterThan(0);
      expect(o.offset + o.data.length).toBeLessThanOrEqual(base.image.length);
      if (i > 0) expect(o.offset).toBeGreaterThan(overlays[i - 1]!.offset + overlays[i - 1]!.data.length);
    }
    const patched = applyOverlays(base.image, overlays);
    const img = join(scratch.dir, `patched-${n++}.img`);
    await writeFile(img, patched);
    const check = await fsck(img);
    expect(check.code, check.output).toBe(0);
    for (const w of writes) expect(Buffer.from(await mtype(img, w.path)).equals(Buffer.from(w.data)), w.path).toBe(true);
    const after = await extractAll(img, `${img}.out`);
    const written = new Set(writes.map((w) => findFatFile(openFat(base.image), w.path)!.path));
    expect([...after.keys()].sort()).toEqual([...base.files.keys()].sort());
    for (const [p, data] of base.files) if (!written.has(p)) expect(sha(after.get(p)!), p).toBe(sha(data));
    return { patched, overlays };
  }

  for (const t of TYPES) {
    describe(`FAT${t.type}`, () => {
      it('rewrites a file that grows within its cluster without touching the FAT', async () => {
        const data = text('set timeout=1\n'.repeat(30)); // 420 bytes
        const { overlays } = await applyAndCheck(t.type, [{ path: '/EFI/BOOT/grub.cfg', data }]);
        const geo = openFat(bases.get(t.type)!.image).geometry;
        const fatEnd = geo.fatOffset + geo.fatCount * geo.fatSizeBytes;
        expect(overlays.every((o) => o.offset + o.data.length <= geo.fatOffset || o.offset >= fatEnd)).toBe(true);
      });

      it('allocates the lowest free clusters in every FAT copy when a file grows across clusters', async () => {
        const base = bases.get(t.type)!;
        const vol = openFat(base.image);
        const data = text('menuentry "x" { linux /vmlinuz quiet splash }\n'.repeat(50)); // 2350 bytes: 5 clusters
        const { patched } = await applyAndCheck(t.type, [{ path: '/efi/boot/GRUB.CFG', data }]);
        const pvol = openFat(patched);
        const geo = pvol.geometry;
        const grub = findFatFile(pvol, '/EFI/BOOT/grub.cfg')!;
        const chain = followChain(pvol.bytes, geo, grub.firstCluster);
        expect(chain.length).toBe(5);
        // The first new cluster is the lowest one that was free in the base (the hole of /frag/b
        // is taken by 'big', so the lowest free one comes from the table).
        const lowestFree = [...Array(geo.clusterCount).keys()].map((i) => i + 2).find((c) => getFatEntry(vol.bytes, vol.geometry, c) === 0)!;
        expect(chain[1]).toBe(lowestFree);
        for (let copy = 0; copy < geo.fatCount; copy++) {
          for (const c of chain) expect(getFatEntry(pvol.bytes, geo, c, copy)).toBe(getFatEntry(pvol.bytes, geo, c, 0));
        }
        expect(readFatFile(pvol, grub)).toEqual(data);
      });

      it('frees the surplus clusters of a file that shrinks, in every FAT copy', async () => {
        const base = bases.get(t.type)!;
        const freeBefore = countFreeClusters(openFat(base.image).bytes, openFat(base.image).geometry);
        const { patched } = await applyAndCheck(t.type, [{ path: '/frag/big', data: text('small now\n') }]);
        const pvol = openFat(patched);
        expect(countFreeClusters(pvol.bytes, pvol.geometry)).toBe(freeBefore + 11);
        for (let copy = 1; copy < pvol.geometry.fatCount; copy++) {
          const a = pvol.geometry.fatOffset;
          const b = a + copy * pvol.geometry.fatSizeBytes;
          expect(sha(patched.subarray(b, b + pvol.geometry.fatSizeBytes))).toBe(sha(patched.subarray(a, a + pvol.geometry.fatSizeBytes)));
        }
      });

      it('gives an empty file its first cluster, and takes it from a file emptied', async () => {
        const { patched } = await applyAndCheck(t.type, [
          { path: '/empty.txt', data: text('now with content\n') },
          { path: '/loader/entries/Arch Linux.conf', data: new Uint8Array(0) },
        ]);
        const files = listFatFiles(openFat(patched));
        expect(files.find((f) => f.path === '/empty.txt')!.firstCluster).toBeGreaterThan(0);
        expect(files.find((f) => f.path === '/loader/entries/Arch Linux.conf')).toMatchObject({ size: 0, firstCluster: 0 });
      });

      it('rewrites several files in one call, the same way whatever their order', async () => {
        const writes = [
          { path: '/EFI/BOOT/grub.cfg', data: bytesOf(1800, 7) },
          { path: '/frag/a', data: bytesOf(100, 8) },
          { path: '/z/after', data: bytesOf(2500, 9) },
        ];
        await applyAndCheck(t.type, writes);
        const base = bases.get(t.type)!;
        const one = planFatWrites(base.image, writes).overlays;
        const two = planFatWrites(base.image, [...writes].reverse()).overlays;
        expect(two.map((o) => [o.offset, sha(o.data)])).toEqual(one.map((o) => [o.offset, sha(o.data)]));
      });

      it('zeroes the slack after the new end of the last cluster', async () => {
        const { patched } = await applyAndCheck(t.type, [{ path: '/EFI/BOOT/BOOTX64.EFI', data: bytesOf(2100, 10) }]);
        const pvol = openFat(patched);
        const f = findFatFile(pvol, '/EFI/BOOT/BOOTX64.EFI')!;
        const chain = followChain(pvol.bytes, pvol.geometry, f.firstCluster);
        const last = pvol.geometry.dataOffset + (chain[chain.length - 1]! - 2) * pvol.geometry.clusterSizeBytes;
        const used = 2100 % pvol.geometry.clusterSizeBytes;
        expect(patched.subarray(last + used, last + pvol.geometry.clusterSizeBytes).every((b) => b === 0)).toBe(true);
      });

      it('refuses a path that is not in the image, and two writes to one file', () => {
        const base = bases.get(t.type)!;
        expect(() => planFatWrites(base.image, [{ path: '/EFI/BOOT/new.cfg', data: text('x') }])).toThrow(NotFoundError);
        expect(() =>
          planFatWrites(base.image, [
            { path: '/EFI/BOOT/grub.cfg', data: text('a') },
            { path: '/EFI/BOOT/GRUB.CFG', data: text('b') },
          ]),
        ).toThrow(FatWriteConflictError);
      });
    });
  }

  const GEOMETRIES = [
    { what: '4096-byte sectors and one FAT', type: 16, sizeKiB: 32768, sectorSize: 4096, sectorsPerCluster: 1, fatCount: 1 },
    { what: '2 KiB clusters and three FATs', type: 12, sizeKiB: 4096, sectorSize: 512, sectorsPerCluster: 4, fatCount: 3 },
    { what: '2 KiB clusters on FAT12', type: 12, sizeKiB: 4096, sectorSize: 512, sectorsPerCluster: 4, fatCount: 2 },
  ] as const;
  for (const g of GEOMETRIES) {
    it(`patches images with ${g.what}`, async () => {
      const path = await makeImage(scratch.dir, `geo-${g.type}-${g.sectorSize}-${g.fatCount}.img`, { ...g, ops: fixtureOps() });
      const image = new Uint8Array(await readFile(path));
      const vol = openFat(image);
      expect(vol.geometry).toMatchObject({ fatType: g.type, bytesPerSector: g.sectorSize, fatCount: g.fatCount });
      const cs = vol.geometry.clusterSizeBytes;
      const writes = [
        { path: '/EFI/BOOT/grub.cfg', data: bytesOf(3 * cs + 17, 20) }, // grows across clusters
        { path: '/frag/big', data: bytesOf(5, 21) }, // shrinks
      ];
      const { overlays } = planFatWrites(image, writes);
      const img = `${path}.patched`;
      await writeFile(img, applyOverlays(image, overlays));
      const patched = applyOverlays(image, overlays);
      // fsck.fat 4.2 checks only 1 or 2 FATs; with more, every copy must equal the first.
      if (g.fatCount <= 2) {
        const check = await fsck(img);
        expect(check.code, check.output).toBe(0);
      }
      const { fatOffset, fatSizeBytes } = vol.geometry;
      for (let copy = 1; copy < g.fatCount; copy++) {
        const at = fatOffset + copy * fatSizeBytes;
        expect(sha(patched.subarray(at, at + fatSizeBytes)), `FAT copy ${copy}`).toBe(sha(patched.subarray(fatOffset, fatOffset + fatSizeBytes)));
      }
      for (const w of writes) expect(Buffer.from(await mtype(img, w.path)).equals(Buffer.from(w.data)), w.path).toBe(true);
    });
  }

  it('keeps the FAT32 FSInfo free count and next-free hint consistent', async () => {
    const { patched } = await applyAndCheck(32, [{ path: '/EFI/BOOT/grub.cfg', data: bytesOf(5000, 11) }]);
    const pvol = openFat(patched);
    const fsInfo = pvol.geometry.fsInfoSector * pvol.geometry.bytesPerSector;
    const view = new DataView(patched.buffer, patched.byteOffset);
    expect(view.getUint32(fsInfo + 488, true)).toBe(countFreeClusters(pvol.bytes, pvol.geometry));
    const hint = view.getUint32(fsInfo + 492, true);
    expect(hint === 0xffffffff || getFatEntry(pvol.bytes, pvol.geometry, hint) === 0).toBe(true);
  });

  it('throws FatNoSpaceError naming the file, and plans nothing, when the image is full', async () => {
    const ops = fixtureOps();
    const probe = openFat(bases.get(12)!.image);
    const free = countFreeClusters(probe.bytes, probe.geometry) * probe.geometry.clusterSizeBytes;
    const path = await makeImage(scratch.dir, 'full12.img', {
      type: 12,
      sizeKiB: 1024,
      sectorsPerCluster: 1,
      ops: [...ops, { put: '/filler', data: bytesOf(free, 12) }],
    });
    const image = new Uint8Array(await readFile(path));
    const vol = openFat(image);
    expect(countFreeClusters(vol.bytes, vol.geometry)).toBe(0);
    let caught: unknown;
    try {
      planFatWrites(image, [
        { path: '/frag/a', data: text('shrinks fine') },
        { path: '/EFI/BOOT/grub.cfg', data: bytesOf(8000, 13) },
      ]);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(FatNoSpaceError);
    expect(caught).toMatchObject({ path: '/EFI/BOOT/grub.cfg', code: 'FAT_NO_SPACE' });
    // Growing within the clusters the file already has needs no free cluster and still works.
    expect(planFatWrites(image, [{ path: '/EFI/BOOT/grub.cfg', data: bytesOf(500, 14) }]).overlays.length).toBeGreaterThan(0);
  });
});

describe('planFatWrites on a large listing', () => {
  it('finds each of many written files among thousands by long or short name, in either case', () => {
    // Each write's look-up once indexed the whole listing again: writes x entries.
    const files = [];
    for (let i = 0; i < 300; i++) files.push({ path: `/cfg/Grub-${i}.cfg`, data: text(`old ${i}\n`) });
    for (let i = 0; i < 4000; i++) files.push({ path: `/x${i % 4}/file-${i}`, data: new Uint8Array(0) });
    const image = formatFat({ files, sizeBytes: 16 * 2 ** 20 });
    const writes = files.slice(0, 300).map((f, i) => ({ path: i % 2 ? f.path.toLowerCase() : f.path.toUpperCase(), data: text(`new ${i}\n`) }));
    const plan = planFatWrites(image, writes);
    expect(plan.files.map((f) => f.path)).toEqual(files.slice(0, 300).map((f) => f.path));
    const vol = openFat(applyOverlays(image, plan.overlays));
    for (let i = 0; i < 300; i += 37) {
      const short = findFatFile(vol, `/cfg/Grub-${i}.cfg`)!.shortPath;
      expect(Buffer.from(readFatFile(vol, findFatFile(vol, short)!)).toString('latin1')).toBe(`new ${i}\n`);
    }
  });
});
