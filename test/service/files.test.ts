// Per-node files through the admin API, end to end: a PUT with `edits.files` is served with the
// archive appended to the initrd (byte-identical to `materialize` with the same edits), a bad
// entry is refused with 400 INVALID_EDIT naming it, and an image whose kernel lines load no
// initrd answers 422 NO_INITRD on GET, with nothing served as if edited.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { grubCfg, isolinuxCfg, payload, writeTree } from '../remaster/fixtures.js';
import { expectedImage, sha256, startProxy, type ProxyUnderTest } from './harness.js';
import { sizedIso } from './images.js';
import { startUpstream, type TestUpstream } from './upstream.js';

const missing = missingTools('xorriso');
const EDITS: Edits = {
  append: ['isoproxy.files=1'],
  files: [
    { path: '/etc/isoproxy/node.conf', content: 'node=files-1\n' },
    { path: '/root/.ssh/authorized_keys', mode: '0600', contentBase64: Buffer.from('ssh-ed25519 AAAA test\n').toString('base64') },
  ],
};

async function initrdIso(dir: string): Promise<string> {
  const root = join(dir, 'initrd-tree');
  await writeTree(root, {
    'isolinux/isolinux.cfg': isolinuxCfg(),
    'boot/grub/grub.cfg': grubCfg(),
    'boot/vmlinuz': payload('kernel', 200_000),
    'boot/initrd.img': payload('initrd', 300_000),
  });
  await run('cp', ['/usr/lib/ISOLINUX/isolinux.bin', '/usr/lib/syslinux/modules/bios/ldlinux.c32', join(root, 'isolinux')]);
  const iso = join(dir, 'initrd.iso');
  await run('xorriso', [
    '-as',
    'mkisofs',
    '-quiet',
    '-o',
    iso,
    '-V',
    'FILES',
    '-R',
    '-J',
    '-b',
    'isolinux/isolinux.bin',
    '-c',
    'isolinux/boot.cat',
    '-no-emul-boot',
    '-boot-load-size',
    '4',
    '-boot-info-table',
    root,
  ]);
  return iso;
}

describe.skipIf(missing.length > 0)(
  `per-node files through the admin API${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`,
  () => {
    let scratch: { dir: string; cleanup: () => Promise<void> };
    let upstream: TestUpstream;
    let proxy: ProxyUnderTest;
    let expected: Buffer;

    beforeAll(async () => {
      scratch = await scratchDir('isoproxy-files-');
      const iso = await initrdIso(scratch.dir);
      expected = await expectedImage(iso, EDITS, join(scratch.dir, 'expected.iso'));
      upstream = await startUpstream({ '/initrd.iso': await readFile(iso), '/noinitrd.iso': await readFile(await sizedIso(scratch.dir, 'n', 1)) });
      proxy = await startProxy({ dir: scratch.dir, allow: [`${upstream.origin}/`] });
    });

    afterAll(async () => {
      await proxy?.close();
      await upstream?.close();
      await scratch?.cleanup();
    });

    it('serves a node PUT with files byte-identical to materialize', async () => {
      const res = await proxy.putNode('with-files', { bootIso: upstream.url('/initrd.iso'), edits: EDITS });
      expect(res.status, await res.text()).toBe(201);
      const got = Buffer.from(await (await fetch(proxy.imageUrl('with-files'))).arrayBuffer());
      expect(sha256(got)).toBe(sha256(expected));
    });

    it('refuses a bad file entry with 400 INVALID_EDIT naming it', async () => {
      const res = await proxy.putNode('bad-files', {
        bootIso: upstream.url('/initrd.iso'),
        edits: {
          files: [
            { path: '/etc/ok', content: 'x' },
            { path: '/etc/../shadow', content: 'x' },
          ],
        },
      });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('INVALID_EDIT');
      expect(body.error.message).toContain('files[1]');
    });

    it('answers 422 NO_INITRD for files on an image whose kernel lines load no initrd', async () => {
      const put = await proxy.putNode('no-initrd', { bootIso: upstream.url('/noinitrd.iso'), edits: { files: [{ path: '/etc/x', content: 'x' }] } });
      expect([200, 201]).toContain(put.status);
      const res = await fetch(proxy.imageUrl('no-initrd'), { headers: { range: 'bytes=0-1023' } });
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NO_INITRD');
    });
  },
);
