import { mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BaseChangedError, UpstreamError } from '../../src/errors.js';
import { openFileUrl } from '../../src/upstream/file-source.js';
import { scratchDir } from '../helpers/tools.js';
import { collect, patternBytes, sha256 } from './fixture-server.js';

const IMAGE = patternBytes(3 * 1024 * 1024 + 17, 11);
let scratch: { dir: string; cleanup: () => Promise<void> };
let allowed: string;
let outside: string;

function url(path: string): string {
  return pathToFileURL(path).href;
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return err instanceof UpstreamError ? err.code : err === undefined ? undefined : String(err);
}

beforeAll(async () => {
  scratch = await scratchDir('isoproxy-file-');
  allowed = join(scratch.dir, 'isos');
  outside = join(scratch.dir, 'secret');
  await mkdir(join(allowed, 'sub'), { recursive: true });
  await mkdir(outside);
  await writeFile(join(allowed, 'base.iso'), IMAGE);
  await writeFile(join(outside, 'other.iso'), IMAGE);
  await symlink(join(outside, 'other.iso'), join(allowed, 'escape.iso'));
  await symlink(outside, join(allowed, 'escape-dir'));
  await symlink(join(allowed, 'base.iso'), join(allowed, 'sub', 'link.iso'));
});
afterAll(() => scratch.cleanup());

describe('openFileUrl', () => {
  it('reads a file inside an allowed directory byte for byte', async () => {
    const src = await openFileUrl(url(join(allowed, 'base.iso')), [allowed]);
    try {
      expect(src.size).toBe(IMAGE.length);
      expect(src.supportsRanges).toBe(true);
      expect(sha256(await collect(src.stream(0, IMAGE.length)))).toBe(sha256(IMAGE));
      expect(sha256(await src.read(1_000_000, 5))).toBe(sha256(IMAGE.subarray(1_000_000, 1_000_005)));
      expect(src.version.lastModified).toMatch(/GMT$/);
      expect(src.version.etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"$/);
    } finally {
      await src.close();
    }
  });

  it('follows a symlink that stays inside the allowed directories', async () => {
    const src = await openFileUrl(url(join(allowed, 'sub', 'link.iso')), [allowed]);
    expect(src.size).toBe(IMAGE.length);
    await src.close();
  });

  it('refuses paths outside, .. escapes and symlinks out with UPSTREAM_FORBIDDEN', async () => {
    expect(await code(openFileUrl(url(join(outside, 'other.iso')), [allowed]))).toBe('UPSTREAM_FORBIDDEN');
    expect(await code(openFileUrl(`file://${allowed}/../secret/other.iso`, [allowed]))).toBe('UPSTREAM_FORBIDDEN');
    expect(await code(openFileUrl(`file://${allowed}/%2e%2e/secret/other.iso`, [allowed]))).toBe('UPSTREAM_FORBIDDEN');
    expect(await code(openFileUrl(url(join(allowed, 'escape.iso')), [allowed]))).toBe('UPSTREAM_FORBIDDEN');
    expect(await code(openFileUrl(url(join(allowed, 'escape-dir', 'other.iso')), [allowed]))).toBe('UPSTREAM_FORBIDDEN');
    expect(await code(openFileUrl(`file://${allowed}/sub%2F..%2F..%2Fsecret/other.iso`, [allowed]))).toBe('UPSTREAM_FORBIDDEN');
    expect(await code(openFileUrl(`file://otherhost${allowed}/base.iso`, [allowed]))).toBe('UPSTREAM_FORBIDDEN');
    expect(await code(openFileUrl(url(join(allowed, 'sub')), [allowed]))).toBe('UPSTREAM_FORBIDDEN');
    // A directory whose name merely starts like the allowed one is not inside it.
    expect(await code(openFileUrl(url(join(outside, 'other.iso')), [join(scratch.dir, 'sec')]))).toBe('UPSTREAM_FORBIDDEN');
  });

  it('fails reads after close with UPSTREAM_CLOSED', async () => {
    const src = await openFileUrl(url(join(allowed, 'base.iso')), [allowed]);
    await src.close();
    expect(await code(src.read(0, 10))).toBe('UPSTREAM_CLOSED');
    await src.close(); // twice is fine
  });

  it('reports a missing file with status 404', async () => {
    const err = await openFileUrl(url(join(allowed, 'nope.iso')), [allowed]).catch((e: unknown) => e);
    expect((err as UpstreamError).status).toBe(404);
  });

  it('fails with BaseChangedError when the file is rewritten after opening', async () => {
    const path = join(allowed, 'changing.iso');
    await writeFile(path, IMAGE);
    await utimes(path, new Date(2020, 0, 1), new Date(2020, 0, 1));
    const src = await openFileUrl(url(path), [allowed]);
    try {
      await writeFile(path, patternBytes(IMAGE.length, 12));
      await expect(src.read(0, 10)).rejects.toBeInstanceOf(BaseChangedError);
    } finally {
      await src.close();
    }
  });
});
