// The deterministic ISO writer, checked against real parsers: xorriso (listing, extraction,
// El Torito report, media check), isoinfo (genisoimage) and pycdlib (strict open, walk of the
// Rock Ridge, Joliet and ISO 9660 namespaces, files read back). Fixtures are made here by code.

import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeIsoToFile } from '../../src/demo/image-file.js';
import { IsoSpecError, writeIso, type IsoFileSpec, type IsoSpec } from '../../src/iso9660/writer.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';

const text = (s: string) => new TextEncoder().encode(s);

/** Deterministic filler so that content mix-ups show. */
function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const LONG_NAME = 'a lowercase name with spaces, commas and more than sixty-four characters in all.txt';
const NAME_255 = 'n'.repeat(251) + '.cfg';
const DEEP = '/d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/deep file.txt';
// 70 entries so the directory's records cross a sector boundary.
const MANY = Array.from({ length: 70 }, (_, i) => ({ path: `/many/entry-number-${String(i).padStart(3, '0')}.txt`, data: text(`entry ${i}\n`) }));

const FILES: IsoFileSpec[] = [
  { path: '/boot/grub/grub.cfg', data: text('menuentry "x" {\n  linux /vmlinuz ipa-debug=1\n  initrd /initrd\n}\n') },
  { path: '/isolinux/isolinux.bin', data: pattern(5000, 7) },
  { path: '/isolinux/isolinux.cfg', data: text('LABEL boot\nKERNEL /vmlinuz\nAPPEND initrd=/initrd\n') },
  { path: '/EFI/efiboot.img', data: pattern(3 * 2048 + 100, 9) },
  { path: `/${LONG_NAME}`, data: text('long\n') },
  { path: `/${NAME_255}`, data: text('255 bytes of name\n') },
  { path: DEEP, data: text('deep\n') },
  { path: '/exact-two-sectors.bin', data: pattern(4096, 11) },
  { path: '/empty', data: new Uint8Array(0) },
  { path: '/other-empty', data: new Uint8Array(0) },
  { path: '/MixedCase.TXT', data: text('mixed\n') },
  { path: '/mixedcase.txt', data: text('clashes in ISO 9660 names with the one above\n') },
  ...MANY,
];

const SPEC: IsoSpec = {
  volumeId: 'ISOPROXY_TEST',
  files: FILES,
  boot: { bios: { path: '/isolinux/isolinux.bin', bootInfoTable: true }, efi: { path: '/EFI/efiboot.img' }, catalogPath: '/isolinux/boot.cat' },
};

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const u32 = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;

/** The boot catalog's entries, read the plain way (El Torito 2.x), for cross-checks. */
function catalogOf(image: Uint8Array): { platform: number; rba: number; count: number }[] {
  const catalogLba = u32(image, 17 * 2048 + 71);
  const c = image.subarray(catalogLba * 2048, catalogLba * 2048 + 2048);
  const entries = [{ platform: c[1]!, rba: u32(c, 32 + 8), count: c[32 + 6]! | (c[32 + 7]! << 8) }];
  for (let at = 64; c[at] === 0x90 || c[at] === 0x91; at += 64) {
    entries.push({ platform: c[at + 1]!, rba: u32(c, at + 32 + 8), count: c[at + 32 + 6]! | (c[at + 32 + 7]! << 8) });
  }
  return entries;
}

/** What the boot file must look like in the image: the mkisofs boot info table in bytes 8..63. */
function expectedBootFile(original: Uint8Array, lba: number): Uint8Array {
  const out = original.slice();
  let sum = 0;
  const padded = new Uint8Array(Math.ceil(original.length / 4) * 4);
  padded.set(original);
  const dv = new DataView(padded.buffer);
  for (let i = 64; i < padded.length; i += 4) sum = (sum + dv.getUint32(i, true)) >>> 0;
  const table = new DataView(out.buffer);
  out.fill(0, 8, 64);
  table.setUint32(8, 16, true);
  table.setUint32(12, lba, true);
  table.setUint32(16, original.length, true);
  table.setUint32(20, sum, true);
  return out;
}

