// Hard-linked boot configs, as genisoimage writes them: one extent, a directory record per name.
// The names share one read and one buffer; an edit rewrites their sectors once, and every name
// reads back the edited text (in place, or relocated when the sectors are full); names whose
// edits would differ are a conflict; and the bytes every name costs to parse are capped: an ISO
// tree past the cap fails its base, a FAT image past it is left alone.

import { createHash } from 'node:crypto';
import { link, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeEdits } from '../../src/bootconfig/index.js';
import { memorySource, openFileSource } from '../../src/byte-source.js';
import { type IsoproxyError, LimitExceededError, RemasterError } from '../../src/errors.js';
import { buildIndex, findFile, readFileBytes } from '../../src/iso9660/index.js';
import { readVirtual } from '../../src/overlay/virtual-image.js';
import { MAX_CONFIG_TOTAL_BYTES, prepareBase } from '../../src/remaster/base-context.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { grubCfg, makeFat, padToSector, payload, writeTree } from './fixtures.js';

const EDITS = normalizeEdits({ append: ['ipa.node=node-3'] });
const missing = missingTools('genisoimage', 'xorriso', 'mkfs.fat', 'mcopy');

/** A genisoimage image of `files` where each of `links` is a hard link to the file it maps to. */
async function isoWithLinks(dir: string, files: Record<string, string | Uint8Array>, links: Record<string, string>, md5 = false): Promise<string> {
  const root = join(dir, 'tree');
  await writeTree(root, files);
  for (const [name, target] of Object.entries(links)) {
    await mkdir(dirname(join(root, name)), { recursive: true });
    await link(join(root, target), join(root, name));
  }
  if (md5) {
    const { stdout } = await run('sh', ['-c', 'find . -type f ! -name md5sum.txt | sort | xargs md5sum'], { cwd: root });
    await writeFile(join(root, 'md5sum.txt'), stdout);
  }
  const iso = join(dir, 'img.iso');
  await run('genisoimage', ['-quiet', '-R', '-J', '-o', iso, root]);
  return iso;
}

async function prepared(iso: string) {
  const source = await openFileSource(iso);
  try {
    return await prepareBase(await buildIndex(source), source);
  } finally {
    await source.close();
  }
}

