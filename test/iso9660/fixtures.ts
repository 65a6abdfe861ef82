// Images for the reader's tests, built at test time with real tools (no binary fixtures). Each
// builder says what the image exists to exercise. Callers skip when a tool is missing.

import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../helpers/tools.js';

export const ISOLINUX_BIN = '/usr/lib/ISOLINUX/isolinux.bin';
export const ISOHDPFX = '/usr/lib/ISOLINUX/isohdpfx.bin';

/** Deterministic pseudo-random bytes (xorshift32) so payloads differ without Math.random. */
export function payload(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * A source tree: nested dirs, a name longer than Joliet's 64 characters, a tree 11 levels deep
 * (beyond ECMA-119's 8, so genisoimage relocates it under rr_moved), a symlink, empty files
 * (they share an LBA on xorriso images), a file spanning many sectors, boot configs, and a
 * 250-character name (Rock Ridge NM split over entries).
 */
export async function makeSourceTree(root: string): Promise<void> {
  const deep = join(root, 'a/b/c/d/e/f/g/h/i/j');
  await mkdir(deep, { recursive: true });
  await mkdir(join(root, 'boot/grub'), { recursive: true });
  await mkdir(join(root, 'isolinux'), { recursive: true });
  await mkdir(join(root, 'loader/entries'), { recursive: true });
  await writeFile(join(deep, 'deepfile.txt'), 'deep\n');
  await writeFile(join(root, 'readme.txt'), 'hello\n');
  await writeFile(join(root, 'boot/grub/grub.cfg'), 'menuentry "Linux" {\n  linux /vmlinuz quiet\n}\n');
  await writeFile(join(root, 'boot/grub/loopback.cfg'), 'source /boot/grub/grub.cfg\n');
  await writeFile(join(root, 'isolinux/isolinux.cfg'), 'default linux\nlabel linux\n  kernel /vmlinuz\n  append quiet\n');
  await writeFile(join(root, 'loader/entries/linux.conf'), 'title Linux\nlinux /vmlinuz\noptions quiet\n');
  await writeFile(join(root, `${'a-very-long-file-name-'.repeat(4)}that-joliet-truncates.txt`), 'long\n');
  // 250 bytes: more than fits beside the other RR entries, so NM continues (in a CE area).
  await writeFile(join(root, `${'n'.repeat(240)}-long.conf`), 'nm\n');
  await writeFile(join(root, 'empty1'), '');
  await writeFile(join(root, 'empty2'), '');
  await writeFile(join(root, 'big.bin'), payload(300_000, 7));
  await symlink('../readme.txt', join(root, 'boot/link'));
}

/** A 1.44 MB FAT12 image holding EFI/BOOT/grub.cfg, as an El Torito EFI image. */
export async function makeEfiImage(dir: string, name = 'efi.img'): Promise<string> {
  const img = join(dir, name);
  await run('mkfs.fat', ['-C', img, '1440']);
  const cfg = join(dir, 'efi-grub.cfg');
  await writeFile(cfg, 'search --file /boot/grub/grub.cfg\n');
  await run('mmd', ['-i', img, '::/EFI', '::/EFI/BOOT']);
  await run('mcopy', ['-i', img, cfg, '::/EFI/BOOT/grub.cfg']);
  return img;
}

export interface ListedEntry {
  readonly type: string;
  readonly size: number;
  readonly path: string;
}

/** `xorriso -indev X -find / -exec lsdl`, parsed. */
export async function xorrisoList(iso: string): Promise<ListedEntry[]> {
  const { stdout } = await run('xorriso', ['-abort_on', 'FATAL', '-indev', iso, '-find', '/', '-exec', 'lsdl']);
  const out: ListedEntry[] = [];
  for (const line of stdout.split('\n')) {
    // perms links uid gid size month day time-or-year 'path' [-> 'target']
    const m = /^(\S)\S*\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\S+\s+\d+\s+\S+\s+'(.*?)'(?: -> '.*')?$/.exec(line);
    if (m) out.push({ type: m[1]!, size: Number(m[2]), path: m[3]! });
  }
  return out;
}

/** `xorriso -osirrox on -extract / dir`, then sha256 of every regular file by path. */
export async function xorrisoExtractHashes(iso: string, dir: string): Promise<Map<string, string>> {
  await run('xorriso', ['-abort_on', 'FATAL', '-osirrox', 'on', '-indev', iso, '-extract', '/', dir]);
  const out = new Map<string, string>();
  const walk = async (abs: string, rel: string): Promise<void> => {
    for (const name of (await readdir(abs)).sort()) {
      const a = join(abs, name);
      const r = `${rel}/${name}`;
      const st = await lstat(a);
      if (st.isDirectory()) await walk(a, r);
      else if (st.isFile()) out.set(r, sha256(await readFile(a)));
    }
  };
  await walk(dir, '');
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
