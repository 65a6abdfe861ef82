// Images whose kernel lines load many initrds: references that resolve nowhere are looked up in
// each FAT image through one lookup, not one per reference; the checksum files that list an
// initrd are found once per base; and every initrd's overlay is a view of one archive.

import { describe, expect, it } from 'vitest';
import { normalizeEdits, normalizeFiles } from '../../src/bootconfig/index.js';
import { memorySource } from '../../src/byte-source.js';
import { filesArchive } from '../../src/cpio/index.js';
import { formatFat } from '../../src/fat/index.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { writeIso } from '../../src/iso9660/writer.js';
import type { BaseContext, ContextInitrd } from '../../src/remaster/base-context.js';
import { prepareBase } from '../../src/remaster/base-context.js';
import { computePatchSet } from '../../src/remaster/compute.js';
import { MAX_APPENDED_BYTES, planInitrdAppends } from '../../src/remaster/initrd.js';

const latin1 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));

/** A grub.cfg whose one entry loads each of `initrds`. */
function grubLoading(initrds: readonly string[]): string {
  return `menuentry 'x' {\n  linux /vmlinuz quiet\n${initrds.map((p) => `  initrd ${p}\n`).join('')}}\n`;
}

async function prepare(files: { path: string; data: Uint8Array }[], efi?: string) {
  const image = writeIso({ volumeId: 'MANY', rockRidge: true, files, ...(efi ? { boot: { efi: { path: efi } } } : {}) });
  const source = memorySource(image);
  return prepareBase(await buildIndex(source), source);
}

describe('an image loading many initrds', () => {
  it('finds which of 1,000 missing initrds live in a FAT image of 10,000 files', async () => {
    const fatFiles: { path: string; data: Uint8Array }[] = Array.from({ length: 10_000 }, (_, i) => ({
      path: `/x${i % 16}/f${i}`,
      data: new Uint8Array(0),
    }));
    fatFiles.push({ path: '/boot/fat-initrd', data: latin1('in the FAT image') });
    const fat = formatFat({ files: fatFiles });
    const refs = [...Array.from({ length: 1000 }, (_, i) => `/n${i}`), '/boot/fat-initrd'];
    const ctx = await prepare(
      [
        { path: '/boot/grub/grub.cfg', data: latin1(grubLoading(refs)) },
        { path: '/efi.img', data: fat },
        { path: '/vmlinuz', data: latin1('kernel') },
      ],
      '/efi.img',
    );
    expect(ctx.fats.map((f) => f.label)).toEqual(['/efi.img']);
    expect(ctx.initrdProblems).toHaveLength(1001);
    expect(ctx.initrdProblems.filter((p) => p.problem === 'not-found').map((p) => p.ref.target)).toEqual(refs.slice(0, 1000));
    expect(ctx.initrdProblems.filter((p) => p.problem === 'in-fat').map((p) => [p.ref.target, p.fatLabel])).toEqual([
      ['/boot/fat-initrd', '/efi.img'],
    ]);
  });

  it('tells which of 1,000 initrds an 8 MiB md5sum.txt lists, once per base', async () => {
    const initrds = Array.from({ length: 1000 }, (_, i) => `/i/initrd${i}`);
    const listed = initrds.filter((_, i) => i % 100 === 7);
    const hex = 'd'.repeat(32);
    let md5 = listed.map((p) => `${hex}  .${p}\n`).join('');
    // Lines that name an initrd's path only inside another path are not listings of it.
    md5 += `${hex}  ./i/initrd1.bak\n${hex}  ./x/i/initrd2\n`;
    const filler = `${hex}  ./pool/main/some-package_1.0_amd64.deb\n`;
    md5 += filler.repeat(Math.ceil((8 << 20) / filler.length));
    const ctx = await prepare([
      { path: '/boot/grub/grub.cfg', data: latin1(grubLoading(initrds)) },
      { path: '/md5sum.txt', data: latin1(md5) },
      { path: '/vmlinuz', data: latin1('kernel') },
      ...initrds.map((path) => ({ path, data: latin1('i') })),
    ]);
    expect(ctx.initrds).toHaveLength(1000);
    expect(ctx.initrds.filter((i) => i.listedIn.length > 0).map((i) => [i.path, i.listedIn])).toEqual(
      [...listed].sort().map((p) => [p, ['/md5sum.txt']]),
    );
    const { report } = computePatchSet(ctx, normalizeEdits({ files: [{ path: '/etc/x', content: 'y' }] }));
    expect(report.initrds).toHaveLength(1000);
    expect(report.warnings.filter((w) => w.startsWith('/md5sum.txt lists '))).toEqual(
      [...listed].sort().map((p) => `/md5sum.txt lists ${p}; its digest there is the original's (a media check will report it)`),
    );
  });

  it('appends one archive to 300 initrds as views of one array', () => {
    const initrds: ContextInitrd[] = Array.from({ length: 300 }, (_, i) => ({
      path: `/i/initrd${String(i).padStart(3, '0')}`,
      size: 1 + (i % 4),
      extents: [{ lba: 100 + i, lengthBytes: 1 + (i % 4) }],
      records: [],
      loadedBy: [],
      listedIn: [],
    }));
    const ctx = { initrds, initrdProblems: [], checksumFiles: [] } as unknown as BaseContext;
    const files = normalizeFiles([{ path: '/etc/big', contentBase64: Buffer.from(new Uint8Array(100 << 10).fill(7)).toString('base64') }]);
    const archive = filesArchive(files);
    const plan = planInitrdAppends(ctx, files, 2048 * 1000, 'n');
    expect(plan.overlays).toHaveLength(300);
    expect(new Set(plan.overlays.map((o) => o.data.buffer)).size).toBe(1);
    plan.overlays.forEach((o, i) => {
      const initrd = initrds[i]!;
      const pad = (4 - (initrd.size % 4)) % 4;
      expect(o.offset).toBe(plan.changes[i]!.lba * 2048 + initrd.size);
      expect(o.data.length).toBe(pad + archive.length);
      expect([...o.data.subarray(0, pad)]).toEqual(new Array(pad).fill(0));
      expect(Buffer.compare(o.data.subarray(pad), archive)).toBe(0);
    });
  });
  it('refuses files whose archive, once per initrd, would pass MAX_APPENDED_BYTES', () => {
    const initrds = Array.from({ length: 300 }, (_, i) => ({
      path: `/i/${i}`,
      size: 4,
      extents: [{ lba: 100 + i, lengthBytes: 4 }],
      records: [],
      loadedBy: [],
      listedIn: [],
    }));
    const ctx = { initrds, initrdProblems: [], checksumFiles: [] } as unknown as BaseContext;
    const files = normalizeFiles([{ path: '/etc/big', contentBase64: Buffer.from(new Uint8Array(1 << 20)).toString('base64') }]);
    expect(() => planInitrdAppends(ctx, files, 2048 * 1000, 'n')).toThrow(expect.objectContaining({ code: 'APPEND_TOO_LARGE' }));
    expect(300 * filesArchive(files).length).toBeGreaterThan(MAX_APPENDED_BYTES);
  });
});
