import { describe, expect, it } from 'vitest';
import { redactUrl } from '../src/redact.js';

describe('redactUrl', () => {
  it('hides user info and secret query parameters, keeps the rest', () => {
    expect(redactUrl('https://alice:s3cret@images.example.com/ipa.iso')).toBe('https://***@images.example.com/ipa.iso');
    expect(redactUrl('https://token@images.example.com/ipa.iso')).toBe('https://***@images.example.com/ipa.iso');
    const signed = redactUrl('https://s3.example.com/b/ipa.iso?X-Amz-Signature=abc&X-Amz-Credential=k&part=1');
    expect(signed).not.toContain('abc');
    expect(signed).toContain('part=1');
  });

  it('leaves plain URLs and non-URLs alone', () => {
    expect(redactUrl('http://127.0.0.1:8080/ipa.iso')).toBe('http://127.0.0.1:8080/ipa.iso');
    expect(redactUrl('file:///srv/images/ipa.iso')).toBe('file:///srv/images/ipa.iso');
    expect(redactUrl('not a url')).toBe('not a url');
  });
});

describe('upstream errors', () => {
  it("never carry an upstream URL's credentials into their message (logged, and sent to clients)", async () => {
    const { UpstreamError } = await import('../src/errors.js');
    const err = new UpstreamError('UPSTREAM_STATUS', 'https://bob:hunter2@images.example.com/x.iso', 'answered 500', 500);
    expect(err.message).not.toContain('hunter2');
    expect(err.url).not.toContain('hunter2');
  });
});

describe('loggableEdits', () => {
  it('keeps kernel parameters and drops file contents', async () => {
    const { loggableEdits } = await import('../src/redact.js');
    const out = JSON.stringify(
      loggableEdits({ append: ['a=1'], files: [{ path: '/root/.ssh/authorized_keys', content: 'ssh-ed25519 SECRETKEY' }] } as never),
    );
    expect(out).toContain('a=1');
    expect(out).toContain('/root/.ssh/authorized_keys');
    expect(out).not.toContain('SECRETKEY');
  });
});