describe('writeIso without external tools', () => {
  it('gives byte-identical output for the same spec, whatever the order of the files', () => {
    const a = writeIso(SPEC);
    const b = writeIso({ ...SPEC, files: [...FILES].reverse() });
    expect(sha(b)).toBe(sha(a));
  });

  it('records the volume size, in both byte orders, as the image length in sectors', () => {
    const image = writeIso(SPEC);
    const pvd = new DataView(image.buffer, 16 * 2048, 2048);
    expect(image.length % 2048).toBe(0);
    expect(pvd.getUint32(80, true)).toBe(image.length / 2048);
    expect(pvd.getUint32(84, false)).toBe(image.length / 2048);
  });

  it('writes the volume identifier as given, padded with spaces', () => {
    const image = writeIso({ volumeId: 'ipa Demo-1', files: [] });
    expect(Buffer.from(image.subarray(16 * 2048 + 40, 16 * 2048 + 72)).toString('latin1')).toBe('ipa Demo-1'.padEnd(32, ' '));
  });

  it('starts every non-empty file on a sector and honours a larger fileAlignment', () => {
    const image = writeIso({
      volumeId: 'A',
      files: [
        { path: '/a', data: text('a') },
        { path: '/b', data: text('b') },
      ],
      fileAlignment: 8192,
      joliet: false,
    });
    const starts = [...image.keys()].filter(
      (i) => i % 2048 === 0 && (image[i] === 0x61 || image[i] === 0x62) && image.subarray(i + 1, i + 2048).every((x) => x === 0),
    );
    expect(starts.length).toBe(2);
    for (const s of starts) expect(s % 8192).toBe(0);
  });

  it('writes the boot info table the mkisofs way', () => {
    const image = writeIso(SPEC);
    const [bios] = catalogOf(image);
    const original = FILES.find((f) => f.path === '/isolinux/isolinux.bin')!.data;
    const inImage = image.subarray(bios!.rba * 2048, bios!.rba * 2048 + original.length);
    expect(Buffer.from(inImage).equals(Buffer.from(expectedBootFile(original, bios!.rba)))).toBe(true);
    expect(bios!.count).toBe(4);
  });

  it('rejects unusable specs with IsoSpecError', () => {
    const one = { path: '/a/b', data: text('x') };
    expect(() => writeIso({ volumeId: 'A', files: [one, one] })).toThrow(IsoSpecError);
    expect(() => writeIso({ volumeId: 'A', files: [one, { path: '/a/b/c', data: text('x') }] })).toThrow(/is a file/);
    expect(() => writeIso({ volumeId: 'A', files: [{ path: 'relative', data: text('x') }] })).toThrow(/absolute/);
    expect(() => writeIso({ volumeId: 'A', files: [{ path: '/a/../b', data: text('x') }] })).toThrow(IsoSpecError);
    expect(() => writeIso({ volumeId: 'A', files: [{ path: '/' + 'x'.repeat(256), data: text('x') }] })).toThrow(/255/);
    expect(() => writeIso({ volumeId: 'A', files: [one], boot: { bios: { path: '/missing' } } })).toThrow(/not one of the files/);
    expect(() => writeIso({ volumeId: 'A', files: [one], boot: { bios: { path: '/a/b', bootInfoTable: true } } })).toThrow(/64 bytes/);
    expect(() => writeIso({ volumeId: 'x'.repeat(33), files: [] })).toThrow(/volumeId/);
    expect(() => writeIso({ volumeId: 'A', files: [], fileAlignment: 1000 })).toThrow(/fileAlignment/);
    expect(() => writeIso({ volumeId: 'A', files: [], rockRidge: false, relocateDeepDirectories: true })).toThrow(/needs rockRidge/);
    expect(() =>
      writeIso({
        volumeId: 'A',
        files: [
          { path: DEEP, data: text('x') },
          { path: '/rr_moved/x', data: text('x') },
        ],
        relocateDeepDirectories: true,
      }),
    ).toThrow(/reserved/);
  });

  it('writes an empty image that still has a root directory', () => {
    const image = writeIso({ volumeId: 'EMPTY', files: [] });
    expect(image.length).toBeGreaterThan(16 * 2048);
  });
});

