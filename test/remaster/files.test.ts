// A node's files on images made by real tools: each initrd, as xorriso extracts it from the
// materialized image, is the original followed by the archive; cpio lists and extracts exactly
// the files; every byte of the base image other than the initrd's records and the volume space
// size is unchanged; FAT-only and missing initrds are clear errors; the same files give the same
// bytes and digest in any order, in a worker and in process.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memorySource, openFileSource } from '../../src/byte-source.js';
import { normalizeEdits, type FileEdit } from '../../src/bootconfig/index.js';
import { filesArchive } from '../../src/cpio/index.js';
import { demoIsoSpec } from '../../src/demo/demo-iso.js';
import { RemasterError } from '../../src/errors.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { writeIso } from '../../src/iso9660/writer.js';
import { prepareBase } from '../../src/remaster/base-context.js';
import { computePatchSet, TAIL_PADDING_BYTES } from '../../src/remaster/compute.js';
import { createRemasterPool } from '../../src/remaster/pool.js';
import { writeVirtualImage } from '../../src/commands/materialize.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { debianLike, grubMkrescue, makeFat, payload, rhelLike, writeTree, zeroSlack, type Layout } from './fixtures.js';

const FILES: FileEdit[] = [
  { path: '/etc/isoproxy/node.conf', mode: '0600', content: 'node=7\n' },
  { path: '/etc/ssh/authorized_keys', content: 'ssh-ed25519 AAAA test\n' },
  { path: '/usr/local/bin/tool', mode: '0755', contentBase64: Buffer.from(payload('tool', 5001)).toString('base64') },
];
const FILES_ONLY = normalizeEdits({ files: FILES });
const WITH_PARAMS = normalizeEdits({ append: ['ipa.node=node-7'], files: FILES });
const LISTED = [
  'etc',
  'etc/isoproxy',
  'etc/isoproxy/node.conf',
  'etc/ssh',
  'etc/ssh/authorized_keys',
  'usr',
  'usr/local',
  'usr/local/bin',
  'usr/local/bin/tool',
];

const missing = missingTools('xorriso', 'genisoimage', 'grub-mkrescue', 'mkfs.fat', 'mcopy', 'cpio', 'cmp');

async function open(iso: string) {
  const source = await openFileSource(iso);
  const ctx = await prepareBase(await buildIndex(source), source);
  return { source, ctx };
}

