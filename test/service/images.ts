// ISOs for the service tests that the remaster fixtures do not give: a bootable-looking image of a
// chosen size (a filler file makes it span several 1 MiB cache blocks, so a download needs many
// upstream fetches and can be interrupted between them), and an ISO with no boot config at all.

import { join } from 'node:path';
import { elToritoArgs } from '../helpers/mkisofs.js';
import { run } from '../helpers/tools.js';
import { grubCfg, isolinuxCfg, payload, writeTree } from '../remaster/fixtures.js';

/**
 * isolinux (BIOS El Torito) + grub.cfg + `fillerMiB` MiB of seeded filler after the configs.
 * Two images with the same filler size but different seeds have the same size and layout.
 */
export async function sizedIso(dir: string, name: string, fillerMiB: number, seed = name): Promise<string> {
  const root = join(dir, `${name}-tree`);
  await writeTree(root, {
    'isolinux/isolinux.cfg': isolinuxCfg(),
    'boot/grub/grub.cfg': grubCfg(),
    'boot/vmlinuz': payload(`kernel-${seed}`, 200_000),
    'zz/filler.bin': payload(`filler-${seed}`, fillerMiB * 1024 * 1024),
  });
  await run('cp', ['/usr/lib/ISOLINUX/isolinux.bin', '/usr/lib/syslinux/modules/bios/ldlinux.c32', join(root, 'isolinux')]);
  const iso = join(dir, `${name}.iso`);
  await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-V', 'SIZED', '-R', '-J', ...elToritoArgs(), root]);
  return iso;
}

/** A valid ISO 9660 image holding only a README: nothing a node's edits could apply to. */
export async function noBootIso(dir: string): Promise<string> {
  const root = join(dir, 'noboot-tree');
  await writeTree(root, { 'README.TXT': 'no boot configuration here\n' });
  const iso = join(dir, 'noboot.iso');
  await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-V', 'NOBOOT', '-R', '-J', root]);
  return iso;
}
