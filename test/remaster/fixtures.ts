// ISO layouts for the remaster tests, built at test time with real tools (xorriso, genisoimage,
// grub-mkrescue, mkfs.fat + mcopy). Kernels and initrds are small placeholder payloads: these
// tests check bytes and file systems, the boot test (test/boot) checks that machines boot.

import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { elToritoArgs } from '../helpers/mkisofs.js';
import { run } from '../helpers/tools.js';

export const BASELINE = 'isoproxy.base=1 isoproxy.keep=yes isoproxy.drop=me';

/** Deterministic pseudo-random bytes (so payloads are not all zeros). */
export function payload(seed: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let block = createHash('sha256').update(seed).digest();
  for (let i = 0; i < length; i += 32) {
    out.set(block.subarray(0, Math.min(32, length - i)), i);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export async function writeTree(root: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [path, data] of Object.entries(files)) {
    const full = join(root, path);
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, data);
  }
}

/** A FAT image holding `files`, made by mkfs.fat and mcopy. */
export async function makeFat(path: string, files: Record<string, string | Uint8Array>, sizeKiB = 2048, scratch: string): Promise<void> {
  await run('mkfs.fat', ['-C', '-n', 'EFIBOOT', '-i', '12345678', path, String(sizeKiB)]);
  const dirs = new Set<string>();
  for (const p of Object.keys(files)) {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const d of [...dirs].sort()) await run('mmd', ['-i', path, `::/${d}`]);
  let n = 0;
  for (const [p, data] of Object.entries(files)) {
    const tmp = join(scratch, `fatfile-${n++}`);
    await writeFile(tmp, data);
    await run('mcopy', ['-i', path, tmp, `::/${p.replace(/^\//, '')}`]);
  }
}

export const isolinuxCfg = (extra = '') => `default linux
prompt 0
timeout 10
${extra}
label linux
  kernel /boot/vmlinuz
  append initrd=/boot/initrd.img console=ttyS0 ${BASELINE} quiet

label hdt
  com32 hdt.c32

label local
  localboot 0x80
`;

export const grubCfg = (linux = 'linux') => `set default=0
set timeout=1
insmod iso9660

menuentry 'Install' {
    ${linux} /boot/vmlinuz console=ttyS0 ${BASELINE} quiet
    initrd /boot/initrd.img
}

menuentry 'Rescue' {
    ${linux} /boot/vmlinuz console=ttyS0 ${BASELINE} rescue
    initrd /boot/initrd.img
}
`;

/** Pads a config with comment lines so it ends exactly on a 2048-byte boundary (zero slack). */
export function padToSector(text: string, comment = '#'): string {
  let t = text;
  const rem = (n: number) => (2048 - (n % 2048)) % 2048;
  let need = rem(Buffer.byteLength(t));
  if (need === 0) return t;
  if (need < 3) need += 2048;
  // A comment line of exactly `need` bytes: "#" + filler + "\n".
  t += `${comment}${'x'.repeat(need - comment.length - 1)}\n`;
  if (Buffer.byteLength(t) % 2048 !== 0) throw new Error('padToSector failed');
  return t;
}

export interface Layout {
  readonly name: string;
  readonly iso: string;
}

