import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { createUpstreamAgent } from '../../src/upstream/http-source.js';
import { checkUpstreamAllowed, openUpstream } from '../../src/upstream/open.js';
import { scratchDir } from '../helpers/tools.js';
import { patternBytes, sha256, startFixtureServer, type FixtureServer } from './fixture-server.js';

const config = { allowedPrefixes: ['https://mirror.example/isos/', 'http://10.0.0.1:8080/base'], allowedDirs: ['/srv/isos'] };

function verdict(url: string): string {
  try {
    checkUpstreamAllowed(url, config);
    return 'allowed';
  } catch (err) {
    return (err as UpstreamError).code;
  }
}

describe('upstream allowlist', () => {
  it.each([
    ['https://mirror.example/isos/fedora.iso', 'allowed'],
    ['HTTPS://MIRROR.EXAMPLE:443/isos/fedora.iso', 'allowed'],
    ['http://10.0.0.1:8080/base/x.iso', 'allowed'],
    ['http://10.0.0.1:8080/base', 'allowed'],
    ['file:///srv/isos/a/b.iso', 'allowed'],
  ])('allows %s', (url, expected) => {
    expect(verdict(url)).toBe(expected);
  });

  it.each([
    ['https://mirror.example/isos/../private/x.iso', 'dot segments leave the prefix'],
    ['https://mirror.example/isos/%2e%2e/private/x.iso', 'encoded dot segments'],
    ['https://mirror.example/isos/a%2F..%2F..%2Fx.iso', 'encoded slashes'],
    ['http://10.0.0.1:8080/base-evil/x.iso', 'prefix without a segment boundary'],
    ['http://mirror.example/isos/fedora.iso', 'another scheme than the prefix'],
    ['https://mirror.example.evil.com/isos/x.iso', 'another host'],
    ['https://mirror.example@evil.com/isos/x.iso', 'user info trick'],
    ['ftp://mirror.example/isos/x.iso', 'unsupported scheme'],
    ['file:///srv/isos/../etc/passwd', 'file path escaping the directory'],
    ['file:///srv/isos-other/x.iso', 'sibling directory'],
    ['not a url', 'garbage'],
  ])('refuses %s (%s)', (url) => {
    expect(verdict(url)).toBe('UPSTREAM_FORBIDDEN');
  });

  it('refuses before any network traffic', async () => {
    const err = await openUpstream('https://elsewhere.example/x.iso', config).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as UpstreamError).code).toBe('UPSTREAM_FORBIDDEN');
  });
});

describe('file:// symlinks at validation time', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let allowedDir: string;
  let outsideDir: string;

  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-allow-');
    allowedDir = join(scratch.dir, 'isos');
    outsideDir = join(scratch.dir, 'secret');
    await mkdir(allowedDir);
    await mkdir(outsideDir);
    await writeFile(join(outsideDir, 'other.iso'), 'x');
    await writeFile(join(allowedDir, 'real.iso'), 'x');
    await symlink(join(outsideDir, 'other.iso'), join(allowedDir, 'escape.iso'));
    await symlink(outsideDir, join(allowedDir, 'escape-dir'));
    await symlink(join(allowedDir, 'real.iso'), join(allowedDir, 'alias.iso'));
  });
  afterAll(async () => {
    await scratch.cleanup();
  });

  function fileVerdict(path: string): string {
    try {
      checkUpstreamAllowed(pathToFileURL(path).href, { allowedPrefixes: [], allowedDirs: [allowedDir] });
      return 'allowed';
    } catch (err) {
      return (err as UpstreamError).code;
    }
  }

  it('refuses a symlink (to a file or a directory) that resolves outside the allowed directories', () => {
    expect(fileVerdict(join(allowedDir, 'escape.iso'))).toBe('UPSTREAM_FORBIDDEN');
    expect(fileVerdict(join(allowedDir, 'escape-dir', 'other.iso'))).toBe('UPSTREAM_FORBIDDEN');
    // Not there yet, but under a directory that leads outside: refused as well.
    expect(fileVerdict(join(allowedDir, 'escape-dir', 'later.iso'))).toBe('UPSTREAM_FORBIDDEN');
  });

  it('allows real files, symlinks that stay inside, and files that do not exist yet', () => {
    expect(fileVerdict(join(allowedDir, 'real.iso'))).toBe('allowed');
    expect(fileVerdict(join(allowedDir, 'alias.iso'))).toBe('allowed');
    expect(fileVerdict(join(allowedDir, 'sub', 'later.iso'))).toBe('allowed');
  });
});

describe('redirects under the allowlist', () => {
  const IMAGE = patternBytes(256 * 1024 + 3, 5);
  const agent = createUpstreamAgent({ connectTimeoutMs: 2_000 });
  let inside: FixtureServer;
  let outside: FixtureServer;
  let hops: FixtureServer;

  beforeAll(async () => {
    inside = await startFixtureServer(IMAGE);
    outside = await startFixtureServer(IMAGE);
    hops = await startFixtureServer(IMAGE, { redirectHops: 2 });
  });
  afterAll(async () => {
    await Promise.all([inside.close(), outside.close(), hops.close()]);
    await agent.close();
  });

  const allowOnly = (origins: string[]) => ({
    allowedPrefixes: origins.map((o) => `${o}/`),
    allowedDirs: [],
    http: { dispatcher: agent, retryBaseDelayMs: 5, retryMaxDelayMs: 20 },
  });

  it('refuses a redirect to a host outside the allowlist with UPSTREAM_NOT_ALLOWED, before contacting it', async () => {
    inside.misbehave.redirectTo = outside.url;
    try {
      const err = await openUpstream(inside.url, allowOnly([inside.origin])).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect((err as UpstreamError).code).toBe('UPSTREAM_NOT_ALLOWED');
      expect(outside.log).toEqual([]);
    } finally {
      delete inside.misbehave.redirectTo;
    }
  });

  it('refuses a redirect that appears after the base was opened, on every range read', async () => {
    const src = await openUpstream(inside.url, allowOnly([inside.origin]));
    inside.misbehave.redirectTo = outside.url;
    try {
      const err = await src.read(0, 100).catch((e: unknown) => e);
      expect((err as UpstreamError).code).toBe('UPSTREAM_NOT_ALLOWED');
      expect(outside.log).toEqual([]);
    } finally {
      delete inside.misbehave.redirectTo;
      await src.close();
    }
  });

  it('follows redirects that stay on the allowlist', async () => {
    const src = await openUpstream(hops.url, allowOnly([hops.origin]));
    expect(sha256(await src.read(7, 1000))).toBe(sha256(IMAGE.subarray(7, 1007)));
    inside.misbehave.redirectTo = outside.url;
    try {
      const both = await openUpstream(inside.url, allowOnly([inside.origin, outside.origin]));
      expect(sha256(await both.read(0, 10))).toBe(sha256(IMAGE.subarray(0, 10)));
    } finally {
      delete inside.misbehave.redirectTo;
    }
  });
});
