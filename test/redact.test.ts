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