/** Debian-like: RR + Joliet, isolinux (BIOS, boot-info table), EFI image in the tree with its own grub.cfg, hybrid MBR, md5sum.txt. */
export async function debianLike(dir: string): Promise<Layout> {
  const root = join(dir, 'debian-tree');
  await writeTree(root, {
    'isolinux/isolinux.cfg': 'include menu.cfg\ndefault vesamenu.c32\nprompt 0\n',
    'isolinux/menu.cfg': 'menu title Installer\ninclude txt.cfg\n',
    'isolinux/txt.cfg': isolinuxCfg(),
    'boot/grub/grub.cfg': grubCfg(),
    'boot/vmlinuz': payload('kernel', 300_000),
    'boot/initrd.img': payload('initrd', 200_000),
    'pool/main/a-long-package-name_1.0-1_amd64.deb': payload('deb', 5000),
  });
  await run('cp', ['/usr/lib/ISOLINUX/isolinux.bin', '/usr/lib/syslinux/modules/bios/ldlinux.c32', join(root, 'isolinux')]);
  await makeFat(join(root, 'boot/grub/efi.img'), { 'EFI/BOOT/grub.cfg': grubCfg(), 'EFI/BOOT/BOOTX64.EFI': payload('efi', 40_000) }, 2048, dir);
  // md5sum.txt, Debian style: "<md5>  ./path" for every file but itself and isolinux.bin, whose
  // boot-info table mkisofs patches (debian-cd leaves it out for that reason).
  const { stdout } = await run('sh', ['-c', 'find . -type f ! -name md5sum.txt ! -name isolinux.bin | sort | xargs md5sum'], { cwd: root });
  await writeFile(join(root, 'md5sum.txt'), stdout);
  const iso = join(dir, 'debian.iso');
  await run('xorriso', [
    '-as',
    'mkisofs',
    '-quiet',
    '-o',
    iso,
    '-V',
    'DEBIAN_LIKE',
    '-R',
    '-J',
    '-joliet-long',
    ...elToritoArgs({ isohybridMbr: '/usr/lib/ISOLINUX/isohdpfx.bin', efiImage: 'boot/grub/efi.img' }),
    root,
  ]);
  return { name: 'debian-like', iso };
}

/** RHEL-like: isolinux, images/efiboot.img holding the full EFI/BOOT/grub.cfg with linuxefi, the same grub.cfg in the tree. */
export async function rhelLike(dir: string): Promise<Layout> {
  const root = join(dir, 'rhel-tree');
  const efiGrub = grubCfg('linuxefi').replaceAll('/boot/', '/images/pxeboot/');
  await writeTree(root, {
    'isolinux/isolinux.cfg': isolinuxCfg('menu title RHEL').replaceAll('/boot/', '/images/pxeboot/'),
    'EFI/BOOT/grub.cfg': efiGrub,
    'images/pxeboot/vmlinuz': payload('kernel', 300_000),
    'images/pxeboot/initrd.img': payload('initrd', 200_000),
  });
  await run('cp', ['/usr/lib/ISOLINUX/isolinux.bin', '/usr/lib/syslinux/modules/bios/ldlinux.c32', join(root, 'isolinux')]);
  await makeFat(join(root, 'images/efiboot.img'), { 'EFI/BOOT/grub.cfg': efiGrub, 'EFI/BOOT/BOOTX64.EFI': payload('efi', 40_000) }, 2048, dir);
  const iso = join(dir, 'rhel.iso');
  await run('xorriso', [
    '-as',
    'mkisofs',
    '-quiet',
    '-o',
    iso,
    '-V',
    'RHEL-9-4-0-BaseOS-x86_64',
    '-R',
    '-J',
    ...elToritoArgs({ efiImage: 'images/efiboot.img' }),
    root,
  ]);
  return { name: 'rhel-like', iso };
}

/** genisoimage, ISO level 1, no Rock Ridge, no Joliet: upper-case 8.3 names only. */
export async function level1(dir: string): Promise<Layout> {
  const root = join(dir, 'level1-tree');
  await writeTree(root, {
    'isolinux/isolinux.cfg': isolinuxCfg(),
    'boot/grub/grub.cfg': grubCfg(),
    'boot/vmlinuz': payload('kernel', 100_000),
  });
  const iso = join(dir, 'level1.iso');
  await run('genisoimage', ['-quiet', '-o', iso, '-V', 'LEVEL1', root]);
  return { name: 'genisoimage-level1', iso };
}

/** grub-mkrescue (BIOS and UEFI). */
export async function grubMkrescue(dir: string): Promise<Layout> {
  const root = join(dir, 'rescue-tree');
  await writeTree(root, {
    'boot/grub/grub.cfg': grubCfg(),
    'boot/vmlinuz': payload('kernel', 100_000),
    'boot/initrd.img': payload('initrd', 50_000),
  });
  const iso = join(dir, 'rescue.iso');
  await run('grub-mkrescue', ['-o', iso, root], { timeoutMs: 300_000 });
  return { name: 'grub-mkrescue', iso };
}

