import { describe, expect, it } from 'vitest';
import { parseContentRange, sameValidator, versionKey } from '../../src/upstream/validator.js';

const base = { url: 'http://h/a.iso', size: 1000, etag: '"abc"', lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT' };

describe('versionKey', () => {
  it('is the same for the same version, in any field order', () => {
    expect(versionKey({ ...base })).toBe(versionKey({ lastModified: base.lastModified, etag: base.etag, size: 1000, url: base.url }));
    expect(versionKey(base)).toMatch(/^[0-9a-f]{32}$/);
  });
  it('changes with the size, ETag, Last-Modified or URL', () => {
    const keys = new Set([
      versionKey(base),
      versionKey({ ...base, size: 1001 }),
      versionKey({ ...base, etag: '"abd"' }),
      versionKey({ ...base, lastModified: 'Tue, 02 Jan 2024 00:00:00 GMT' }),
      versionKey({ ...base, url: 'http://h/b.iso' }),
      versionKey({ url: base.url, size: 1000 }),
    ]);
    expect(keys.size).toBe(6);
  });
  it('compares validators without the URL (redirects move it)', () => {
    expect(sameValidator(base, { ...base, url: 'http://other/a.iso' })).toBe(true);
    expect(sameValidator(base, { ...base, etag: undefined })).toBe(false);
  });
});

describe('parseContentRange', () => {
  it.each([
    ['bytes 0-9/100', { start: 0, end: 9, total: 100 }],
    ['bytes 5-5/*', { start: 5, end: 5, total: undefined }],
    ['bytes 9-0/100', undefined],
    ['bytes 0-100/100', undefined],
    ['bytes */100', undefined],
    ['items 0-9/100', undefined],
    [undefined, undefined],
  ])('parses %s', (header, expected) => {
    expect(parseContentRange(header)).toEqual(expected);
  });
});
