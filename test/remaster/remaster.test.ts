// Acceptance of the remaster engine on images made by real tools: materialize base ⊕ patch set
// and check it with xorriso, isoinfo, pycdlib, mtools, fsck.fat and md5sum.

import { createHash } from 'node:crypto';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileSource } from '../../src/byte-source.js';
import { normalizeEdits } from '../../src/bootconfig/index.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { prepareBase } from '../../src/remaster/base-context.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import { writeVirtualImage } from '../../src/commands/materialize.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { debianLike, grubMkrescue, level1, rhelLike, threeTrees, zeroSlack, type Layout } from './fixtures.js';

const tools = ['xorriso', 'genisoimage', 'isoinfo', 'mkfs.fat', 'mcopy', 'mtype', 'fsck.fat', 'md5sum'];
const missing = missingTools(...tools);
const EDITS = normalizeEdits({
  append: ['ipa.node=node-7', 'ipa-api-url=http://10.0.0.1:6385'],
  set: { 'isoproxy.keep': 'no' },
  remove: ['isoproxy.drop'],
});

async function sha(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function listFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string) {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(relative(root, p));
    }
  }
  await walk(root);
  return out.sort();
}

async function extract(iso: string, dir: string): Promise<void> {
  await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', dir]);
  await run('chmod', ['-R', 'u+rwX', dir]);
}

/** The edits applied exactly: appended tokens once per kernel line, value replaced, key gone, the rest intact. */
function expectEdited(text: string, what: string): void {
  const kernelLines = text.split('\n').filter((l) => /^\s*(linux|linuxefi|linux16|append)\s/i.test(l) && l.includes('isoproxy.base=1'));
  expect(kernelLines.length, `${what}: kernel lines`).toBeGreaterThan(0);
  for (const l of kernelLines) {
    expect(l.match(/ipa\.node=node-7/g)?.length, `${what}: ${l}`).toBe(1);
    expect(l, what).toContain('isoproxy.keep=no');
    expect(l, what).not.toContain('isoproxy.keep=yes');
    expect(l, what).not.toContain('isoproxy.drop');
    expect(l, what).toContain('ipa-api-url=http://10.0.0.1:6385');
  }
}

