// The benchmark's base image: a Debian/IPA-like hybrid ISO of a chosen size, made with xorriso —
// a large pseudo-random payload (so nothing compresses or dedupes), a few thousand small package
// files (so the index has real work), real boot configs (isolinux with an INCLUDE, grub.cfg in the
// tree and in an El Torito EFI FAT image), El Torito BIOS + EFI entries, a hybrid MBR/GPT and a
// Debian-style md5sum.txt. Deterministic bytes (AES-CTR under a fixed key, not Math.random), and
// cached in bench/out/ by its parameters: made once, reused by every later run.

import { createCipheriv, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { execFileText } from './procs.js';

const MiB = 1024 * 1024;
/** Bumped when the layout changes, so a stale cached image is rebuilt. */
const LAYOUT_VERSION = 2;

export interface BaseImage {
  readonly path: string;
  readonly sizeBytes: number;
  readonly files: number;
  /** Configs a node's edits touch, as paths in the ISO tree (for the xorriso baseline). */
  readonly isoConfigs: readonly string[];
  /** The EFI FAT image in the tree and the configs inside it. */
  readonly efiImage: string;
  readonly efiConfigs: readonly string[];
}

export const KERNEL_LINE = 'ipa-insecure=1 ipa-debug=1 console=ttyS0,115200n8 nofb nomodeset vga=normal';

const isolinuxCfg = `default vesamenu.c32
prompt 0
timeout 50
include txt.cfg
`;

const txtCfg = `menu title IPA ramdisk
label ipa
  menu label ^Ironic Python Agent
  kernel /boot/vmlinuz
  append initrd=/boot/initrd.img ${KERNEL_LINE} boot=live

label rescue
  menu label ^Rescue
  kernel /boot/vmlinuz
  append initrd=/boot/initrd.img ${KERNEL_LINE} rescue
`;

const grubCfg = `set default=0
set timeout=5
insmod iso9660
insmod all_video

menuentry 'Ironic Python Agent' {
    linux /boot/vmlinuz ${KERNEL_LINE} boot=live
    initrd /boot/initrd.img
}

menuentry 'Rescue' {
    linux /boot/vmlinuz ${KERNEL_LINE} rescue
    initrd /boot/initrd.img
}
`;

/** Writes `length` deterministic pseudo-random bytes (AES-128-CTR keystream of `seed`) to `path`. */
async function writePayload(path: string, length: number, seed: string): Promise<void> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(4 * MiB);
  const out = createWriteStream(path);
  for (let done = 0; done < length; ) {
    const n = Math.min(zeros.length, length - done);
    const chunk = cipher.update(zeros.subarray(0, n));
    done += n;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', r));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

async function put(root: string, path: string, data: string | Uint8Array): Promise<void> {
  const full = join(root, path);
  await mkdir(dirname(full), { recursive: true });
  await writeFile(full, data);
}

async function makeEfiImage(path: string, scratch: string): Promise<void> {
  await rm(path, { force: true });
  await execFileText('mkfs.fat', ['-C', '-n', 'EFIBOOT', '-i', '12345678', path, '4096']);
  await execFileText('mmd', ['-i', path, '::/EFI', '::/EFI/BOOT']);
  const g = join(scratch, '.efi-grub.cfg');
  await writeFile(g, grubCfg);
  await execFileText('mcopy', ['-i', path, g, '::/EFI/BOOT/grub.cfg']);
  const e = join(scratch, '.efi-bootx64');
  await writePayload(e, 900 * 1024, 'bootx64');
  await execFileText('mcopy', ['-i', path, e, '::/EFI/BOOT/BOOTX64.EFI']);
  await rm(g);
  await rm(e);
}

/**
 * The base image of about `sizeMiB` MiB in `outDir` (made once; reused when its stamp matches).
 * `log` receives progress lines.
 */
export async function ensureBaseImage(outDir: string, sizeMiB: number, log: (line: string) => void = () => {}): Promise<BaseImage> {
  const packages = sizeMiB >= 256 ? 3000 : 300;
  const iso = join(outDir, `base-${sizeMiB}MiB.iso`);
  const stampPath = `${iso}.json`;
  const stampWanted = { layout: LAYOUT_VERSION, sizeMiB, packages };
  const base: Omit<BaseImage, 'sizeBytes'> = {
    path: iso,
    files: packages + 12,
    isoConfigs: ['/isolinux/txt.cfg', '/boot/grub/grub.cfg', '/md5sum.txt'],
    efiImage: '/boot/grub/efi.img',
    efiConfigs: ['/EFI/BOOT/grub.cfg'],
  };
  try {
    const stamp = JSON.parse(await readFile(stampPath, 'utf8')) as Record<string, unknown>;
    const st = await stat(iso);
    if (JSON.stringify(stamp) === JSON.stringify({ ...stampWanted, sizeBytes: st.size })) return { ...base, sizeBytes: st.size };
  } catch {
    // No stamp or no image: make it.
  }
  const root = join(outDir, `base-tree-${sizeMiB}`);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  const t0 = performance.now();
  log(`making the ${sizeMiB} MiB base image with xorriso (once; cached in ${outDir})`);
  try {
    await put(root, 'isolinux/isolinux.cfg', isolinuxCfg);
    await put(root, 'isolinux/txt.cfg', txtCfg);
    await put(root, 'boot/grub/grub.cfg', grubCfg);
    await execFileText('cp', [
      '/usr/lib/ISOLINUX/isolinux.bin',
      '/usr/lib/syslinux/modules/bios/ldlinux.c32',
      '/usr/lib/syslinux/modules/bios/vesamenu.c32',
      '/usr/lib/syslinux/modules/bios/libcom32.c32',
      '/usr/lib/syslinux/modules/bios/libutil.c32',
      join(root, 'isolinux'),
    ]);
    await mkdir(join(root, 'boot/grub'), { recursive: true });
    await makeEfiImage(join(root, 'boot/grub/efi.img'), root);
    const kernelBytes = Math.min(8 * MiB, Math.floor((sizeMiB * MiB) / 16));
    const initrdBytes = Math.min(48 * MiB, Math.floor((sizeMiB * MiB) / 8));
    await mkdir(join(root, 'boot'), { recursive: true });
    await writePayload(join(root, 'boot/vmlinuz'), kernelBytes, 'kernel');
    await writePayload(join(root, 'boot/initrd.img'), initrdBytes, 'initrd');
    // A few thousand small files, 100 per directory, like a Debian pool/.
    let poolBytes = 0;
    for (let i = 0; i < packages; i++) {
      const len = 2048 + ((i * 7919) % 6000);
      poolBytes += Math.ceil(len / 2048) * 2048;
      const dir = `pool/main/${String.fromCharCode(97 + (i % 26))}/pkg${Math.floor(i / 100)}`;
      const data = createHash('sha256')
        .update(`pkg${i}`)
        .digest('hex')
        .repeat(Math.ceil(len / 64))
        .slice(0, len);
      await put(root, `${dir}/package-${i}_1.0-1_amd64.deb`, data);
    }
    const used = kernelBytes + initrdBytes + poolBytes + 6 * MiB;
    const payloadBytes = Math.max(MiB, sizeMiB * MiB - used);
    await mkdir(join(root, 'live'), { recursive: true });
    await writePayload(join(root, 'live/filesystem.squashfs'), payloadBytes, 'payload');
    // md5sum.txt, Debian style, for every file but itself and isolinux.bin (its boot-info table is patched by mkisofs).
    const sums = await execFileText('sh', ['-c', 'find . -type f ! -name md5sum.txt ! -name isolinux.bin | LC_ALL=C sort | xargs md5sum'], {
      cwd: root,
    });
    await writeFile(join(root, 'md5sum.txt'), sums);
    await rm(iso, { force: true });
    await execFileText(
      'xorriso',
      [
        '-as',
        'mkisofs',
        '-quiet',
        '-o',
        iso,
        '-V',
        'IPA_BENCH',
        '-R',
        '-J',
        '-joliet-long',
        '-isohybrid-mbr',
        '/usr/lib/ISOLINUX/isohdpfx.bin',
        '-b',
        'isolinux/isolinux.bin',
        '-c',
        'isolinux/boot.cat',
        '-no-emul-boot',
        '-boot-load-size',
        '4',
        '-boot-info-table',
        '-eltorito-alt-boot',
        '-e',
        'boot/grub/efi.img',
        '-no-emul-boot',
        '-isohybrid-gpt-basdat',
        root,
      ],
      { timeoutMs: 900_000 },
    );
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  const st = await stat(iso);
  await writeFile(stampPath, JSON.stringify({ ...stampWanted, sizeBytes: st.size }));
  log(`base image ${iso}: ${st.size} bytes in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { ...base, sizeBytes: st.size };
}
