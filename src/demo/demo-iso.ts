// The demo base image: a small ISO shaped like an ironic-python-agent ISO (isolinux for BIOS,
// grub for UEFI through an El Torito EFI image, /vmlinuz + /initrd, Debian-style md5sum.txt), so
// that `isoproxy demo` has something to remaster without downloading anything. Built by the
// deterministic writer (src/iso9660/writer.ts): same code, same bytes, so an image left in the
// data directory by an earlier start is reused as long as it is identical.
//
// Nothing in it boots a real system: the kernel, initrd, isolinux.bin and BOOTX64.EFI are
// placeholders (the isolinux.bin placeholder halts the CPU if a BIOS ever runs it).

import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatFat } from '../fat/format.js';
import { writeIso, type IsoFileSpec, type IsoSpec } from '../iso9660/writer.js';
import { writeImageAtomically } from './image-file.js';

export const DEMO_VOLUME_ID = 'IPA_DEMO';

/** The kernel parameters every boot entry of the demo image starts with. */
export const DEMO_KERNEL_PARAMS =
  'ipa-debug=1 nofb nomodeset vga=normal console=tty0 console=ttyS0,115200n8 ipa-insecure=1 systemd.journald.forward_to_console=yes';

/** Where the demo image lives under the data directory. */
export function demoIsoPath(dataDir: string): string {
  return join(dataDir, 'demo', 'demo.iso');
}

const text = (s: string) => new TextEncoder().encode(s);

/** Deterministic pseudo-random bytes (xorshift32) after a readable header, so ranges differ. */
function placeholder(header: string, length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  const h = text(header);
  out.set(h.subarray(0, length));
  let x = seed >>> 0 || 1;
  for (let i = h.length; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** An isolinux.bin stand-in: `cli; hlt; jmp -3` (halts), then text; BIOS loads 2048 bytes of it. */
function isolinuxPlaceholder(): Uint8Array {
  const out = new Uint8Array(2048);
  out.set([0xfa, 0xf4, 0xeb, 0xfd], 0);
  out.set(text('isoproxy demo: placeholder, not a boot loader\n'), 64);
  return out;
}

const ISOLINUX_CFG = `DEFAULT boot
PROMPT 0
TIMEOUT 50

LABEL boot
  KERNEL /vmlinuz
  APPEND initrd=/initrd ${DEMO_KERNEL_PARAMS}
`;

const GRUB_CFG = `set default=0
set timeout=5
set hidden_timeout_quiet=false

menuentry "boot_partition" {
  linux /vmlinuz ${DEMO_KERNEL_PARAMS}
  initrd /initrd
}
`;

/** The EFI image: a placeholder BOOTX64.EFI and the full grub.cfg (RHEL-style, in the FAT). */
function efiImage(): Uint8Array {
  return formatFat({
    label: 'EFIBOOT',
    sizeBytes: 1024 * 1024,
    type: 12,
    files: [
      { path: '/EFI/BOOT/BOOTX64.EFI', data: placeholder('MZ isoproxy demo placeholder, not an EFI application\n', 24 * 1024 + 17, 0xef1) },
      { path: '/EFI/BOOT/grub.cfg', data: text(GRUB_CFG) },
    ],
  });
}

/** Debian-style md5sum.txt: `<md5>  ./path` for every file, sorted by path. */
function md5sums(files: readonly IsoFileSpec[]): Uint8Array {
  const lines = [...files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => `${createHash('md5').update(f.data).digest('hex')}  .${f.path}\n`);
  return text(lines.join(''));
}

export function demoIsoSpec(): IsoSpec {
  const files: IsoFileSpec[] = [
    { path: '/isolinux/isolinux.bin', data: isolinuxPlaceholder() },
    { path: '/isolinux/isolinux.cfg', data: text(ISOLINUX_CFG) },
    { path: '/boot/grub/grub.cfg', data: text(GRUB_CFG) },
    { path: '/boot/grub/efiboot.img', data: efiImage() },
    // Sizes that are not sector multiples, so the last sector of each has slack.
    { path: '/vmlinuz', data: placeholder('isoproxy demo kernel placeholder\n', 384 * 1024 + 123, 0x5eed1) },
    { path: '/initrd', data: placeholder('isoproxy demo initrd placeholder\n', 768 * 1024 + 45, 0x5eed2) },
  ];
  files.push({ path: '/md5sum.txt', data: md5sums(files) });
  return {
    volumeId: DEMO_VOLUME_ID,
    files,
    // No boot info table: isolinux.bin then reads back as listed in md5sum.txt.
    boot: { bios: { path: '/isolinux/isolinux.bin', loadSectors: 4 }, efi: { path: '/boot/grub/efiboot.img' } },
  };
}

/**
 * Writes `<dataDir>/demo/demo.iso` unless an identical image is already there; returns its path.
 * Safe against concurrent starts: the file is replaced atomically.
 */
export async function ensureDemoIso(dataDir: string): Promise<string> {
  const path = demoIsoPath(dataDir);
  const image = writeIso(demoIsoSpec());
  const existing = await readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (existing !== undefined && existing.length === image.length && existing.equals(image)) return path;
  await mkdir(join(dataDir, 'demo'), { recursive: true });
  await writeImageAtomically(image, path);
  return path;
}
