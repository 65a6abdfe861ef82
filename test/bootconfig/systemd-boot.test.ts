import { expect, test } from 'vitest';
import { editBootConfigs, normalizeEdits } from '../../src/bootconfig/index.js';
import { archEntries } from './fixtures.js';

test('Arch systemd-boot entries: options lines edited, the EFI shell entry and loader.conf left alone', () => {
  const r = editBootConfigs(archEntries, normalizeEdits({ append: ['console=ttyS0'], set: { archisobasedir: 'arch2' } }));
  expect(r.configs.map((c) => [c.path, c.syntax, c.kernelLines, c.changed])).toEqual([
    ['/loader/entries/01-archiso-x86_64-linux.conf', 'systemd-boot', 1, true],
    ['/loader/entries/02-archiso-x86_64-speech-linux.conf', 'systemd-boot', 1, true],
    ['/loader/entries/03-shell.conf', 'systemd-boot', 0, false],
  ]);
  expect(r.configs[0]?.changes).toEqual([
    {
      line: 5,
      before: 'options  archisobasedir=arch archisosearchuuid=2024-05-01-10-19-53-00',
      after: 'options  archisobasedir=arch2 archisosearchuuid=2024-05-01-10-19-53-00 console=ttyS0',
    },
  ]);
});

test('several options lines form one command line: keys found on any, new tokens on the last', () => {
  const files = new Map([['/loader/entries/a.conf', 'linux /vmlinuz\noptions root=UUID=1 quiet\noptions rw\n']]);
  const r = editBootConfigs(files, normalizeEdits({ remove: ['quiet'], append: ['rw', 'x=1'] }));
  expect(r.configs[0]?.text).toBe('linux /vmlinuz\noptions root=UUID=1\noptions rw x=1\n');
});

test('an entry without an options line is reported, not given a new line', () => {
  const files = new Map([['/loader/entries/a.conf', 'title A\nlinux /vmlinuz\n']]);
  const r = editBootConfigs(files, normalizeEdits({ append: ['x=1'] }));
  expect(r.configs[0]).toMatchObject({ kernelLines: 0, changed: false });
  expect(r.warnings).toEqual([
    '/loader/entries/a.conf line 2: the entry has no options line; edits cannot add one without adding a line, so it is not edited',
  ]);
});
