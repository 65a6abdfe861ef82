// Disk faults while serving: a cache directory on a small tmpfs that fills up, the same
// directory remounted read-only and then writable again, block files corrupted or truncated under
// a running server, and a server killed with SIGKILL in the middle of writing blocks. Whatever
// the disk does, clients get exact bytes or a status with a code, and the cache comes back.
// Mounting needs root (CI runs as root); without it these skip with a message.

import { execFileSync, spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Edits } from '../../src/bootconfig/types.js';
import { freePort, missingTools, scratchDir } from '../helpers/tools.js';
import { diskBytes, downloadByRanges, eventually, expectedImage, MiB, sha256, startProxy, type ProxyUnderTest } from '../service/harness.js';
import { sizedIso } from '../service/images.js';
import { startUpstream, type TestUpstream } from '../service/upstream.js';

const EDITS: Edits = { append: ['isoproxy.disk=faults'] };
const missing = missingTools('xorriso', 'mount', 'umount');
const isRoot = process.getuid?.() === 0;
const skip = missing.length > 0 || !isRoot;
const why = !isRoot ? ' (skipped: mounting a tmpfs needs root)' : missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : '';

async function blockFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && !e.name.startsWith('.') && !e.name.includes('tmp')).map((e) => join(e.parentPath, e.name));
}

const degraded = async (proxy: ProxyUnderTest): Promise<number> => Number(/^isoproxy_cache_degraded (\d+)/m.exec(await proxy.metrics())?.[1] ?? -1);

describe.skipIf(skip)(`isoproxy when its cache disk misbehaves${why}`, () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let upstream: TestUpstream;
  let mnt: string;
  let expected: Buffer;
  let iso: string;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-disk-faults-');
    iso = await sizedIso(scratch.dir, 'disk', 10, 'disk');
    expected = await expectedImage(iso, EDITS, join(scratch.dir, 'disk.expected.iso'));
    upstream = await startUpstream({ '/disk.iso': await readFile(iso) });
    mnt = join(scratch.dir, 'mnt');
    await mkdir(mnt);
    // Smaller than the image and than the budget: the disk fills before the budget does.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
  });

  afterAll(async () => {
    try {
      execFileSync('umount', ['-l', mnt]);
    } catch {
      // not mounted
    }
    await upstream?.close();
    await scratch?.cleanup();
  });

  it('serves exact bytes when the cache disk fills up, and stays within the disk', async () => {
    const proxy = await startProxy({ dir: join(scratch.dir, 'full'), cacheDir: mnt, allow: [`${upstream.origin}/`], budget: '64MiB' });
    try {
      expect((await proxy.putNode('full', { bootIso: upstream.url('/disk.iso'), edits: EDITS })).status).toBe(201);
      const got = await Promise.all([0, 1, 2].map(() => downloadByRanges(proxy.imageUrl('full'), expected.length, 256 * 1024)));
      for (const g of got) expect(sha256(g)).toBe(sha256(expected));
      expect(await diskBytes(mnt)).toBeLessThanOrEqual(4 * MiB);
    } finally {
      await proxy.close();
    }
  });

  it('serves from upstream while the cache directory is read-only, and clears the degraded flag once it is writable again', async () => {
    // Start empty: the full disk of the test before must not stand in for the read-only one.
    for (const e of await readdir(mnt)) await rm(join(mnt, e), { recursive: true, force: true });
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
    const proxy = await startProxy({ dir: join(scratch.dir, 'ro'), cacheDir: join(mnt), allow: [`${upstream.origin}/`], budget: '3MiB' });
    try {
      expect((await proxy.putNode('ro', { bootIso: upstream.url('/disk.iso'), edits: EDITS })).status).toBe(201);
      expect(sha256(await downloadByRanges(proxy.imageUrl('ro'), expected.length, 512 * 1024))).toBe(sha256(expected));
      expect(await degraded(proxy)).toBe(1);
      execFileSync('mount', ['-o', 'remount,rw', mnt]);
      await eventually(
        async () => {
          await downloadByRanges(proxy.imageUrl('ro'), expected.length, 1024 * 1024);
          return (await degraded(proxy)) === 0;
        },
        'the degraded flag to clear',
        // At least 500 x 20 ms: the cache tries the disk again 2 s after the last failure, and on
        // a fast machine 20 whole downloads took less than that.
        500,
      );
      expect(sha256(await downloadByRanges(proxy.imageUrl('ro'), expected.length, 512 * 1024))).toBe(sha256(expected));
    } finally {
      await proxy.close();
      execFileSync('mount', ['-o', 'remount,rw', mnt]);
    }
  }, 180_000);

  it('never serves a block corrupted or truncated on disk while the server runs', async () => {
    const cacheDir = join(scratch.dir, 'corrupt-cache');
    const proxy = await startProxy({ dir: join(scratch.dir, 'corrupt'), cacheDir, allow: [`${upstream.origin}/`], budget: '64MiB' });
    try {
      expect((await proxy.putNode('cor', { bootIso: upstream.url('/disk.iso'), edits: EDITS })).status).toBe(201);
      expect(sha256(await downloadByRanges(proxy.imageUrl('cor'), expected.length, 1024 * 1024))).toBe(sha256(expected));
      const files = await blockFiles(cacheDir);
      expect(files.length).toBeGreaterThan(2);
      // Flip one byte in the middle of one block, cut another short.
      const victim = files[1]!;
      const bytes = await readFile(victim);
      const mid = bytes.length >> 1;
      bytes[mid] = (bytes[mid] ?? 0) ^ 0xff;
      await writeFile(victim, bytes);
      const cut = files[2]!;
      await truncate(cut, Math.floor((await stat(cut)).size / 2));
      expect(sha256(await downloadByRanges(proxy.imageUrl('cor'), expected.length, 256 * 1024))).toBe(sha256(expected));
    } finally {
      await proxy.close();
    }
  });

  it('comes back after SIGKILL in the middle of writing blocks and serves exact bytes', async () => {
    const dir = join(scratch.dir, 'killed');
    const port = await freePort();
    const args = [
      join(import.meta.dirname, '../../dist/src/cli.js'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--data-dir',
      join(dir, 'data'),
      '--cache-dir',
      join(dir, 'cache'),
      '--cache-budget',
      '64MiB',
      '--block-size',
      '1MiB',
      '--allow-upstream',
      `${upstream.origin}/`,
    ];
    const env = { ...process.env, ISOPROXY_ADMIN_TOKEN: 'kill-token-0123456789abcdef0123' };
    const url = `http://127.0.0.1:${port}`;
    const start = async (): Promise<ReturnType<typeof spawn>> => {
      const p = spawn(process.execPath, args, { stdio: 'ignore', env });
      await eventually(
        () =>
          fetch(`${url}/readyz`).then(
            (r) => r.ok,
            () => false,
          ),
        'isoproxy to listen',
        500,
      );
      return p;
    };
    let proc = await start();
    const put = await fetch(`${url}/api/v1/nodes/k`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${env.ISOPROXY_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ bootIso: upstream.url('/disk.iso'), edits: EDITS }),
    });
    expect(put.status).toBe(201);
    // Kill it while a whole-image GET is writing blocks.
    const res = await fetch(`${url}/iso/k.iso`);
    const reader = res.body!.getReader();
    await reader.read();
    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));
    await reader.cancel().catch(() => undefined);
    proc = await start();
    try {
      expect(sha256(await downloadByRanges(`${url}/iso/k.iso`, expected.length, 256 * 1024))).toBe(sha256(expected));
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  });
});