/** Zero slack: grub.cfg and isolinux.cfg end exactly on a sector boundary, so any growth relocates. */
export async function zeroSlack(dir: string): Promise<Layout> {
  const root = join(dir, 'zero-tree');
  await writeTree(root, {
    'isolinux/isolinux.cfg': padToSector(isolinuxCfg()),
    'boot/grub/grub.cfg': padToSector(grubCfg()),
    'boot/vmlinuz': payload('kernel', 100_000),
  });
  await run('cp', ['/usr/lib/ISOLINUX/isolinux.bin', '/usr/lib/syslinux/modules/bios/ldlinux.c32', join(root, 'isolinux')]);
  const iso = join(dir, 'zero.iso');
  await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-V', 'ZERO_SLACK', '-R', '-J', '-iso-level', '3', ...elToritoArgs(), root]);
  return { name: 'zero-slack', iso };
}

/** genisoimage ISO level 4: three trees (ISO 9660, Joliet, ISO 9660:1999) plus Rock Ridge. */
export async function threeTrees(dir: string): Promise<Layout> {
  const root = join(dir, 'three-tree');
  await writeTree(root, {
    'isolinux/isolinux.cfg': isolinuxCfg(),
    'boot/grub/grub.cfg': grubCfg(),
    'boot/vmlinuz': payload('kernel', 100_000),
  });
  const iso = join(dir, 'three.iso');
  await run('genisoimage', ['-quiet', '-o', iso, '-V', 'THREE_TREES', '-iso-level', '4', '-R', '-J', root]);
  return { name: 'three-trees', iso };
}

/** Ubuntu-style: the EFI FAT image is an appended GPT/MBR partition (not a file of the tree), referenced by El Torito. */
export async function appendedEsp(dir: string, options: { zeroSlack?: boolean } = {}): Promise<Layout> {
  const name = options.zeroSlack ? 'esp-zero' : 'esp';
  const root = join(dir, `${name}-tree`);
  const grub = options.zeroSlack ? padToSector(grubCfg()) : grubCfg();
  await writeTree(root, { 'boot/grub/grub.cfg': grub, 'casper/vmlinuz': payload('kernel', 100_000) });
  const esp = join(dir, `${name}.img`);
  await makeFat(esp, { 'EFI/BOOT/grub.cfg': grubCfg(), 'EFI/BOOT/BOOTX64.EFI': payload('efi', 40_000) }, 2048, dir);
  const iso = join(dir, `${name}.iso`);
  await run('xorriso', [
    '-as',
    'mkisofs',
    '-quiet',
    '-o',
    iso,
    '-V',
    'UBUNTU_LIKE',
    '-R',
    '-J',
    '-append_partition',
    '2',
    '0xef',
    esp,
    '-appended_part_as_gpt',
    '-e',
    '--interval:appended_partition_2:all::',
    '-no-emul-boot',
    root,
  ]);
  return { name, iso };
}

/** A FAT image whose grub.cfg fills its cluster exactly, and another with no free cluster left. */
export async function tightFat(dir: string, full: boolean): Promise<Layout> {
  const name = full ? 'fat-full' : 'fat-tight';
  const root = join(dir, `${name}-tree`);
  await writeTree(root, { 'boot/vmlinuz': payload('kernel', 10_000) });
  const img = join(root, 'images/efiboot.img');
  await mkdir(dirname(img), { recursive: true });
  // 2048-byte clusters (-s 4); grub.cfg padded to exactly one cluster.
  await run('mkfs.fat', ['-C', '-s', '4', '-n', 'EFIBOOT', '-i', '12345678', img, '1024']);
  await run('mmd', ['-i', img, '::/EFI', '::/EFI/BOOT']);
  const cfg = join(dir, `${name}-grub.cfg`);
  await writeFile(cfg, padToSector(grubCfg('linuxefi')));
  await run('mcopy', ['-i', img, cfg, '::/EFI/BOOT/grub.cfg']);
  if (full) {
    // Fill every free cluster: the edited grub.cfg then has nowhere to grow.
    const { stdout } = await run('mdir', ['-i', img, '::/']);
    const free = Number(/([\d ]+) bytes free/.exec(stdout)![1]!.replace(/ /g, ''));
    const filler = join(dir, `${name}-filler`);
    await writeFile(filler, payload('filler', free));
    await run('mcopy', ['-i', img, filler, '::/FILLER.BIN']);
  }
  const iso = join(dir, `${name}.iso`);
  await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-V', 'FAT_TIGHT', '-R', '-J', '-e', 'images/efiboot.img', '-no-emul-boot', root]);
  return { name, iso };
}
