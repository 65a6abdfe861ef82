import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { checkUpstreamAllowed, openUpstream } from '../../src/upstream/open.js';

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
