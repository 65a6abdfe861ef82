import { describe, expect, test } from 'vitest';
import { editBootConfigs, editsDigestInput, normalizeEdits } from '../../src/bootconfig/index.js';
import type { Edits } from '../../src/bootconfig/index.js';
import { EditValidationError } from '../../src/errors.js';

function rejection(edits: unknown): { parameter: string; message: string } {
  try {
    normalizeEdits(edits as Edits);
  } catch (err) {
    if (!(err instanceof EditValidationError)) throw err;
    return { parameter: err.parameter, message: err.message };
  }
  throw new Error('accepted');
}

describe('normalizeEdits rejects', () => {
  test.each<[string, unknown, string, string]>([
    ['a newline', { append: ['a=1\nb'] }, 'a=1\nb', 'appended parameter contains a line break at index 3; a boot config line cannot hold one'],
    ['a carriage return in a value', { set: { k: 'v\r' } }, 'k', 'value contains a line break at index 1; a boot config line cannot hold one'],
    ['NUL', { append: ['a\u0000'] }, 'a\u0000', 'appended parameter contains NUL at index 1'],
    ['a control character', { remove: ['a\u001b'] }, 'a\u001b', 'key to remove contains control character U+001B at index 1'],
    ['DEL', { append: ['a\u007f'] }, 'a\u007f', 'appended parameter contains control character U+007F at index 1'],
    ['whitespace', { append: ['a b'] }, 'a b', 'appended parameter contains whitespace at index 1; give one kernel parameter per entry'],
    ['a tab in a value', { set: { k: 'a\tb' } }, 'k', 'value contains whitespace at index 1; give one kernel parameter per entry'],
    [
      'a double quote',
      { set: { k: '"a"' } },
      'k',
      'value contains a double quote at index 0; the kernel treats it as quoting, which edits do not support',
    ],
    [
      'non-ASCII',
      { append: ['name=café'] },
      'name=café',
      'appended parameter contains non-ASCII character U+00E9 at index 8; kernel parameters are edited as ASCII',
    ],
    ['an empty token', { append: [''] }, '', 'an appended parameter is empty'],
    ['an empty key', { append: ['=x'] }, '=x', 'an appended parameter has an empty name before "="'],
    ['an empty key to set', { set: { '': 'x' } }, '', 'key to set is empty'],
    ['a key to set with =', { set: { 'a=b': 'x' } }, 'a=b', 'a key to set cannot contain "="; give the value separately'],
    ['a key to remove with =', { remove: ['a=b'] }, 'a=b', 'a key to remove names a parameter without "=value"; every value of the key is removed'],
    ['the --- separator', { append: ['---'] }, '---', '--- is a command-line separator, not a parameter'],
    ['the -- separator', { remove: ['--'] }, '--', '-- is a command-line separator, not a parameter'],
    ['initrd', { set: { initrd: '/x' } }, 'initrd', 'initrd is set by the bootloader and cannot be edited'],
    ['BOOT_IMAGE', { append: ['BOOT_IMAGE=/x'] }, 'BOOT_IMAGE=/x', 'BOOT_IMAGE is set by the bootloader and cannot be edited'],
    ['a key set and removed', { set: { quiet: '1' }, remove: ['quiet'] }, 'quiet', 'is both set and removed'],
    ['a key appended and removed', { append: ['quiet'], remove: ['quiet'] }, 'quiet', 'appends quiet, which is also removed'],
    [
      'a key appended and set',
      { append: ['console=tty0'], set: { console: 'ttyS0' } },
      'console=tty0',
      'appends console, which is also set; use one of the two',
    ],
    ['an unknown kind of edit', { prepend: ['x'] }, 'prepend', 'is not a kind of edit (append, set, remove, separator, files)'],
    ['a bad separator', { separator: 'middle' }, 'separator', 'must be "before" or "after", not "middle"'],
    ['append that is not a list', { append: 'quiet' }, 'append', 'must be a list of strings'],
    ['a non-string entry', { remove: [1] }, 'remove[0]', 'must be a string'],
    ['a non-string value', { set: { a: 1 } }, 'a', 'the value to set must be a string'],
    ['too many entries', { append: Array.from({ length: 129 }, (_, i) => `p${i}`) }, 'append', 'has 129 entries, over the limit of 128'],
    [
      'a parameter over 1024 bytes',
      { append: [`a=${'x'.repeat(1024)}`] },
      `a=${'x'.repeat(1024)}`,
      'is 1026 bytes, over the 1024-byte limit for one parameter',
    ],
    [
      'edits longer than the kernel command line',
      { append: Array.from({ length: 3 }, (_, i) => `p${i}=${'x'.repeat(1000)}`) },
      `p2=${'x'.repeat(1000)}`,
      'the edits add 3012 bytes or more to the kernel command line, over its 2047-byte limit',
    ],
  ])('%s', (_name, edits, parameter, message) => {
    expect(rejection(edits)).toEqual({ parameter, message: `invalid parameter ${JSON.stringify(parameter)}: ${message}` });
  });

  test('an edited line that would pass the kernel limit, naming the first added parameter', () => {
    const long = `x=${'y'.repeat(1010)}`;
    const files = new Map([['/boot/grub/grub.cfg', `linux /vmlinuz ${long} ${long.replace('x=', 'z=')}\n`]]);
    expect(() => editBootConfigs(files, normalizeEdits({ append: ['console=ttyS0,115200'] }))).toThrow(
      'invalid parameter "console": the kernel command line at /boot/grub/grub.cfg line 1 would be 2066 bytes, over the 2047-byte limit',
    );
  });
});

describe('normalizeEdits accepts and normalizes', () => {
  test('grub metacharacters, dotted and dashed keys, empty values', () => {
    const n = normalizeEdits({ append: ['a=$x;{}', 'rd.break', 'ipa-api-url=http://h:1/x?y=1&z=2'], set: { 'inst.ks': '' } });
    expect(n).toEqual({
      append: ['a=$x;{}', 'rd.break', 'ipa-api-url=http://h:1/x?y=1&z=2'],
      set: [['inst.ks', '']],
      remove: [],
      separator: 'before',
      files: [],
    });
  });

  test('drops duplicates, sorts removals, keeps append and set order', () => {
    const n = normalizeEdits({ append: ['b', 'a', 'b'], remove: ['z', 'y', 'z'], set: { k2: '2', k1: '1' }, separator: 'after' });
    expect(n).toEqual({
      append: ['b', 'a'],
      set: [
        ['k2', '2'],
        ['k1', '1'],
      ],
      remove: ['y', 'z'],
      separator: 'after',
      files: [],
    });
  });

  test('the digest input is canonical: equal edits give equal strings, different edits different ones', () => {
    const a = editsDigestInput(normalizeEdits({ remove: ['b', 'a'], append: ['x'] }));
    const b = editsDigestInput(normalizeEdits({ append: ['x', 'x'], remove: ['a', 'b'], separator: 'before' }));
    expect(a).toBe(b);
    expect(a).toBe('{"v":1,"append":["x"],"set":[],"remove":["a","b"],"separator":"before"}');
    expect(editsDigestInput(normalizeEdits({ append: ['x'], separator: 'after' }))).not.toBe(editsDigestInput(normalizeEdits({ append: ['x'] })));
  });
});
