// The reader against mtools: images made by mkfs.fat + mcopy for FAT12, FAT16 and FAT32, listed
// and read by src/fat and compared with `mdir -/ -b` and `mtype`.

import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { findFatFile, formatFat, listFatFiles, listFatTree, openFat, readFatFile, type FatVolume } from '../../src/fat/index.js';
import { MAX_TOTAL_PATH_CHARS } from '../../src/fat/volume.js';
import { followChain } from '../../src/fat/table.js';
import { FAT_TOOLS, bytesOf, extractAll, makeImage, mdirPaths, mtype, text, type FixtureOp } from './mtools.js';

const missing = missingTools(...FAT_TOOLS);
if (missing.length > 0) console.warn(`skipping FAT reader tests: missing ${missing.join(', ')}`);

/** What every fixture holds, and why. */
function fixtureOps(): FixtureOp[] {
  const ops: FixtureOp[] = [
    { put: '/EFI/BOOT/BOOTX64.EFI', data: bytesOf(3000, 1) }, // spans several 512-byte clusters
    { put: '/EFI/BOOT/grub.cfg', data: text('search --file /vmlinuz\nlinux /vmlinuz quiet\n') }, // 8.3 with NT lower-case flags
    { put: '/boot/grub/grub.cfg', data: text('set timeout=3\n') },
    { put: '/loader/entries/Arch Linux.conf', data: text('title Arch\noptions rw quiet\n') }, // long name with a space
    { put: '/empty.txt', data: new Uint8Array(0) }, // no cluster at all
    { put: '/EFI/Ünïcode ☃ name.txt', data: text('utf-16 long name\n') }, // non-ASCII long name
  ];
  // 40 long names: 3 slots each, 120 slots = 3840 bytes, so the directory crosses many clusters.
  for (let i = 0; i < 40; i++) ops.push({ put: `/many/a file with a long name ${String(i).padStart(2, '0')}.txt`, data: text(`file ${i}\n`) });
  // A fragmented file: 'big' fills the hole left by 'b', then continues after 'c'.
  ops.push({ put: '/frag/a', data: bytesOf(1000, 2) }, { put: '/frag/b', data: bytesOf(1500, 3) }, { put: '/frag/c', data: bytesOf(600, 4) });
  ops.push({ del: '/frag/b' }, { forgetNextFree: true }, { put: '/frag/big', data: bytesOf(6000, 5) });
  return ops;
}

const TYPES = [
  { type: 12, sizeKiB: 2048 },
  { type: 16, sizeKiB: 8192 },
  { type: 32, sizeKiB: 34000 },
] as const;

