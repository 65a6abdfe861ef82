// `isoproxy inspect` (src/commands/inspect.ts; tested here because test/commands is not this
// module's) on a hybrid xorriso image, from a file and over HTTP Range, plus its error paths.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findBootConfigs, run, slackBytes } from '../../src/commands/inspect.js';
import type { IsoIndex } from '../../src/iso9660/types.js';
import { elToritoArgs } from '../helpers/mkisofs.js';
import { missingTools, run as runTool, scratchDir } from '../helpers/tools.js';
import { ISOHDPFX, ISOLINUX_BIN, makeEfiImage, makeSourceTree } from '../iso9660/fixtures.js';

const needed = missingTools('xorriso', 'mkfs.fat', 'mcopy', 'mmd');
if (!existsSync(ISOLINUX_BIN)) needed.push(ISOLINUX_BIN);
if (needed.length > 0) console.warn(`skipping inspect command tests: missing ${needed.join(', ')}`);

let dir = '';
let iso = '';
let cleanup = async () => {};
let server: Server | undefined;
let baseUrl = '';
let rangeRequests = 0;

beforeAll(async () => {
  if (needed.length > 0) return;
  ({ dir, cleanup } = await scratchDir('isoproxy-inspect-'));
  const tree = join(dir, 'tree');
  await makeSourceTree(tree);
  await runTool('cp', [ISOLINUX_BIN, join(tree, 'isolinux/isolinux.bin')]);
  const efi = await makeEfiImage(dir);
  iso = join(dir, 'h.iso');
  await runTool('xorriso', [
    '-as',
    'mkisofs',
    '-R',
    '-J',
    '-V',
    'INSPECT_ME',
    '-o',
    iso,
    ...elToritoArgs({ isohybridMbr: ISOHDPFX, bootLoadSize: null, efiPartition: efi }),
    tree,
  ]);
  const bytes = await readFile(iso);
  server = createServer((req, res) => {
    const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    if (!m || req.url === '/no-range.iso') {
      res.writeHead(200, { 'content-length': bytes.length });
      res.end(bytes);
      return;
    }
    rangeRequests++;
    const start = Number(m[1]);
    const end = Math.min(Number(m[2]), bytes.length - 1);
    res.writeHead(206, { 'content-range': `bytes ${start}-${end}/${bytes.length}`, 'content-length': end - start + 1 });
    res.end(bytes.subarray(start, end + 1));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  baseUrl = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}/h.iso`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await cleanup();
});

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    out.push(a.join(' '));
  });
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => {
    err.push(a.join(' '));
  });
  try {
    const code = await run(argv);
    return { code, out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('slack and boot config discovery', () => {
  it('counts slack as unused bytes of the last sector, 0 when the sector is full or absent', () => {
    expect([0, 1, 2047, 2048, 2049, 4096].map(slackBytes)).toEqual([0, 2047, 1, 0, 2047, 0]);
  });

  it('finds grub, isolinux/syslinux and systemd-boot configs by name and place', () => {
    const file = (path: string, size = 10) => ({ path, paths: [], size, extents: [{ lba: 30, lengthBytes: size }], records: [], hidden: false });
    const index = {
      files: [
        '/boot/grub/grub.cfg',
        '/EFI/BOOT/loopback.cfg',
        '/isolinux/txt.cfg',
        '/syslinux/menu.cfg',
        '/other/menu.cfg',
        '/extlinux.conf',
        '/loader/entries/arch.conf',
        '/loader/loader.conf',
        '/isolinux/isolinux.bin',
      ].map((p) => file(p)),
    } as unknown as IsoIndex;
    expect(findBootConfigs(index).map((c) => `${c.path} ${c.kind}`)).toEqual([
      '/boot/grub/grub.cfg grub',
      '/EFI/BOOT/loopback.cfg grub',
      '/isolinux/txt.cfg syslinux',
      '/syslinux/menu.cfg syslinux',
      '/extlinux.conf syslinux',
      '/loader/entries/arch.conf systemd-boot',
    ]);
  });
});

describe.skipIf(needed.length > 0)('isoproxy inspect', () => {
  it('prints label, trees, boot entries, partitions and boot configs of a hybrid image', async () => {
    const { code, out } = await capture([iso]);
    expect(code).toBe(0);
    expect(out).toContain('INSPECT_ME');
    expect(out).toContain('iso9660 + Rock Ridge, joliet level 3');
    expect(out).toMatch(/bios\s+\/isolinux\/isolinux\.bin .*boot info table/);
    expect(out).toMatch(/efi\s+LBA \d+ \(outside the ISO tree\)\s+1474560 bytes from FAT boot sector/);
    expect(out).toMatch(/mbr 2\s+type 0xef .*EFI system/);
    expect(out).toMatch(/\/boot\/grub\/grub\.cfg\s+grub\s+\d+ bytes, slack \d+/);
    expect(out).toContain('/loader/entries/linux.conf  systemd-boot');
    // Inside the appended EFI FAT image (mkfs.fat 1440 KiB: 512-byte clusters).
    expect(out).toMatch(/\[EFI image at LBA \d+\] \/EFI\/BOOT\/grub\.cfg {2}grub {2}34 bytes, slack 478 \(in its FAT cluster\)/);
  });

  it('prints the same report as JSON, and reads a URL by Range requests', async () => {
    const fromFile = JSON.parse((await capture([iso, '--json'])).out);
    expect(fromFile.bootConfigs.map((c: { path: string }) => c.path)).toEqual([
      '/boot/grub/grub.cfg',
      '/boot/grub/loopback.cfg',
      '/isolinux/isolinux.cfg',
      '/loader/entries/linux.conf',
    ]);
    expect(fromFile.efiImageConfigs).toEqual([
      { loadRba: fromFile.boot[1].loadRba, path: '/EFI/BOOT/grub.cfg', kind: 'grub', sizeBytes: 34, slackBytes: 478 },
    ]);
    const { code, out } = await capture([baseUrl, '--json']);
    expect(code).toBe(0);
    const fromUrl = JSON.parse(out);
    expect({ ...fromUrl, image: '' }).toEqual({ ...fromFile, image: '' });
    expect(rangeRequests).toBeGreaterThan(0);
  });

  it('exits 1 with one line for a missing file and for a file that is not an ISO', async () => {
    const missing = await capture([join(dir, 'nope.iso')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^isoproxy inspect: .*nope\.iso: no such file$/);
    const notIso = await capture([join(dir, 'efi.img')]);
    expect(notIso.code).toBe(1);
    expect(notIso.err.split('\n')).toHaveLength(1);
    expect(notIso.err).toMatch(/volume descriptor/);
  });

  it('still inspects a URL whose server ignores Range requests (reading from the start)', async () => {
    const { code, out } = await capture([baseUrl.replace('/h.iso', '/no-range.iso')]);
    expect(code).toBe(0);
    expect(out).toMatch(/isolinux\.cfg/);
  });

  it('exits 1 with one line when a URL is unreachable', async () => {
    const { code, err } = await capture(['http://127.0.0.1:9/none.iso']);
    expect(code).toBe(1);
    expect(err).toMatch(/^isoproxy inspect: http:\/\/127\.0\.0\.1:9\/none\.iso: .+$/);
  });

  it('shows help with exit 0 and usage errors with exit 2', async () => {
    expect((await capture(['--help'])).code).toBe(0);
    expect((await capture([])).code).toBe(2);
    expect((await capture(['--bogus', iso])).code).toBe(2);
  });
});