const XORRISO = missingTools('xorriso');
const ISOINFO = missingTools('isoinfo');
const hasPycdlib = spawnSync('/usr/bin/python3', ['-c', 'import pycdlib']).status === 0;

/** Expected content of every file as it reads back (the boot file carries its info table). */
function expectedContents(image: Uint8Array): Map<string, string> {
  const bios = catalogOf(image)[0]!;
  const m = new Map<string, string>();
  for (const f of FILES) m.set(f.path, sha(f.path === '/isolinux/isolinux.bin' ? expectedBootFile(f.data, bios.rba) : f.data));
  return m;
}

async function walk(dir: string, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = `${prefix}/${e.name}`;
    if (e.isDirectory()) for (const [k, v] of await walk(join(dir, e.name), p)) out.set(k, v);
    else out.set(p, sha(await readFile(join(dir, e.name))));
  }
  return out;
}

describe.skipIf(XORRISO.length > 0)(`writeIso read back by xorriso${XORRISO.length ? ` (missing: ${XORRISO.join(', ')})` : ''}`, () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  let isoPath: string;
  let image: Uint8Array;
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-writer-');
    isoPath = join(scratch.dir, 'test.iso');
    await writeIsoToFile(SPEC, isoPath);
    image = new Uint8Array(await readFile(isoPath));
  });
  afterAll(async () => scratch?.cleanup());

  it('writes the file atomically with the same bytes as writeIso', async () => {
    expect(sha(image)).toBe(sha(writeIso(SPEC)));
    expect((await readdir(scratch.dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
  });

  it('lists every file and implied directory under its Rock Ridge name', async () => {
    const { stdout } = await run('xorriso', ['-indev', isoPath, '-find', '/', '-exec', 'lsdl']);
    const listed = new Map<string, string>();
    for (const line of stdout.split('\n')) {
      const m = /^(\S)\S*\s.*'(.*)'$/.exec(line);
      if (m) listed.set(m[2]!, m[1]!);
    }
    const expected = new Map<string, string>([['/', 'd']]);
    for (const f of [...FILES.map((f) => f.path), '/isolinux/boot.cat']) {
      const parts = f.split('/');
      for (let i = 2; i < parts.length; i++) expected.set(parts.slice(0, i).join('/'), 'd');
      expected.set(f, '-');
    }
    // xorriso marks the boot catalog with its own type letter.
    listed.set('/isolinux/boot.cat', '-');
    expect(new Map([...listed].sort())).toEqual(new Map([...expected].sort()));
  });

  it('extracts every file with its exact content, empty and sector-sized ones included', async () => {
    const dir = join(scratch.dir, 'extracted');
    await run('xorriso', ['-osirrox', 'on', '-indev', isoPath, '-extract', '/', dir]);
    const got = await walk(dir);
    got.delete('/isolinux/boot.cat');
    expect(new Map([...got].sort())).toEqual(new Map([...expectedContents(image)].sort()));
    expect((await stat(join(dir, 'empty'))).size).toBe(0);
  });

  it('reports the BIOS and EFI El Torito entries where the files are', async () => {
    const { stdout } = await run('xorriso', ['-indev', isoPath, '-report_el_torito', 'plain']);
    const [bios, efi] = catalogOf(image);
    expect(stdout).toMatch(new RegExp(`El Torito boot img :\\s+1\\s+BIOS\\s+y\\s+none\\s+0x0000\\s+0x00\\s+4\\s+${bios!.rba}\\b`));
    expect(stdout).toMatch(
      new RegExp(`El Torito boot img :\\s+2\\s+UEFI\\s+y\\s+none\\s+0x0000\\s+0x00\\s+${Math.ceil((3 * 2048 + 100) / 512)}\\s+${efi!.rba}\\b`),
    );
    expect(stdout).toMatch(/El Torito img path :\s+1\s+\/isolinux\/isolinux\.bin/);
    expect(stdout).toMatch(/El Torito img path :\s+2\s+\/EFI\/efiboot\.img/);
    expect(stdout).toMatch(/El Torito img opts :\s+1\s+boot-info-table/);
    expect(stdout).toMatch(/El Torito cat path :\s+\/isolinux\/boot\.cat/);
  });

  it('passes xorriso -check_media over the whole volume', async () => {
    const { stdout, stderr } = await run('xorriso', ['-indev', isoPath, '-check_media', '--']);
    expect(stdout + stderr).toMatch(new RegExp(`Media region :\\s+0 ,\\s+${image.length / 2048} , \\+ good`));
  });

  it('relocates directories below level 8 to /rr_moved so that Rock Ridge readers see the real tree', async () => {
    const deeper = '/d1/d2/d3/d4/d5/d6/d7/x8/d9/d10/d11/d12/d13/d14/d15/d16/d17/deeper.txt';
    const files = [
      { path: DEEP, data: text('deep\n') },
      { path: deeper, data: text('deeper\n') },
      { path: '/top.txt', data: text('top\n') },
    ];
    const relocatedPath = join(scratch.dir, 'relocated.iso');
    await writeIsoToFile({ volumeId: 'RELOCATED', files, relocateDeepDirectories: true }, relocatedPath);
    const { stdout } = await run('xorriso', ['-indev', relocatedPath, '-find', '/', '-type', 'f', '-exec', 'lsdl']);
    const listed = stdout.split('\n').flatMap((l) => /'(.*)'$/.exec(l)?.[1] ?? []);
    expect(listed.sort()).toEqual(files.map((f) => f.path).sort());
    const dir = join(scratch.dir, 'relocated');
    await run('xorriso', ['-osirrox', 'on', '-indev', relocatedPath, '-extract', '/', dir]);
    const got = await walk(dir);
    expect(new Map([...got].sort())).toEqual(new Map(files.map((f) => [f.path, sha(f.data)] as [string, string]).sort()));
    // Both runs of the relocation give the same bytes too.
    expect(sha(await readFile(relocatedPath))).toBe(
      sha(writeIso({ volumeId: 'RELOCATED', files: [...files].reverse(), relocateDeepDirectories: true })),
    );
  });

  it('writes the same bytes on a second run', async () => {
    const again = join(scratch.dir, 'again.iso');
    await writeIsoToFile(SPEC, again);
    expect(sha(await readFile(again))).toBe(sha(image));
  });
});

describe.skipIf(ISOINFO.length > 0)(`writeIso read back by isoinfo${ISOINFO.length ? ` (missing: ${ISOINFO.join(', ')})` : ''}`, () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  let isoPath: string;
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-writer-');
    isoPath = join(scratch.dir, 'test.iso');
    await writeFile(isoPath, writeIso(SPEC));
  });
  afterAll(async () => scratch?.cleanup());

  it('sees Rock Ridge, Joliet level 3, El Torito and the volume size', async () => {
    const { stdout } = await run('isoinfo', ['-d', '-i', isoPath]);
    expect(stdout).toMatch(/Volume id: ISOPROXY_TEST/);
    expect(stdout).toMatch(/Rock Ridge signatures version 1 found/);
    expect(stdout).toMatch(/Joliet with UCS level 3 found/);
    expect(stdout).toMatch(/El Torito VD version 1 found/);
    expect(stdout).toMatch(new RegExp(`Volume size is: ${writeIso(SPEC).length / 2048}\\b`));
  });

  it('lists long lowercase Rock Ridge names and Joliet names', async () => {
    const rr = (await run('isoinfo', ['-l', '-R', '-i', isoPath])).stdout;
    expect(rr).toContain(LONG_NAME);
    expect(rr).toContain(NAME_255);
    expect(rr).toContain('deep file.txt');
    expect(rr).toContain('MixedCase.TXT');
    const joliet = (await run('isoinfo', ['-l', '-J', '-i', isoPath])).stdout;
    expect(joliet).toContain(LONG_NAME.slice(0, 64).trimEnd());
    expect(joliet).toContain('grub.cfg');
  });

  it('writes plain ISO 9660 without Rock Ridge or Joliet when asked', async () => {
    const plain = join(scratch.dir, 'plain.iso');
    await writeFile(plain, writeIso({ volumeId: 'PLAIN', files: FILES.slice(0, 3), rockRidge: false, joliet: false }));
    const { stdout } = await run('isoinfo', ['-d', '-i', plain]);
    expect(stdout).toMatch(/NO Rock Ridge present/);
    expect(stdout).toMatch(/NO Joliet present/);
    expect((await run('isoinfo', ['-l', '-i', plain])).stdout).toContain('GRUB.CFG;1');
  });
});

