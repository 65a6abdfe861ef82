// `isoproxy inspect` against the engine and against isoinfo, on xorriso images built here:
// - it lists exactly the boot configs the remaster engine edits (a config reached only by an
//   include, one found by its content, a *.cfg that is not a config), in the tree and in the
//   El Torito EFI image;
// - `--files` lists every file with its ISO 9660, Rock Ridge and Joliet names, size and first
//   extent as `isoinfo -l` (plain, -R, -J) reports them;
// - on a truncated copy, configs and the EFI image past the end are errors with code and byte
//   offset, the report is still printed, and the exit status is 1.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { memorySource } from '../../src/byte-source.js';
import { editBootConfigs, normalizeEdits } from '../../src/bootconfig/index.js';
import { run } from '../../src/commands/inspect.js';
import { buildIndex } from '../../src/iso9660/index.js';
import type { IsoIndex } from '../../src/iso9660/types.js';
import { prepareBase } from '../../src/remaster/base-context.js';
import { elToritoArgs } from '../helpers/mkisofs.js';
import { missingTools, run as runTool, scratchDir } from '../helpers/tools.js';
import { ISOHDPFX, ISOLINUX_BIN, makeEfiImage, makeSourceTree } from '../iso9660/fixtures.js';

const needed = missingTools('xorriso', 'isoinfo', 'mkfs.fat', 'mcopy', 'mmd');
if (!existsSync(ISOLINUX_BIN)) needed.push(ISOLINUX_BIN);
if (needed.length > 0) console.warn(`skipping inspect engine/isoinfo tests: missing ${needed.join(', ')}`);

let dir = '';
let iso = '';
let truncated = '';
let image = new Uint8Array();
let index: IsoIndex;
let cleanup = async () => {};

beforeAll(async () => {
  if (needed.length > 0) return;
  ({ dir, cleanup } = await scratchDir('isoproxy-inspect-engine-'));
  const tree = join(dir, 'tree');
  await makeSourceTree(tree);
  await runTool('cp', [ISOLINUX_BIN, join(tree, 'isolinux/isolinux.bin')]);
  // grub.cfg sources a menu whose name and place say nothing: only discovery's include walk finds it.
  await writeFile(join(tree, 'boot/grub/grub.cfg'), 'source /boot/menus/x86.cfg\nmenuentry "Linux" {\n  linux /vmlinuz quiet\n}\n');
  await mkdir(join(tree, 'boot/menus'));
  await writeFile(join(tree, 'boot/menus/x86.cfg'), 'menuentry "Rescue" {\n  linux /vmlinuz rescue\n}\n');
  // Found by its content (a kernel line), and a *.cfg that is not a boot config.
  await mkdir(join(tree, 'misc'));
  await writeFile(join(tree, 'misc/kernel.cfg'), 'linux /vmlinuz console=ttyS0\n');
  await writeFile(join(tree, 'misc/notes.cfg'), 'colour=blue\n');
  // The EFI image in an appended partition (as on Ubuntu), so a truncated copy loses it.
  const efi = await makeEfiImage(dir);
  iso = join(dir, 'e.iso');
  await runTool('xorriso', [
    '-as',
    'mkisofs',
    '-R',
    '-J',
    '-V',
    'ENGINE',
    '-o',
    iso,
    ...elToritoArgs({ isohybridMbr: ISOHDPFX, bootLoadSize: null, efiPartition: efi }),
    tree,
  ]);
  image = new Uint8Array(await readFile(iso));
  index = await buildIndex(memorySource(image));
  // Cut the image where grub.cfg's data starts: every directory is still there, grub.cfg is not.
  const grub = index.files.find((f) => f.path === '/boot/grub/grub.cfg')!;
  truncated = join(dir, 'truncated.iso');
  await writeFile(truncated, image.subarray(0, grub.extents[0]!.lba * 2048));
});
afterAll(() => cleanup());

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
    return { code: await run(argv), out: out.join('\n'), err: err.join('\n') };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

/** `isoinfo -l` in one namespace: file path -> [LBA, size], directories left out. */
async function isoinfoFiles(flag: string[]): Promise<Map<string, [number, number]>> {
  const { stdout } = await runTool('isoinfo', [...flag, '-l', '-i', iso]);
  const out = new Map<string, [number, number]>();
  let at = '/';
  for (const line of stdout.split('\n')) {
    const head = /^Directory listing of (.*)$/.exec(line);
    if (head) at = head[1]!;
    const m = /^(\S)\S{9}\s+\d+\s+\d+\s+\d+\s+(\d+)\s+\w{3}\s+\d+\s+\d+\s+\[\s*(\d+)\s+\d+\]\s+(.*?)\s*$/.exec(line);
    if (!m || m[1] === 'd') continue;
    let name = m[4]!.split(' -> ')[0]!.replace(/;\d+$/, '');
    if (flag.length === 0 && name.endsWith('.')) name = name.slice(0, -1);
    out.set(`${at}${name}`, [Number(m[3]), Number(m[2])]);
  }
  return out;
}