describe.skipIf(missing.length > 0)(`hard-linked boot configs${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let n = 0;
  const fresh = async (): Promise<string> => {
    const dir = join(scratch.dir, String(n++));
    await mkdir(dir);
    return dir;
  };
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-hardlinks-');
  });
  afterAll(async () => {
    await scratch?.cleanup();
  });

  it.each([
    ['in-place', grubCfg()],
    ['relocated', padToSector(grubCfg())],
  ])('edits every name of one extent alike (%s) and updates each checksum line', async (placement, cfg) => {
    const names = ['/boot/grub/grub.cfg', '/EFI/BOOT/grub.cfg', '/boot/grub/loopback.cfg'];
    const iso = await isoWithLinks(
      await fresh(),
      { 'boot/grub/grub.cfg': cfg, 'boot/vmlinuz': payload('kernel', 10_000), 'boot/initrd.img': payload('initrd', 10_000) },
      { 'EFI/BOOT/grub.cfg': 'boot/grub/grub.cfg', 'boot/grub/loopback.cfg': 'boot/grub/grub.cfg' },
      true,
    );
    const source = await openFileSource(iso);
    try {
      const index = await buildIndex(source);
      const lbas = names.map((p) => findFile(index, p)!.extents[0]!.lba);
      expect(new Set(lbas).size).toBe(1);
      const ctx = await prepareBase(index, source);
      const configs = names.map((p) => ctx.configs.find((c) => c.path === p)!);
      // One read, one place in the shared buffer.
      expect(new Set(configs.map((c) => c.bytes.byteOffset)).size).toBe(1);
      expect(configs.every((c) => c.bytes.buffer === configs[0]!.bytes.buffer)).toBe(true);

      const { patchSet, report } = computePatchSet(ctx, EDITS);
      const changes = report.changes.filter((c) => names.includes(c.path));
      expect(changes.map((c) => [c.path, c.placement])).toEqual([...names].sort().map((p) => [p, placement]));
      expect(report.checksumFilesUpdated).toEqual(['/md5sum.txt']);
      const edited = await readVirtual(patchSet, (o, l) => source.read(o, l), 0, patchSet.size);
      const out = memorySource(edited);
      const outIndex = await buildIndex(out);
      const texts = await Promise.all(
        names.map(async (p) => Buffer.from(await readFileBytes(out, findFile(outIndex, p)!, 1 << 20)).toString('latin1')),
      );
      expect(texts[0]).toContain('ipa.node=node-3');
      expect(new Set(texts).size).toBe(1);
      const md5 = Buffer.from(await readFileBytes(out, findFile(outIndex, '/md5sum.txt')!, 1 << 20)).toString('latin1');
      const digest = createHash('md5').update(texts[0]!, 'latin1').digest('hex');
      for (const p of names) expect(md5).toContain(`${digest}  .${p}\n`);
    } finally {
      await source.close();
    }
  });

  it('refuses edits that would make the names of one extent differ', async () => {
    // The same bytes read as grub under /boot/grub and as syslinux under /isolinux: only one is edited.
    const iso = await isoWithLinks(
      await fresh(),
      { 'boot/grub/grub.cfg': grubCfg(), 'boot/vmlinuz': payload('kernel', 10_000) },
      { 'isolinux/notes.cfg': 'boot/grub/grub.cfg' },
    );
    const ctx = await prepared(iso);
    let caught: unknown;
    try {
      computePatchSet(ctx, EDITS, { node: 'n3' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RemasterError);
    expect((caught as RemasterError).code).toBe('REMASTER_CONFLICT');
    expect((caught as RemasterError).message).toMatch(/node n3: \/boot\/grub\/grub\.cfg and \/isolinux\/notes\.cfg are one file of the image/);
  });

  it('caps the config bytes of the ISO tree, counting every name of a hard link', async () => {
    const big = `menuentry a {\nlinux /vmlinuz q\n}\n${'#'.repeat(999_000)}\n`;
    const links: Record<string, string> = {};
    for (let i = 0; i < Math.ceil(MAX_CONFIG_TOTAL_BYTES / big.length); i++) links[`c/f${i}.cfg`] = 'boot/grub/grub.cfg';
    const iso = await isoWithLinks(await fresh(), { 'boot/grub/grub.cfg': big, vmlinuz: payload('kernel', 1000) }, links);
    const caught = await prepared(iso).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(caught).toBeInstanceOf(LimitExceededError);
    expect((caught as IsoproxyError).code).toBe('LIMIT_EXCEEDED');
    expect((caught as LimitExceededError).limit).toBe('boot-config bytes of the ISO tree');
  });

  it('leaves alone a FAT image whose configs pass the cap, with a warning', async () => {
    const dir = await fresh();
    const big = `menuentry a {\nlinuxefi /vmlinuz q\n}\n${'#'.repeat(900_000)}\n`;
    const fatFiles: Record<string, string> = {};
    for (let i = 0; i < Math.ceil(MAX_CONFIG_TOTAL_BYTES / big.length); i++) fatFiles[`EFI/BOOT/f${i}.cfg`] = big;
    const root = join(dir, 'tree');
    await writeTree(root, { vmlinuz: payload('kernel', 1000) });
    await makeFat(join(root, 'efi.img'), fatFiles, 8192, dir);
    const iso = join(dir, 'img.iso');
    await run('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-J', '-o', iso, '-e', 'efi.img', '-no-emul-boot', root]);
    // A FAT image past a cap is left alone, as an unreadable one is: the rest of the image boots.
    const ctx = await prepared(iso);
    expect(ctx.fats).toEqual([]);
    expect(ctx.warnings).toEqual([
      expect.stringMatching(/^\/efi\.img: not a readable FAT image \(.*boot-config bytes of the FAT image \/efi\.img exceeded/),
    ]);
  });
});