describe.skipIf(missing.length > 0)('FAT reader against mtools', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  const images = new Map<number, { path: string; vol: FatVolume }>();

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-fat-');
    for (const t of TYPES) {
      const path = await makeImage(scratch.dir, `fat${t.type}.img`, {
        type: t.type,
        sizeKiB: t.sizeKiB,
        sectorsPerCluster: 1,
        label: 'EFIBOOT',
        ops: fixtureOps(),
      });
      images.set(t.type, { path, vol: openFat(new Uint8Array(await readFile(path))) });
    }
  });
  afterAll(async () => scratch?.cleanup());

  for (const t of TYPES) {
    describe(`FAT${t.type}`, () => {
      it('detects the FAT type from the cluster count', () => {
        expect(images.get(t.type)!.vol.geometry.fatType).toBe(t.type);
      });

      it('lists the same tree as mdir, with long names', async () => {
        const { path, vol } = images.get(t.type)!;
        const mine = listFatTree(vol)
          .map((e) => (e.isDirectory ? `${e.path}/` : e.path))
          .sort();
        expect(mine).toEqual(await mdirPaths(path));
      });

      it('reads every file with the same bytes as mtools', async () => {
        const { path, vol } = images.get(t.type)!;
        const files = listFatFiles(vol);
        expect(files.length).toBe(49);
        // One `mcopy -s` for all files (one process, not 49), and mtype for the config.
        const theirs = await extractAll(path, `${path}.out`);
        expect(files.map((f) => f.path).sort()).toEqual([...theirs.keys()].sort());
        for (const f of files) expect(Buffer.from(readFatFile(vol, f)).equals(Buffer.from(theirs.get(f.path)!)), f.path).toBe(true);
        const grub = files.find((f) => f.path === '/EFI/BOOT/grub.cfg')!;
        expect(readFatFile(vol, grub)).toEqual(await mtype(path, grub.path));
      });

      it('gives long and 8.3 paths and the offset of the 8.3 entry', () => {
        const { vol } = images.get(t.type)!;
        const grub = listFatFiles(vol).find((f) => f.path === '/EFI/BOOT/grub.cfg')!;
        expect(grub.shortPath).toBe('/EFI/BOOT/GRUB.CFG');
        expect(new TextDecoder().decode(vol.image.subarray(grub.dirEntryOffset, grub.dirEntryOffset + 11))).toBe('GRUB    CFG');
        const arch = listFatFiles(vol).find((f) => f.path === '/loader/entries/Arch Linux.conf')!;
        expect(arch.shortPath).toMatch(/^\/LOADER\/ENTRIES\/ARCHLI~\d\.CON$/);
        const empty = listFatFiles(vol).find((f) => f.path === '/empty.txt')!;
        expect(empty).toMatchObject({ size: 0, firstCluster: 0 });
      });

      it('finds files case-insensitively by long or 8.3 names', () => {
        const { vol } = images.get(t.type)!;
        expect(findFatFile(vol, '/efi/boot/GRUB.CFG')?.path).toBe('/EFI/BOOT/grub.cfg');
        expect(findFatFile(vol, 'EFI\\BOOT\\bootx64.efi')?.path).toBe('/EFI/BOOT/BOOTX64.EFI');
        const arch = listFatFiles(vol).find((f) => f.path.startsWith('/loader/entries/'))!;
        expect(findFatFile(vol, arch.shortPath.toLowerCase())?.path).toBe('/loader/entries/Arch Linux.conf');
        expect(findFatFile(vol, '/LOADER/ENTRIES/arch linux.CONF')?.dirEntryOffset).toBe(arch.dirEntryOffset);
        expect(findFatFile(vol, '/EFI/BOOT')).toBeUndefined(); // a directory is not a file
        expect(findFatFile(vol, '/EFI/BOOT/nope.cfg')).toBeUndefined();
      });

      it('reads a directory whose entries cross several clusters', () => {
        const { vol } = images.get(t.type)!;
        const many = listFatTree(vol).find((e) => e.path === '/many')!;
        expect(followChain(vol.bytes, vol.geometry, many.firstCluster).length).toBeGreaterThan(1);
        expect(listFatFiles(vol).filter((f) => f.path.startsWith('/many/')).length).toBe(40);
      });

      it('reads a fragmented file across its non-contiguous clusters', async () => {
        const { path, vol } = images.get(t.type)!;
        const big = findFatFile(vol, '/frag/big')!;
        const chain = followChain(vol.bytes, vol.geometry, big.firstCluster);
        const gaps = chain.slice(1).filter((c, i) => c !== chain[i]! + 1).length;
        expect(gaps).toBeGreaterThan(0);
        expect(readFatFile(vol, big)).toEqual(await mtype(path, '/frag/big'));
      });
    });
  }

  it('reads an image backed by a SharedArrayBuffer', () => {
    const { vol } = images.get(16)!;
    const shared = new Uint8Array(new SharedArrayBuffer(vol.image.length));
    shared.set(vol.image);
    const svol = openFat(shared);
    const grub = findFatFile(svol, '/EFI/BOOT/grub.cfg')!;
    expect(new TextDecoder().decode(readFatFile(svol, grub))).toContain('linux /vmlinuz quiet');
  });

  it('ignores a long name whose checksum does not match and uses the 8.3 name', () => {
    const { vol } = images.get(12)!;
    const image = vol.image.slice();
    const arch = listFatFiles(vol).find((f) => f.path === '/loader/entries/Arch Linux.conf')!;
    // The long-name slot just before the 8.3 entry; byte 13 is its checksum.
    image[arch.dirEntryOffset - 32 + 13]! ^= 0xff;
    const files = listFatFiles(openFat(image));
    const same = files.find((f) => f.dirEntryOffset === arch.dirEntryOffset)!;
    expect(same.path).toBe('/loader/entries/' + arch.shortPath.split('/').pop());
  });
});

describe('listFatTree caps', () => {
  it('refuses a tree whose paths pass MAX_TOTAL_PATH_CHARS in all, naming the entry', () => {
    // Thirty directories of 250-character names above 2,300 files: each file's path is 7.5k
    // characters, so a few megabytes of image would list gigabytes of paths without the cap.
    const deep = Array.from({ length: 30 }, (_, i) => `${String(i).padStart(3, '0')}${'d'.repeat(247)}`).join('/');
    const files = Array.from({ length: 2300 }, (_, i) => ({ path: `/${deep}/f${i}`, data: new Uint8Array(0) }));
    const vol = openFat(formatFat({ files, sizeBytes: 8 * 2 ** 20 }));
    expect(() => listFatTree(vol)).toThrow(expect.objectContaining({ code: 'LIMIT_EXCEEDED', limit: 'FAT path characters' }));
    // Under the cap the same shape lists.
    const fewer = openFat(formatFat({ files: files.slice(0, 100), sizeBytes: 8 * 2 ** 20 }));
    expect(listFatTree(fewer).filter((e) => !e.isDirectory)).toHaveLength(100);
    expect(MAX_TOTAL_PATH_CHARS).toBeLessThan(2300 * deep.length);
  });
});