describe.skipIf(missing.length > 0)(`remaster on real images${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-remaster-');
  });
  afterAll(async () => {
    await scratch?.cleanup();
  });

  async function remaster(layout: Layout) {
    const source = await openFileSource(layout.iso);
    try {
      const index = await buildIndex(source);
      const ctx = await prepareBase(index, source);
      const result = computePatchSet(ctx, EDITS, { node: 'node-7' });
      const out = `${layout.iso}.node-7.iso`;
      await writeVirtualImage(result.patchSet, source, out);
      return { ...result, ctx, index, out };
    } finally {
      await source.close();
    }
  }

  /** Extracts base and output; every file is byte-identical except `changed`, which must carry the edits. */
  async function compareTrees(layout: Layout, out: string, changed: string[], configs: string[]) {
    const a = join(scratch.dir, `${layout.name}-base`);
    const b = join(scratch.dir, `${layout.name}-out`);
    await extract(layout.iso, a);
    await extract(out, b);
    const filesA = await listFiles(a);
    expect(await listFiles(b)).toEqual(filesA);
    for (const f of filesA) {
      const same = (await sha(join(a, f))) === (await sha(join(b, f)));
      expect(same, `${f} ${same ? 'unchanged' : 'changed'}`).toBe(!changed.includes(f));
    }
    for (const c of configs) expectEdited(await readFile(join(b, c), 'latin1'), c);
    return b;
  }

  async function fatCheck(fatPath: string, inner: string) {
    const text = (await run('mtype', ['-i', fatPath, `::${inner}`])).stdout;
    expectEdited(text, `${fatPath}::${inner}`);
    await run('fsck.fat', ['-n', fatPath]);
  }

  async function pycdlibCheck(iso: string, paths: { rr?: string; joliet?: string; iso?: string }[]) {
    const script = `
import sys, io, json, pycdlib
iso = pycdlib.PyCdlib()
iso.open(sys.argv[1])
out = []
for spec in json.loads(sys.argv[2]):
    for kind, p in spec.items():
        buf = io.BytesIO()
        iso.get_file_from_iso_fp(buf, **{kind + '_path': p})
        out.append(buf.getvalue().decode('latin1'))
iso.close()
print(json.dumps(out))
`;
    const py = join(scratch.dir, 'pycd.py');
    await writeFile(py, script);
    const { stdout } = await run('/usr/bin/python3', [py, iso, JSON.stringify(paths)]);
    return JSON.parse(stdout) as string[];
  }

  it('edits a Debian-like hybrid image in place: isolinux INCLUDE chain, grub.cfg, the EFI image and md5sum.txt', async () => {
    const layout = await debianLike(scratch.dir);
    const r = await remaster(layout);
    expect(r.report.changes.map((c) => `${c.placement} ${c.path}`).sort()).toEqual([
      'fat /EFI/BOOT/grub.cfg',
      'in-place /boot/grub/grub.cfg',
      'in-place /isolinux/txt.cfg',
      'in-place /md5sum.txt',
    ]);
    expect(r.patchSet.size).toBe(r.patchSet.baseSize);
    const tree = await compareTrees(
      layout,
      r.out,
      ['boot/grub/grub.cfg', 'isolinux/txt.cfg', 'md5sum.txt', 'boot/grub/efi.img'],
      ['boot/grub/grub.cfg', 'isolinux/txt.cfg'],
    );
    await fatCheck(join(tree, 'boot/grub/efi.img'), '/EFI/BOOT/grub.cfg');
    await run('md5sum', ['--quiet', '-c', 'md5sum.txt'], { cwd: tree });
    // The Joliet tree gives the same edited file (isoinfo reads it through Joliet records).
    expectEdited((await run('isoinfo', ['-J', '-i', r.out, '-x', '/boot/grub/grub.cfg'])).stdout, 'joliet grub.cfg');
    const [rr, joliet] = await pycdlibCheck(r.out, [{ rr: '/isolinux/txt.cfg' }, { joliet: '/isolinux/txt.cfg' }]);
    expectEdited(rr!, 'pycdlib rr');
    expect(joliet).toBe(rr);
    // El Torito and the hybrid MBR are where they were.
    const before = (await run('xorriso', ['-indev', layout.iso, '-report_el_torito', 'plain'])).stdout;
    const after = (await run('xorriso', ['-indev', r.out, '-report_el_torito', 'plain'])).stdout;
    expect(after).toBe(before);
    const head = async (p: string) => (await readFile(p)).subarray(0, 512);
    expect(await head(r.out)).toEqual(await head(layout.iso));
  });

  it('edits a RHEL-like image: linuxefi in images/efiboot.img and the tree copy', async () => {
    const layout = await rhelLike(scratch.dir);
    const r = await remaster(layout);
    const tree = await compareTrees(
      layout,
      r.out,
      ['EFI/BOOT/grub.cfg', 'isolinux/isolinux.cfg', 'images/efiboot.img'],
      ['EFI/BOOT/grub.cfg', 'isolinux/isolinux.cfg'],
    );
    await fatCheck(join(tree, 'images/efiboot.img'), '/EFI/BOOT/grub.cfg');
  });

  it('edits a genisoimage level-1 image through its upper-case 8.3 names', async () => {
    const layout = await level1(scratch.dir);
    const r = await remaster(layout);
    expect(r.report.changes.length).toBe(2);
    const cfg = (await run('isoinfo', ['-i', r.out, '-x', '/ISOLINUX/ISOLINUX.CFG;1'])).stdout;
    expectEdited(cfg, 'level-1 isolinux.cfg');
    const [grub] = await pycdlibCheck(r.out, [{ iso: '/BOOT/GRUB/GRUB.CFG;1' }]);
    expectEdited(grub!, 'level-1 grub.cfg');
  });

  it('updates the data length in every tree of an ISO 9660:1999 image', async () => {
    const layout = await threeTrees(scratch.dir);
    const r = await remaster(layout);
    expect(r.index.trees.map((t) => t.kind).sort()).toEqual(['iso9660', 'iso9660-1999', 'joliet']);
    // genisoimage roots the primary and the enhanced descriptor at one directory tree, so each
    // distinct tree holds one record of grub.cfg, and all of them are patched.
    const roots = new Set(r.index.trees.map((t) => t.rootLba));
    const grub = r.ctx.configs.find((f) => f.path === '/boot/grub/grub.cfg')!;
    expect(grub.records.length).toBe(roots.size);
    expect(r.ctx.volumeDescriptorOffsets.length).toBe(3);
    await compareTrees(layout, r.out, ['boot/grub/grub.cfg', 'isolinux/isolinux.cfg'], ['boot/grub/grub.cfg', 'isolinux/isolinux.cfg']);
    expectEdited((await run('isoinfo', ['-J', '-i', r.out, '-x', '/boot/grub/grub.cfg'])).stdout, 'joliet');
  });

  it('relocates configs that end exactly on a sector boundary to an appended tail', async () => {
    const layout = await zeroSlack(scratch.dir);
    const r = await remaster(layout);
    const relocated = r.report.changes
      .filter((c) => c.placement === 'relocated')
      .map((c) => c.path)
      .sort();
    expect(relocated).toEqual(['/boot/grub/grub.cfg', '/isolinux/isolinux.cfg']);
    expect(r.patchSet.size).toBe(r.ctx.tailStart + 2 * 4096);
    expect((await stat(r.out)).size).toBe(r.patchSet.size);
    await compareTrees(layout, r.out, ['boot/grub/grub.cfg', 'isolinux/isolinux.cfg'], ['boot/grub/grub.cfg', 'isolinux/isolinux.cfg']);
    // The volume space size grew to cover the tail; xorriso and pycdlib accept the image.
    const pvd = (await readFile(r.out)).subarray(16 * 2048, 17 * 2048);
    expect(pvd.readUInt32LE(80) * 2048).toBe(r.patchSet.size);
    const [rr] = await pycdlibCheck(r.out, [{ rr: '/boot/grub/grub.cfg' }]);
    expectEdited(rr!, 'pycdlib relocated');
  });

  it('edits grub-mkrescue output', async () => {
    if (missingTools('grub-mkrescue').length) return;
    const layout = await grubMkrescue(scratch.dir);
    const r = await remaster(layout);
    await compareTrees(layout, r.out, ['boot/grub/grub.cfg'], ['boot/grub/grub.cfg']);
  });

  it('gives byte-identical patch sets and digests for the same base and edits', async () => {
    const layout = await level1(join(scratch.dir));
    const a = await remaster(layout);
    const b = await remaster(layout);
    expect(a.patchSet.digest).toBe(b.patchSet.digest);
    expect(a.patchSet.overlays).toEqual(b.patchSet.overlays);
    expect(await sha(a.out)).toBe(await sha(b.out));
  });
});