/** Walks every namespace with pycdlib and prints path -> sha256 of the content read back. */
const PYCDLIB_WALK = `
import sys, json, hashlib, io, pycdlib
iso = pycdlib.PyCdlib()
iso.open(sys.argv[1])
out = {}
for kind in ('rr_path', 'joliet_path', 'iso_path'):
    if kind == 'rr_path' and not iso.has_rock_ridge(): continue
    if kind == 'joliet_path' and not iso.has_joliet(): continue
    files = {}
    for dirname, dirs, names in iso.walk(**{kind: '/'}):
        for name in names:
            p = dirname.rstrip('/') + '/' + name
            buf = io.BytesIO()
            iso.get_file_from_iso_fp(buf, **{kind: p})
            files[p] = hashlib.sha256(buf.getvalue()).hexdigest()
    out[kind] = files
iso.close()
print(json.dumps(out))
`;

describe.skipIf(!hasPycdlib)(`writeIso read back by pycdlib${hasPycdlib ? '' : ' (missing: /usr/bin/python3 with pycdlib)'}`, () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-writer-');
  });
  afterAll(async () => scratch?.cleanup());

  const walkWithPycdlib = async (spec: IsoSpec) => {
    const isoPath = join(scratch.dir, `${spec.volumeId}.iso`);
    const image = writeIso(spec);
    await writeFile(isoPath, image);
    const { stdout } = await run('/usr/bin/python3', ['-c', PYCDLIB_WALK, isoPath]);
    return { image, walked: JSON.parse(stdout) as Record<string, Record<string, string>> };
  };

  it('opens the image and reads every file back by its Rock Ridge, Joliet and ISO 9660 path', async () => {
    const { image, walked } = await walkWithPycdlib(SPEC);
    const expected = expectedContents(image);
    const rr = walked.rr_path!;
    delete rr['/isolinux/boot.cat'];
    expect(new Map(Object.entries(rr).sort())).toEqual(new Map([...expected].sort()));
    // Joliet names are cut at 64 characters; contents must still match, file for file.
    const joliet = walked.joliet_path!;
    expect(Object.keys(joliet)).toHaveLength(FILES.length + 1);
    expect(joliet['/boot/grub/grub.cfg']).toBe(expected.get('/boot/grub/grub.cfg'));
    expect(joliet[DEEP]).toBe(expected.get(DEEP));
    const iso = walked.iso_path!;
    expect(Object.keys(iso)).toHaveLength(FILES.length + 1);
    expect(iso['/BOOT/GRUB/GRUB.CFG;1']).toBe(expected.get('/boot/grub/grub.cfg'));
    expect(new Set(Object.values(iso))).toEqual(new Set(Object.values(rr).concat(walked.iso_path!['/ISOLINUX/BOOT.CAT;1']!)));
  });

  it('follows the Rock Ridge relocation of deep directories to their real paths', async () => {
    const isoPath = join(scratch.dir, 'relocated.iso');
    await writeFile(isoPath, writeIso({ volumeId: 'RELOCATED', files: [{ path: DEEP, data: text('deep\n') }], relocateDeepDirectories: true }));
    const script = `import sys, io, pycdlib
iso = pycdlib.PyCdlib()
iso.open(sys.argv[1])
buf = io.BytesIO()
iso.get_file_from_iso_fp(buf, rr_path=sys.argv[2])
sys.stdout.write(buf.getvalue().decode())
buf = io.BytesIO()
iso.get_file_from_iso_fp(buf, joliet_path=sys.argv[2])
sys.stdout.write(buf.getvalue().decode())`;
    expect((await run('/usr/bin/python3', ['-c', script, isoPath, DEEP])).stdout).toBe('deep\ndeep\n');
  });

  it('opens images without Rock Ridge, without Joliet, and without boot entries', async () => {
    const files = FILES.slice(0, 4);
    const { walked: plain } = await walkWithPycdlib({ volumeId: 'PLAIN', files, rockRidge: false, joliet: false });
    expect(Object.keys(plain)).toEqual(['iso_path']);
    expect(Object.keys(plain.iso_path!)).toHaveLength(4);
    const { walked: rrOnly } = await walkWithPycdlib({ volumeId: 'RRONLY', files, joliet: false });
    expect(Object.keys(rrOnly.rr_path!).sort()).toEqual(files.map((f) => f.path).sort());
    const { walked: efiOnly } = await walkWithPycdlib({ volumeId: 'EFIONLY', files, boot: { efi: { path: '/EFI/efiboot.img' } } });
    expect(Object.keys(efiOnly.joliet_path!)).toHaveLength(4);
  });
});

