// The `files` edit: every rule of files.ts gets a rejected example naming the entry, limits are
// configurable, and accepted sets come back sorted, with their digests, deterministically.

import { describe, expect, it } from 'vitest';
import { editsDigestInput, normalizeEdits, normalizeFiles, parseFileMode } from '../../src/bootconfig/index.js';
import { EditValidationError } from '../../src/errors.js';

function rejection(value: unknown, limits?: { maxFiles: number; maxTotalBytes: number }): EditValidationError {
  try {
    normalizeFiles(value, limits);
  } catch (err) {
    expect(err).toBeInstanceOf(EditValidationError);
    return err as EditValidationError;
  }
  throw new Error('accepted');
}

describe('normalizeFiles rejects', () => {
  const cases: [string, unknown, string, RegExp][] = [
    ['a list that is not one', { path: '/x' }, 'files', /must be a list/],
    ['an entry that is not an object', ['x'], 'files[0]', /must be an object/],
    ['an unknown field', [{ path: '/x', content: '', owner: 'root' }], 'files[0]', /unknown field "owner"/],
    ['a relative path', [{ path: 'etc/x', content: '' }], 'files[0]', /absolute/],
    ['a path that is not a string', [{ path: 7, content: '' }], 'files[0]', /must be a string/],
    ['the root directory', [{ path: '/', content: '' }], 'files[0]', /root directory/],
    ['a ".." segment', [{ path: '/etc/../x', content: '' }], 'files[0]', /"\.\." segment/],
    ['a "." segment', [{ path: '/etc/./x', content: '' }], 'files[0]', /"\." segment/],
    ['an empty segment', [{ path: '/etc//x', content: '' }], 'files[0]', /empty segment/],
    ['a trailing slash', [{ path: '/etc/x/', content: '' }], 'files[0]', /empty segment/],
    ['NUL in the path', [{ path: '/etc/x\0y', content: '' }], 'files[0]', /NUL/],
    ['a newline in the path', [{ path: '/etc/x\ny', content: '' }], 'files[0]', /control character U\+000A/],
    ['a segment over NAME_MAX', [{ path: `/${'a'.repeat(256)}`, content: '' }], 'files[0]', /NAME_MAX/],
    ['a path over PATH_MAX', [{ path: `/${'a/'.repeat(2048)}b`, content: '' }], 'files[0]', /PATH_MAX/],
    ['a numeric mode', [{ path: '/x', mode: 644, content: '' }], 'files[0] (/x)', /octal string/],
    ['a mode that is not octal', [{ path: '/x', mode: '0689', content: '' }], 'files[0] (/x)', /not an octal mode/],
    ['a mode of five digits', [{ path: '/x', mode: '10644', content: '' }], 'files[0] (/x)', /not an octal mode/],
    ['no content', [{ path: '/x' }], 'files[0] (/x)', /no content/],
    ['both kinds of content', [{ path: '/x', content: 'a', contentBase64: 'YQ==' }], 'files[0] (/x)', /not both/],
    ['content that is not a string', [{ path: '/x', content: 1 }], 'files[0] (/x)', /content must be a string/],
    ['a lone surrogate', [{ path: '/x', content: '\ud800' }], 'files[0] (/x)', /lone surrogate/],
    ['base64 with a bad character', [{ path: '/x', contentBase64: 'YQ=!' }], 'files[0] (/x)', /not base64/],
    ['base64 without padding', [{ path: '/x', contentBase64: 'YQ' }], 'files[0] (/x)', /not base64/],
    [
      'the same path twice',
      [
        { path: '/x', content: '' },
        { path: '/x', content: '' },
      ],
      'files[1] (/x)',
      /same path as files\[0\] \(\/x\)/,
    ],
    [
      'a file that another needs as its directory',
      [
        { path: '/etc/x/y', content: '' },
        { path: '/etc/x', content: '' },
      ],
      'files[1] (/etc/x)',
      /needs it to be a directory/,
    ],
  ];
  it.each(cases)('%s', (_what, value, entry, message) => {
    const err = rejection(value);
    expect(err.code).toBe('INVALID_EDIT');
    expect(err.parameter).toBe(entry);
    expect(err.message).toMatch(message);
  });

  it('more files than the limit, which the caller sets', () => {
    const files = Array.from({ length: 257 }, (_, i) => ({ path: `/f${i}`, content: '' }));
    expect(rejection(files).message).toMatch(/257 entries, over the limit of 256/);
    expect(normalizeFiles(files, { maxFiles: 300, maxTotalBytes: 1 })).toHaveLength(257);
    expect(rejection(files.slice(0, 3), { maxFiles: 2, maxTotalBytes: 1 << 20 }).message).toMatch(/limit of 2 files/);
  });

  it('more bytes than the limit, naming the entry that crosses it', () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    const err = rejection([
      { path: '/a', content: big },
      { path: '/b', content: big },
    ]);
    expect(err.parameter).toBe('files[1] (/b)');
    expect(err.message).toMatch(/over the limit of 4194304/);
    expect(rejection([{ path: '/a', content: '12345' }], { maxFiles: 1, maxTotalBytes: 4 }).parameter).toBe('files[0] (/a)');
  });
});

describe('normalizeFiles accepts', () => {
  it('text as UTF-8 and base64 as bytes, sorted by path, 0644 by default, with sha256', () => {
    const files = normalizeFiles([
      { path: '/etc/z', content: 'héllo' },
      { path: '/bin/tool', mode: '0755', contentBase64: 'AAEC' },
      { path: '/etc/a', mode: '600', content: '' },
      { path: '/etc/b', mode: '0o640', content: 'x' },
    ]);
    expect(files.map((f) => [f.path, f.mode.toString(8)])).toEqual([
      ['/bin/tool', '755'],
      ['/etc/a', '600'],
      ['/etc/b', '640'],
      ['/etc/z', '644'],
    ]);
    expect([...files[0]!.data]).toEqual([0, 1, 2]);
    expect(Buffer.from(files[3]!.data).toString('utf8')).toBe('héllo');
    expect(files[1]!.sha256).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('parses octal modes as strings only', () => {
    expect(parseFileMode('0644')).toBe(0o644);
    expect(parseFileMode('4755')).toBe(0o4755);
    expect(parseFileMode('0o7')).toBe(7);
    expect(parseFileMode('8')).toBeUndefined();
    expect(parseFileMode('')).toBeUndefined();
  });
});

describe('files in normalizeEdits', () => {
  it('are part of the edits, and of their digest only when present', () => {
    const without = normalizeEdits({ append: ['a=1'] });
    expect(without.files).toEqual([]);
    expect(editsDigestInput(without)).toBe(JSON.stringify({ v: 1, append: ['a=1'], set: [], remove: [], separator: 'before' }));
    const one = normalizeEdits({ append: ['a=1'], files: [{ path: '/x', content: '1' }] });
    const other = normalizeEdits({ append: ['a=1'], files: [{ path: '/x', content: '2' }] });
    const mode = normalizeEdits({ append: ['a=1'], files: [{ path: '/x', content: '1', mode: '0600' }] });
    expect(new Set([editsDigestInput(without), editsDigestInput(one), editsDigestInput(other), editsDigestInput(mode)]).size).toBe(4);
  });

  it("take the caller's limits", () => {
    expect(() => normalizeEdits({ files: [{ path: '/x', content: '12' }] }, { fileLimits: { maxFiles: 1, maxTotalBytes: 1 } })).toThrow(
      EditValidationError,
    );
  });
});
