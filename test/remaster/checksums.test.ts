// Checksum-file rewriting: only the lines of changed files get new digests, in the case their hex
// was in, with `./`, `*` and CRLF kept; searching the lowered bytes for the changed names and
// parsing only those lines gives exactly what parsing every line gives (property-checked against
// the line-by-line form).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { asciiLowered, checksumUpdates, checksumUpdatesByLine, type ChecksumUpdate, type DigestOf } from '../../src/remaster/checksums.js';

const digest =
  (hex: string): DigestOf =>
  () =>
    hex;
const NEW = 'f'.repeat(32);

/** A checksum file of this (latin1) text, as prepareBase gives it. */
function fileOf(text: string): { bytes: Uint8Array; lowered?: Uint8Array } {
  const bytes = new Uint8Array(Buffer.from(text, 'latin1'));
  const lowered = asciiLowered(bytes);
  return lowered ? { bytes, lowered } : { bytes };
}

/** The text with an update's replacements written over it. */
function updatedText(text: string, update: ChecksumUpdate): string {
  const parts: string[] = [];
  let done = 0;
  for (const r of update.replaced) {
    parts.push(text.slice(done, r.offset), r.hex);
    done = r.offset + r.hex.length;
  }
  parts.push(text.slice(done));
  return parts.join('');
}

/** The filtered updates of `text`, with the text they make. */
function update(text: string, changed: ReadonlyMap<string, DigestOf>): ChecksumUpdate & { text: string } {
  const u = checksumUpdates(fileOf(text), 'md5', changed);
  return { ...u, text: updatedText(text, u) };
}

describe('checksumUpdates', () => {
  it('rewrites the lines of changed files and nothing else', () => {
    const text = [
      `${'a'.repeat(32)}  ./boot/grub/grub.cfg`,
      `${'B'.repeat(31)}C *EFI/BOOT/GRUB.CFG\r`,
      `${'c'.repeat(32)}  ./boot/grub/grub.cfg.bak`,
      `${'d'.repeat(32)}  ./casper/vmlinuz`,
      'not a checksum line grub.cfg',
      '',
    ].join('\n');
    const changed = new Map([
      ['/boot/grub/grub.cfg', digest(NEW)],
      ['/efi/boot/grub.cfg', digest(NEW)],
    ]);
    const out = update(text, changed);
    expect(out.text.split('\n')).toEqual([
      `${NEW}  ./boot/grub/grub.cfg`,
      `${NEW.toUpperCase()} *EFI/BOOT/GRUB.CFG\r`,
      `${'c'.repeat(32)}  ./boot/grub/grub.cfg.bak`,
      `${'d'.repeat(32)}  ./casper/vmlinuz`,
      'not a checksum line grub.cfg',
      '',
    ]);
    expect(out.updated).toEqual(['/boot/grub/grub.cfg', '/efi/boot/grub.cfg']);
    expect(out.text.length).toBe(text.length);
  });

  it('leaves a text that lists no changed file as it is', () => {
    const text = `${'a'.repeat(32)}  ./casper/vmlinuz\n`;
    expect(update(text, new Map([['/boot/grub/grub.cfg', digest(NEW)]]))).toEqual({ text, updated: [], replaced: [] });
  });

  it('finds a changed name that holds a newline, and ends (a name may start with one)', () => {
    const text = [`${'a'.repeat(32)}  ./x`, `${'0'.repeat(32)}  ./boot/y`, `${'b'.repeat(32)}  ./z`, ''].join('\n');
    const changed = new Map([['/efi/\n0', digest(NEW)]]);
    expect(checksumUpdates(fileOf(text), 'md5', changed)).toEqual(checksumUpdatesByLine(text, 'md5', changed));
  });

  it('reads a line that repeats a changed name once (a 1.6 MB line of 200,000 names)', () => {
    const hostile = 'grub.cfg'.repeat(200_000);
    const text = [hostile, `${'a'.repeat(32)}  ./boot/grub/grub.cfg`, `${'b'.repeat(32)}  ./grub.cfg${' grub.cfg'.repeat(1000)}`, hostile].join('\n');
    const changed = new Map([['/boot/grub/grub.cfg', digest(NEW)]]);
    const out = update(text, changed);
    expect(out.updated).toEqual(['/boot/grub/grub.cfg']);
    expect(out.text.split('\n')[1]).toBe(`${NEW}  ./boot/grub/grub.cfg`);
    expect(checksumUpdates(fileOf(text), 'md5', changed)).toEqual(checksumUpdatesByLine(text, 'md5', changed));
  });

  it('gives what parsing every line gives, on any text (fuzzed)', () => {
    // Names are whatever an image's Rock Ridge NM says: a newline included.
    const names = ['grub.cfg', 'GRUB.CFG', 'efi.img', 'EFI.IMG', 'Éso.cfg', 'éso.cfg', 'x', 'vmlinuz', '\n0', '\nx.cfg', 'a\nb'];
    const dirs = ['', 'boot/', 'BOOT/GRUB/', 'boot/grub/', 'EFI/BOOT/'];
    const hexChars = fc.constantFrom(...'0123456789abcdefABCDEF');
    const line = fc.oneof(
      fc
        .tuple(
          fc.array(hexChars, { minLength: 30, maxLength: 34 }),
          fc.constantFrom('  ./', ' *', '  ', ' *./'),
          fc.constantFrom(...dirs),
          fc.constantFrom(...names),
          fc.constantFrom('', '\r', ' '),
        )
        .map(([hex, sep, dir, name, end]) => `${hex.join('')}${sep}${dir}${name}${end}`),
      fc.string({ maxLength: 20 }),
      fc.array(fc.constantFrom(...names, ' ', '/'), { maxLength: 8 }).map((parts) => parts.join('')),
    );
    const path = fc.tuple(fc.constantFrom(...dirs), fc.constantFrom(...names)).map(([d, n]) => `/${d}${n}`);
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), fc.array(path, { maxLength: 4 }), (lines, paths) => {
        // As the file's bytes give it: latin1, one character per byte.
        const text = Buffer.from(lines.join('\n'), 'latin1').toString('latin1');
        const changed = new Map(paths.map((p) => [p, digest(NEW)]));
        expect(checksumUpdates(fileOf(text), 'md5', changed)).toEqual(checksumUpdatesByLine(text, 'md5', changed));
      }),
      { numRuns: 3000 },
    );
  });
});