/**
 * Random trees whose names stress the name mapping: case clashes in ISO 9660 names, dots,
 * spaces, non-ASCII (é, CJK, an emoji that UCS-2 stores as a surrogate pair), Joliet's 64-char cut.
 */
const nameArb = fc
  .oneof(
    fc.string({ unit: fc.constantFrom('a', 'A', 'b', '.', '_', '-', ' ', 'é', '漢', '😀', '1'), minLength: 1, maxLength: 12 }),
    fc.constantFrom('x'.repeat(70), 'x'.repeat(70) + 'y', 'README', 'readme', 'ReadMe.txt', 'readme.TXT'),
  )
  .filter((n) => n !== '.' && n !== '..');
const treeArb = fc
  .uniqueArray(
    fc.array(nameArb, { minLength: 1, maxLength: 4 }).map((parts) => '/' + parts.join('/')),
    { maxLength: 25 },
  )
  .map((paths) => paths.filter((p) => !paths.some((q) => q !== p && q.startsWith(p + '/'))))
  .chain((paths) => fc.tuple(fc.constant(paths), fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: paths.length, maxLength: paths.length })));

const TREE_TOOLS = missingTools('xorriso');
const randomTreesTitle = `writeIso on random trees${TREE_TOOLS.length || !hasPycdlib ? ' (missing: xorriso or pycdlib)' : ''}`;
describe.skipIf(TREE_TOOLS.length > 0 || !hasPycdlib)(randomTreesTitle, () => {
  let scratch: Awaited<ReturnType<typeof scratchDir>>;
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-writer-');
  });
  afterAll(async () => scratch?.cleanup());

  it('round-trips every file through xorriso and pycdlib, with unique names in every tree', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(treeArb, async ([paths, sizes]) => {
        const files = paths.map((path, i) => ({ path, data: pattern(sizes[i]!, i + 1) }));
        const isoPath = join(scratch.dir, `random-${++n}.iso`);
        await writeFile(isoPath, writeIso({ volumeId: 'RANDOM', files }));
        const dir = join(scratch.dir, `random-${n}`);
        await run('xorriso', ['-osirrox', 'on', '-indev', isoPath, '-extract', '/', dir]);
        const expected = new Map(files.map((f) => [f.path, sha(f.data)] as [string, string]));
        expect(new Map([...(await walk(dir))].sort())).toEqual(new Map([...expected].sort()));
        const { stdout } = await run('/usr/bin/python3', ['-c', PYCDLIB_WALK, isoPath]);
        const walked = JSON.parse(stdout) as Record<string, Record<string, string>>;
        expect(new Map(Object.entries(walked.rr_path!).sort())).toEqual(new Map([...expected].sort()));
        expect(Object.values(walked.joliet_path!).sort()).toEqual([...expected.values()].sort());
        expect(Object.values(walked.iso_path!).sort()).toEqual([...expected.values()].sort());
      }),
      { seed: Number(process.env.ISOPROXY_FUZZ_SEED ?? 20260101), numRuns: Number(process.env.ISOPROXY_FUZZ_RUNS ?? 12) },
    );
  });
});
