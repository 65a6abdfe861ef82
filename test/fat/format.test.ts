// formatFat against the real tools: its images pass fsck.fat -n, mtools lists and reads their
// files (long names included), the same spec always gives the same bytes, and planFatWrites
// can patch them.

import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTools, scratchDir } from '../helpers/tools.js';
import { FatNoSpaceError } from '../../src/errors.js';
import { FatSpecError, formatFat, listFatFiles, openFat, planFatWrites, readFatFile } from '../../src/fat/index.js';
import { FAT_TOOLS, applyOverlays, bytesOf, fsck, mdirLabel, mdirPaths, mtype, text } from './mtools.js';

const missing = missingTools(...FAT_TOOLS);
if (missing.length > 0) console.warn(`skipping formatFat tests: missing ${missing.join(', ')}`);

function specFiles(): { path: string; data: Uint8Array }[] {
  const files = [
    { path: '/EFI/BOOT/BOOTX64.EFI', data: bytesOf(20_000, 1) },
    { path: '/EFI/BOOT/grub.cfg', data: text('linux /vmlinuz quiet\n') }, // lower case: long-name entries
    { path: '/boot/grub/grub.cfg', data: text('set timeout=5\n') },
    { path: '/loader/entries/Fedora Linux 40 (rescue).conf', data: text('options rw\n') }, // spaces, parens
    { path: '/loader/loader.conf', data: text('default fedora\n') },
    { path: '/README', data: text('upper-case 8.3 name: no long-name entries\n') },
    { path: '/empty', data: new Uint8Array(0) },
    { path: '/EFI/Ünïcode ☃ name.txt', data: text('non-ASCII long name\n') },
  ];
  // Aliases of names alike (LONGNA~1 .. ~N) and a directory crossing clusters.
  for (let i = 0; i < 30; i++) files.push({ path: `/many/long name ${i}.txt`, data: text(`${i}\n`) });
  return files;
}

function sha(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

describe.skipIf(missing.length > 0)('formatFat', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-fatfmt-');
  });
  afterAll(async () => scratch?.cleanup());

  for (const type of [12, 16, 32] as const) {
    it(`makes a FAT${type} image that fsck.fat accepts and mtools reads`, async () => {
      const files = specFiles();
      const image = formatFat({ type, label: 'efiboot', files });
      const img = join(scratch.dir, `fmt${type}.img`);
      await writeFile(img, image);
      const check = await fsck(img);
      expect(check.code, check.output).toBe(0);
      expect(openFat(image).geometry.fatType).toBe(type);
      expect(await mdirLabel(img)).toBe('EFIBOOT');
      const dirs = ['/EFI/', '/EFI/BOOT/', '/boot/', '/boot/grub/', '/loader/', '/loader/entries/', '/many/'];
      expect(await mdirPaths(img)).toEqual([...dirs, ...files.map((f) => f.path)].sort());
      for (const f of files) expect(Buffer.from(await mtype(img, f.path)).equals(Buffer.from(f.data)), f.path).toBe(true);
      const vol = openFat(image);
      for (const f of listFatFiles(vol)) expect(sha(readFatFile(vol, f))).toBe(sha(files.find((x) => x.path === f.path)!.data));
    });
  }

  it('gives the same bytes for the same spec', () => {
    const a = formatFat({ label: 'X', files: specFiles() });
    const b = formatFat({ label: 'X', files: [...specFiles()].reverse() });
    expect(sha(a)).toBe(sha(b));
  });

  it('picks FAT12 for a small default image and grows the image to fit its files', () => {
    const small = formatFat({ files: [{ path: '/a', data: text('a') }] });
    expect(openFat(small).geometry.fatType).toBe(12);
    const big = formatFat({ files: [{ path: '/big.bin', data: new Uint8Array(5 * 2 ** 20) }] });
    expect(listFatFiles(openFat(big))[0]!.size).toBe(5 * 2 ** 20);
  });

  it('makes images that planFatWrites patches into images fsck.fat accepts', async () => {
    const image = formatFat({ type: 16, files: specFiles() });
    const { overlays } = planFatWrites(image, [
      { path: '/EFI/BOOT/grub.cfg', data: text('linux /vmlinuz quiet console=ttyS0\n'.repeat(200)) },
      { path: '/loader/entries/fedora linux 40 (RESCUE).conf', data: text('options rw rescue\n') },
    ]);
    const img = join(scratch.dir, 'fmt-patched.img');
    await writeFile(img, applyOverlays(image, overlays));
    const check = await fsck(img);
    expect(check.code, check.output).toBe(0);
    expect(new TextDecoder().decode(await mtype(img, '/EFI/BOOT/grub.cfg'))).toContain('console=ttyS0');
  });

  it('refuses names FAT cannot hold, duplicates, and files that do not fit', () => {
    expect(() => formatFat({ files: [{ path: '/a:b', data: text('x') }] })).toThrow(FatSpecError);
    expect(() =>
      formatFat({
        files: [
          { path: '/A', data: text('x') },
          { path: '/a', data: text('y') },
        ],
      }),
    ).toThrow(FatSpecError);
    expect(() =>
      formatFat({
        files: [
          { path: '/a/b', data: text('x') },
          { path: '/a', data: text('y') },
        ],
      }),
    ).toThrow(FatSpecError);
    expect(() => formatFat({ type: 12, sizeBytes: 256 * 1024, files: [{ path: '/big', data: new Uint8Array(300 * 1024) }] })).toThrow(
      FatNoSpaceError,
    );
  });
});
