// An EFI image made by a real distribution tool rather than by our fixtures: grub-mkrescue builds
// /efi.img with mformat (a floppy-geometry FAT12 with lower-case 8.3 names via NT case flags).
// The reader must list it as mdir does, and a patch must leave it clean for fsck.fat.

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { findFatFile, listFatTree, openFat, planFatWrites, readFatFile } from '../../src/fat/index.js';
import { FAT_TOOLS, applyOverlays, bytesOf, fsck, mdirPaths, mtype } from './mtools.js';

const missing = missingTools(...FAT_TOOLS, 'grub-mkrescue', 'xorriso');
if (missing.length > 0) console.warn(`skipping grub-mkrescue EFI image tests: missing ${missing.join(', ')}`);

describe.skipIf(missing.length > 0)('the EFI image of a grub-mkrescue ISO', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let efiPath: string;
  let image: Uint8Array;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-fatreal-');
    const tree = join(scratch.dir, 'tree');
    await mkdir(join(tree, 'boot/grub'), { recursive: true });
    await writeFile(join(tree, 'boot/grub/grub.cfg'), 'menuentry "x" { linux /vmlinuz quiet }\n');
    const iso = join(scratch.dir, 'rescue.iso');
    await run('grub-mkrescue', ['-o', iso, tree, '--']);
    efiPath = join(scratch.dir, 'efi.img');
    await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/efi.img', efiPath]);
    image = new Uint8Array(await readFile(efiPath));
  });
  afterAll(async () => scratch?.cleanup());

  it('lists the same tree as mdir and reads bootx64.efi as mtype does', async () => {
    const vol = openFat(image);
    const mine = listFatTree(vol)
      .map((e) => (e.isDirectory ? `${e.path}/` : e.path))
      .sort();
    expect(mine).toEqual(await mdirPaths(efiPath));
    const loader = findFatFile(vol, '/EFI/BOOT/BOOTX64.EFI')!;
    expect(loader.path).toBe('/efi/boot/bootx64.efi');
    expect(Buffer.from(readFatFile(vol, loader)).equals(Buffer.from(await mtype(efiPath, '/efi/boot/bootx64.efi')))).toBe(true);
  });

  it('takes a patch that fsck.fat accepts', async () => {
    const vol = openFat(image);
    const loader = findFatFile(vol, '/EFI/BOOT/BOOTX64.EFI')!;
    const data = bytesOf(loader.size + 10_000, 30);
    const { overlays } = planFatWrites(image, [{ path: '/EFI/BOOT/BOOTX64.EFI', data }]);
    const out = join(scratch.dir, 'efi-patched.img');
    await writeFile(out, applyOverlays(image, overlays));
    const check = await fsck(out);
    expect(check.code, check.output).toBe(0);
    expect(Buffer.from(await mtype(out, '/efi/boot/bootx64.efi')).equals(Buffer.from(data))).toBe(true);
  });
});