describe.skipIf(missing.length > 0)(
  `files appended to the initrds of real images${missing.length ? ` (missing: ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    beforeAll(async () => {
      scratch = await scratchDir('isoproxy-files-');
    });
    afterAll(async () => {
      await scratch?.cleanup();
    });
    /** Each layout built once per run (the builders write fixed paths under the scratch dir). */
    const built = new Map<(dir: string) => Promise<Layout>, Promise<Layout>>();
    const build = (make: (dir: string) => Promise<Layout>): Promise<Layout> => {
      if (!built.has(make)) built.set(make, make(scratch.dir));
      return built.get(make)!;
    };

    const layouts: [string, (dir: string) => Promise<Layout>, string][] = [
      ['debian-like (isolinux, grub, RR + Joliet, md5sum.txt)', debianLike, '/boot/initrd.img'],
      ['rhel-like (isolinux, linuxefi in efiboot.img and the tree)', rhelLike, '/images/pxeboot/initrd.img'],
      ['grub-mkrescue', grubMkrescue, '/boot/initrd.img'],
    ];
    it.each(layouts)('%s: the initrd is the original then the archive, the rest of the base is unchanged', async (_name, make, initrdPath) => {
      const layout = await build(make);
      const { source, ctx } = await open(layout.iso);
      try {
        const { patchSet, report } = computePatchSet(ctx, FILES_ONLY);
        expect(report.initrds.map((i) => i.path)).toEqual([initrdPath]);
        expect(report.changes).toEqual([]);
        // Kilobytes: the archive and 16 bytes per record, never the initrd.
        expect(report.overlayBytes).toBeLessThan(report.archiveBytes + 512);
        expect(patchSet.copies).toHaveLength(1);
        const out = join(scratch.dir, `${layout.name}-files.iso`);
        await writeVirtualImage(patchSet, source, out);

        const original = join(scratch.dir, `${layout.name}-initrd-orig`);
        const edited = join(scratch.dir, `${layout.name}-initrd-new`);
        await run('xorriso', ['-osirrox', 'on', '-indev', layout.iso, '-extract', initrdPath, original]);
        await run('xorriso', ['-osirrox', 'on', '-indev', out, '-extract', initrdPath, edited]);
        const a = await readFile(original);
        const b = await readFile(edited);
        const pad = (4 - (a.length % 4)) % 4;
        const archive = filesArchive(FILES_ONLY.files!);
        expect(b.length).toBe(a.length + pad + archive.length);
        expect(Buffer.compare(b.subarray(0, a.length), a)).toBe(0);
        expect(b.subarray(a.length, a.length + pad).every((x) => x === 0)).toBe(true);
        expect(Buffer.compare(b.subarray(a.length + pad), archive)).toBe(0);

        // cpio lists and extracts exactly the files, with their bytes and modes.
        const cpioFile = join(scratch.dir, `${layout.name}.cpio`);
        await run('sh', ['-c', 'tail -c +$(( $2 + 1 )) "$1" > "$3"', 'sh', edited, String(a.length + pad), cpioFile]);
        expect((await run('sh', ['-c', 'cpio -it --quiet < "$1"', 'sh', cpioFile])).stdout.split('\n').filter(Boolean)).toEqual(LISTED);
        const x = join(scratch.dir, `${layout.name}-x`);
        await run('sh', ['-c', 'mkdir -p "$2" && cd "$2" && cpio -id --quiet < "$1"', 'sh', cpioFile, x]);
        for (const f of FILES_ONLY.files!) {
          expect(Buffer.compare(await readFile(join(x, f.path)), f.data)).toBe(0);
          expect((await run('stat', ['-c', '%a', join(x, f.path)])).stdout.trim()).toBe(f.mode.toString(8));
        }

        // Every byte of the base but the initrd's records (extent and size) and the descriptors'
        // volume space size is the base's: `cmp -l` over the base's length lists them all.
        const allowed: [number, number][] = [];
        for (const r of ctx.initrds[0]!.records) allowed.push([r.offset + 2, r.offset + 18]);
        for (const d of ctx.volumeDescriptorOffsets) allowed.push([d + 80, d + 88]);
        const diff = await run('sh', ['-c', 'cmp -l -n "$3" "$1" "$2" || true', 'sh', layout.iso, out, String(patchSet.baseSize)]);
        const offsets = diff.stdout
          .split('\n')
          .filter((l) => /^\s*\d+/.test(l))
          .map((l) => Number(l.trim().split(/\s+/)[0]) - 1);
        expect(offsets.length).toBeGreaterThan(0);
        for (const o of offsets)
          expect(
            allowed.some(([s, e]) => o >= s && o < e),
            `byte ${o} changed`,
          ).toBe(true);
      } finally {
        await source.close();
      }
    });

    it('edits kernel parameters and appends files in one patch set', async () => {
      const layout = await build(debianLike);
      const { source, ctx } = await open(layout.iso);
      try {
        const { report } = computePatchSet(ctx, WITH_PARAMS);
        expect(
          report.changes
            .filter((c) => c.where === 'iso')
            .map((c) => c.path)
            .sort(),
        ).toEqual(['/boot/grub/grub.cfg', '/isolinux/txt.cfg', '/md5sum.txt']);
        expect(report.initrds).toHaveLength(1);
        expect(report.warnings.join('\n')).toMatch(/md5sum\.txt lists \/boot\/initrd\.img/);
        expect(report.files.map((f) => `${f.path} ${f.mode} ${f.size}`)).toEqual([
          '/etc/isoproxy/node.conf 0600 7',
          '/etc/ssh/authorized_keys 0644 22',
          '/usr/local/bin/tool 0755 5001',
        ]);
      } finally {
        await source.close();
      }
    });

    it('refuses files on an image whose kernel lines load no initrd of the tree: NO_INITRD', async () => {
      const layout = await build(zeroSlack); // its configs name /boot/initrd.img, which it lacks
      const { source, ctx } = await open(layout.iso);
      try {
        expect(() => computePatchSet(ctx, FILES_ONLY, { node: 'n1' })).toThrow(RemasterError);
        expect(() => computePatchSet(ctx, FILES_ONLY, { node: 'n1' })).toThrow(/node n1: no kernel line of this image loads an initrd/);
        try {
          computePatchSet(ctx, FILES_ONLY);
        } catch (err) {
          expect((err as RemasterError).code).toBe('NO_INITRD');
        }
        // Without files the same image still takes parameter edits.
        expect(() => computePatchSet(ctx, normalizeEdits({ append: ['a=1'] }))).not.toThrow();
      } finally {
        await source.close();
      }
    });

    it('refuses an initrd that lives only inside a FAT image: INITRD_IN_FAT', async () => {
      const root = join(scratch.dir, 'sdboot-tree');
      await writeTree(root, { 'README.txt': 'systemd-boot on an El Torito ESP\n' });
      const esp = join(root, 'efi.img');
      await makeFat(
        esp,
        {
          'loader/entries/linux.conf': 'title Linux\nlinux /vmlinuz\ninitrd /initrd.img\noptions console=ttyS0 quiet\n',
          vmlinuz: payload('k', 1000),
          'initrd.img': payload('i', 1000),
        },
        2048,
        scratch.dir,
      );
      const iso = join(scratch.dir, 'sdboot.iso');
      await run('xorriso', ['-as', 'mkisofs', '-quiet', '-o', iso, '-R', '-J', '-e', 'efi.img', '-no-emul-boot', root]);
      const { source, ctx } = await open(iso);
      try {
        let caught: unknown;
        try {
          computePatchSet(ctx, FILES_ONLY);
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(RemasterError);
        expect((caught as RemasterError).code).toBe('INITRD_IN_FAT');
        expect((caught as RemasterError).message).toMatch(/\/initrd\.img .*lives only inside the FAT image \/efi\.img/);
      } finally {
        await source.close();
      }
    });
  },
);

describe('the same files give the same image', () => {
  it('in any order, in a worker and in process', async () => {
    const image = writeIso(demoIsoSpec());
    const source = memorySource(image);
    const ctx = await prepareBase(await buildIndex(source), source);
    const a = computePatchSet(ctx, FILES_ONLY);
    const b = computePatchSet(ctx, normalizeEdits({ files: [...FILES].reverse() }));
    expect(b.patchSet.digest).toBe(a.patchSet.digest);
    expect(a.report.initrds.map((i) => i.path)).toEqual(['/initrd']);
    // The tail ends with -pad's 300 KiB of zeros: no initrd byte sits in the medium's last sectors.
    const initrd = a.report.initrds[0]!;
    expect(a.patchSet.size).toBe(initrd.lba * 2048 + Math.ceil(initrd.newSize / 2048) * 2048 + TAIL_PADDING_BYTES);
    const pool = createRemasterPool({ workers: 1 });
    try {
      const w = await pool.patchSet('demo', () => ctx, FILES_ONLY);
      expect(w.patchSet.digest).toBe(a.patchSet.digest);
      expect(w.patchSet.copies).toEqual(a.patchSet.copies);
      // A different mode is a different image.
      const other = await pool.patchSet('demo', () => ctx, normalizeEdits({ files: FILES.map((f, i) => (i === 0 ? { ...f, mode: '0640' } : f)) }));
      expect(other.patchSet.digest).not.toBe(a.patchSet.digest);
    } finally {
      await pool.close();
    }
  });
});
