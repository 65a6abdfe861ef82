// The demo base image: shaped like an ironic-python-agent ISO, deterministic, written once into
// the data directory and reused. Read back with xorriso and mtools where present.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_KERNEL_PARAMS, demoIsoPath, demoIsoSpec, ensureDemoIso } from '../../src/demo/demo-iso.js';
import { writeIso } from '../../src/iso9660/writer.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';

const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const fileOf = (path: string) => demoIsoSpec().files.find((f) => f.path === path)!;

describe('demoIsoSpec', () => {
  it('gives the same image bytes every time, a few MiB at most', () => {
    const a = writeIso(demoIsoSpec());
    const b = writeIso(demoIsoSpec());
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(a.length).toBeLessThan(4 * 1024 * 1024);
  });

  it('has isolinux and grub configs booting /vmlinuz with /initrd and ipa-debug=1', () => {
    const isolinux = decode(fileOf('/isolinux/isolinux.cfg').data);
    expect(isolinux).toMatch(/^LABEL boot$/m);
    expect(isolinux).toMatch(/^\s*KERNEL \/vmlinuz$/m);
    expect(isolinux).toMatch(/^\s*APPEND initrd=\/initrd ipa-debug=1 /m);
    const grub = decode(fileOf('/boot/grub/grub.cfg').data);
    expect(grub).toMatch(/^menuentry /m);
    expect(grub).toMatch(/^\s*linux \/vmlinuz ipa-debug=1 /m);
    expect(grub).toMatch(/^\s*initrd \/initrd$/m);
    expect(grub).toContain(DEMO_KERNEL_PARAMS);
  });

  it('has placeholder kernel and initrd of a few hundred KiB that differ from each other', () => {
    const kernel = fileOf('/vmlinuz').data;
    const initrd = fileOf('/initrd').data;
    expect(kernel.length).toBeGreaterThan(200 * 1024);
    expect(initrd.length).toBeGreaterThan(200 * 1024);
    expect(kernel.length % 2048).not.toBe(0);
    expect(Buffer.from(kernel.subarray(4096, 8192)).equals(Buffer.from(initrd.subarray(4096, 8192)))).toBe(false);
  });

  it('lists every other file in md5sum.txt with its md5, Debian style', () => {
    const spec = demoIsoSpec();
    const lines = decode(fileOf('/md5sum.txt').data).trimEnd().split('\n');
    const listed = new Map(
      lines.map((l) => {
        const m = /^([0-9a-f]{32}) {2}\.(\/.*)$/.exec(l);
        expect(m, l).not.toBeNull();
        return [m![2]!, m![1]!] as const;
      }),
    );
    const others = spec.files.filter((f) => f.path !== '/md5sum.txt');
    expect([...listed.keys()].sort()).toEqual(others.map((f) => f.path).sort());
    for (const f of others) expect(listed.get(f.path)).toBe(createHash('md5').update(f.data).digest('hex'));
  });

  it('boots BIOS from isolinux.bin and UEFI from the FAT image', () => {
    const boot = demoIsoSpec().boot!;
    expect(boot.bios?.path).toBe('/isolinux/isolinux.bin');
    expect(boot.efi?.path).toBe('/boot/grub/efiboot.img');
  });
});

describe('ensureDemoIso', () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-demo-');
  });
  afterAll(async () => scratch?.cleanup());

  it('writes <dataDir>/demo/demo.iso at first start', async () => {
    const path = await ensureDemoIso(scratch.dir);
    expect(path).toBe(join(scratch.dir, 'demo', 'demo.iso'));
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(writeIso(demoIsoSpec())))).toBe(true);
    expect((await readdir(join(scratch.dir, 'demo'))).sort()).toEqual(['demo.iso']);
  });

  it('reuses an identical image without rewriting it', async () => {
    const path = demoIsoPath(scratch.dir);
    const before = await stat(path);
    await ensureDemoIso(scratch.dir);
    const after = await stat(path);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it('replaces an image whose content differs', async () => {
    const path = demoIsoPath(scratch.dir);
    const damaged = await readFile(path);
    damaged[40000] = damaged[40000]! ^ 0xff;
    await writeFile(path, damaged);
    await ensureDemoIso(scratch.dir);
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(writeIso(demoIsoSpec())))).toBe(true);
  });
});

const TOOLS = missingTools('xorriso', 'mtype', 'fsck.fat');

describe.skipIf(TOOLS.length > 0)(`the demo image read back by real tools${TOOLS.length ? ` (missing: ${TOOLS.join(', ')})` : ''}`, () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  let isoPath: string;
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-demo-');
    isoPath = await ensureDemoIso(scratch.dir);
  });
  afterAll(async () => scratch?.cleanup());

  it('extracts files whose md5 match md5sum.txt', async () => {
    const dir = join(scratch.dir, 'x');
    await run('xorriso', ['-osirrox', 'on', '-indev', isoPath, '-extract', '/', dir]);
    const { stdout } = await run('md5sum', ['-c', 'md5sum.txt'], { cwd: dir });
    expect(
      stdout
        .trim()
        .split('\n')
        .every((l) => l.endsWith(': OK')),
    ).toBe(true);
    expect(stdout.trim().split('\n')).toHaveLength(6);
  });

  it('has BIOS and UEFI El Torito entries naming their files', async () => {
    const { stdout } = await run('xorriso', ['-indev', isoPath, '-report_el_torito', 'plain']);
    expect(stdout).toMatch(/El Torito img path :\s+1\s+\/isolinux\/isolinux\.bin/);
    expect(stdout).toMatch(/El Torito boot img :\s+2\s+UEFI/);
    expect(stdout).toMatch(/El Torito img path :\s+2\s+\/boot\/grub\/efiboot\.img/);
  });

  it('carries an EFI FAT image that fsck.fat accepts, with the same grub.cfg inside', async () => {
    const img = join(scratch.dir, 'efiboot.img');
    await writeFile(img, fileOf('/boot/grub/efiboot.img').data);
    await run('fsck.fat', ['-n', img]);
    const { stdout } = await run('mtype', ['-i', img, '::/EFI/BOOT/grub.cfg']);
    expect(stdout).toBe(decode(fileOf('/boot/grub/grub.cfg').data));
  });
});

const hasPycdlib = spawnSync('/usr/bin/python3', ['-c', 'import pycdlib']).status === 0;

describe.skipIf(!hasPycdlib)(`the demo image read back by pycdlib${hasPycdlib ? '' : ' (missing: /usr/bin/python3 with pycdlib)'}`, () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-demo-');
  });
  afterAll(async () => scratch?.cleanup());

  it('opens in pycdlib and reads grub.cfg back by its Rock Ridge and Joliet paths', async () => {
    const script = `import sys, io, pycdlib
iso = pycdlib.PyCdlib()
iso.open(sys.argv[1])
for kind in ('rr_path', 'joliet_path'):
    buf = io.BytesIO()
    iso.get_file_from_iso_fp(buf, **{kind: '/boot/grub/grub.cfg'})
    sys.stdout.write(buf.getvalue().decode())`;
    const grub = decode(fileOf('/boot/grub/grub.cfg').data);
    expect((await run('/usr/bin/python3', ['-c', script, await ensureDemoIso(scratch.dir)])).stdout).toBe(grub + grub);
  });
});