describe.skipIf(needed.length > 0)('isoproxy inspect and the engine', () => {
  it('lists exactly the boot configs the engine edits, in the tree and in the EFI image', async () => {
    const { code, out } = await capture([iso, '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(out);
    const paths = (list: { path: string }[]) => list.map((c) => c.path);
    const ctx = await prepareBase(index, memorySource(image));
    const edits = normalizeEdits({ append: ['ipa.node=n1'] });
    const edited = (files: readonly { path: string; bytes: Uint8Array }[]) =>
      editBootConfigs(new Map(files.map((f) => [f.path, Buffer.from(f.bytes).toString('latin1')])), edits).configs;
    expect(paths(r.bootConfigs).sort()).toEqual(paths([...edited(ctx.configs)]).sort());
    expect(paths(r.bootConfigs)).toEqual(expect.arrayContaining(['/boot/menus/x86.cfg', '/misc/kernel.cfg']));
    expect(paths(r.bootConfigs)).not.toContain('/misc/notes.cfg');
    const menu = r.bootConfigs.find((c: { path: string }) => c.path === '/boot/menus/x86.cfg');
    expect(menu).toMatchObject({ kind: 'grub', kernelLines: 1, includedBy: ['/boot/grub/grub.cfg'] });
    expect(paths(r.efiImageConfigs)).toEqual(paths(ctx.fats.flatMap((fat) => edited(fat.configs))));
    expect(r.errors).toEqual([]);
  });

  it('--files lists every file with the names, sizes and first extents isoinfo reports in each tree', async () => {
    const { code, out } = await capture([iso, '--files', '--json']);
    expect(code).toBe(0);
    const files: { path: string; names: Record<string, string>; sizeBytes: number; extents: { lba: number }[] }[] = JSON.parse(out).files;
    expect(files).toHaveLength(index.files.length);
    for (const [tree, flag] of [
      ['iso9660', []],
      ['rockRidge', ['-R']],
      ['joliet', ['-J']],
    ] as const) {
      const listed = await isoinfoFiles([...flag]);
      const ours = new Map(files.filter((f) => f.names[tree] !== undefined).map((f) => [f.names[tree]!, [f.extents[0]!.lba, f.sizeBytes]]));
      expect(ours, `${tree} names`).toEqual(listed);
    }
    const readme = files.find((f) => f.path === '/readme.txt')!;
    expect(readme.names).toEqual({ iso9660: '/README.TXT', rockRidge: '/readme.txt', joliet: '/readme.txt' });
  });

  it('--files prints one line per file with its LBA, size, path and tree names', async () => {
    const { code, out } = await capture([iso, '--files']);
    expect(code).toBe(0);
    const readme = index.files.find((f) => f.path === '/readme.txt')!;
    expect(out).toContain(`Files (${index.files.length};`);
    const names = '\\(iso9660 /README\\.TXT; rr /readme\\.txt; joliet /readme\\.txt\\)';
    expect(out).toMatch(new RegExp(`^\\s+${readme.extents[0]!.lba}\\s+6  /readme\\.txt  ${names}$`, 'm'));
  });

  it('reports boot configs and an EFI image past the end of a truncated image as errors and exits 1', async () => {
    const { code, out, err } = await capture([truncated, '--json']);
    expect(code).toBe(1);
    const r = JSON.parse(out);
    const grub = index.files.find((f) => f.path === '/boot/grub/grub.cfg')!;
    expect(r.bootConfigs.map((c: { path: string }) => c.path)).not.toContain('/boot/grub/grub.cfg');
    for (const c of r.bootConfigs as { lba: number; sizeBytes: number }[]) expect(c.lba * 2048 + c.sizeBytes).toBeLessThanOrEqual(r.imageSize);
    const grubError = r.errors.find((e: { path?: string }) => e.path === '/boot/grub/grub.cfg');
    expect(grubError).toMatchObject({ code: 'ISO_FORMAT', structure: 'file extent' });
    expect(grub.records.map((rec) => rec.offset)).toContain(grubError.offset);
    const efiEntry = index.elTorito!.entries[1]!;
    expect(efiEntry.platform).toBe('efi');
    expect(r.errors).toContainEqual(expect.objectContaining({ code: 'ISO_FORMAT', structure: 'El Torito boot entry', offset: efiEntry.entryOffset }));
    expect(r.errors).toContainEqual(expect.objectContaining({ structure: 'primary volume descriptor', offset: 16 * 2048 + 80 }));
    expect(err.split('\n')).toHaveLength(1);
    expect(err).toMatch(/^isoproxy inspect: .*truncated\.iso: ISO_FORMAT .*\(and \d+ more errors\)$/);
  });

  it('prints the errors of a truncated image at the end of the text report', async () => {
    const { code, out } = await capture([truncated]);
    expect(code).toBe(1);
    expect(out).toContain('Volume:      ENGINE');
    expect(out).toMatch(
      /^Error: ISO_FORMAT file extent at byte \d+: \/boot\/grub\/grub\.cfg extent \d+\+\d+ ends at byte \d+, past the image end \d+/m,
    );
    expect(out).not.toMatch(/^ {2}\/boot\/grub\/grub\.cfg {2}grub/m);
  });
});
