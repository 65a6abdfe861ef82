import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { editBootConfigs, normalizeEdits } from '../../src/bootconfig/index.js';
import type { EditReport } from '../../src/bootconfig/index.js';
import { missingTools, run, scratchDir } from '../helpers/tools.js';
import { debianInstaller, ironicAgent, rhelDvd, ubuntuLive } from './fixtures.js';

function config(report: EditReport, path: string) {
  const c = report.configs.find((x) => x.path === path);
  if (!c) throw new Error(`${path} not in report`);
  return c;
}

const one = (text: string) => new Map([['/boot/grub/grub.cfg', text]]);
const edit = (text: string, edits: Parameters<typeof normalizeEdits>[0]) =>
  config(editBootConfigs(one(text), normalizeEdits(edits)), '/boot/grub/grub.cfg').text;

describe('grub: distribution media', () => {
  test('Ubuntu live: edits go before --- by default, in grub.cfg and loopback.cfg; a linux16 memtest is left alone', () => {
    const r = editBootConfigs(ubuntuLive, normalizeEdits({ append: ['ds=nocloud'], remove: ['splash'] }));
    expect(config(r, '/boot/grub/grub.cfg').changes).toEqual([
      { line: 10, before: '\tlinux\t/casper/vmlinuz  --- quiet splash', after: '\tlinux\t/casper/vmlinuz  ds=nocloud --- quiet' },
      {
        line: 15,
        before: '\tlinux\t/casper/vmlinuz  nomodeset  --- quiet splash',
        after: '\tlinux\t/casper/vmlinuz  nomodeset  ds=nocloud --- quiet',
      },
    ]);
    expect(config(r, '/boot/grub/loopback.cfg').changes.map((c) => c.after)).toEqual([
      '\tlinux\t/casper/vmlinuz  iso-scan/filename=${iso_path} ds=nocloud --- quiet',
    ]);
    expect(config(r, '/boot/grub/grub.cfg').kernelLines).toBe(2);
  });

  test('the separator option "after" puts edits at the end of the line', () => {
    const r = editBootConfigs(ubuntuLive, normalizeEdits({ append: ['ds=nocloud'], separator: 'after' }));
    expect(config(r, '/boot/grub/loopback.cfg').changes.map((c) => c.after)).toEqual([
      '\tlinux\t/casper/vmlinuz  iso-scan/filename=${iso_path} --- quiet splash ds=nocloud',
    ]);
  });

  test('RHEL EFI grub.cfg: linuxefi lines in menuentry and submenu, initrdefi untouched', () => {
    const r = editBootConfigs(rhelDvd, normalizeEdits({ set: { 'inst.stage2': 'hd:LABEL=NODE7' }, append: ['inst.ks=hd:LABEL=OEMDRV:/ks.cfg'] }));
    const c = config(r, '/EFI/BOOT/grub.cfg');
    expect(c.kernelLines).toBe(4);
    expect(c.changes.map((x) => x.line)).toEqual([20, 24, 29, 33]);
    expect(c.changes[2]?.after).toBe(
      '\t\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=NODE7 inst.text quiet inst.ks=hd:LABEL=OEMDRV:/ks.cfg',
    );
  });

  test('Debian installer grub.cfg: every menuentry in and out of submenu', () => {
    const r = editBootConfigs(debianInstaller, normalizeEdits({ append: ['auto=true'] }));
    expect(config(r, '/boot/grub/grub.cfg').changes.map((c) => c.after)).toEqual([
      '    linux    /install.amd/vmlinuz vga=788 auto=true --- quiet ',
      '    linux    /install.amd/vmlinuz vga=788 auto=true --- quiet ',
      '        linux    /install.amd/vmlinuz priority=low vga=788 auto=true --- ',
    ]);
  });

  test('Ironic agent grub.cfg: the single menuentry', () => {
    const r = editBootConfigs(ironicAgent, normalizeEdits({ append: ['ipa-api-url=http://10.0.0.1:6385'] }));
    expect(config(r, '/EFI/BOOT/grub.cfg').changes).toEqual([
      {
        line: 6,
        before: 'linuxefi /vmlinuz text nofb nomodeset vga=normal ipa-insecure=1 ipa-debug=1',
        after: 'linuxefi /vmlinuz text nofb nomodeset vga=normal ipa-insecure=1 ipa-debug=1 ipa-api-url=http://10.0.0.1:6385',
      },
    ]);
  });
});

describe('grub: script syntax', () => {
  test('finds kernel lines after then/else, in one-line blocks and after ;', () => {
    const text = 'if true; then linux /a quiet; fi\nmenuentry x {linux /b quiet}\nset a=1; linux16 /c quiet\n';
    expect(edit(text, { remove: ['quiet'] })).toBe('if true; then linux /a; fi\nmenuentry x {linux /b}\nset a=1; linux16 /c\n');
  });

  test('keeps variables as written and matches keys through quotes', () => {
    const text = 'linux ($root)/vmlinuz root=${rootdev} "console=tty0" \'quiet\'\n';
    expect(edit(text, { remove: ['quiet'], set: { console: 'ttyS0' } })).toBe('linux ($root)/vmlinuz root=${rootdev} console=ttyS0\n');
  });

  test('single-quotes appended parameters that hold grub metacharacters', () => {
    expect(edit('linux /v\n', { append: ['a=$x', "b=it's", 'c=;{}', 'd=#'] })).toBe(`linux /v 'a=$x' 'b=it'\\''s' 'c=;{}' 'd=#'\n`);
  });

  test('follows line continuations without changing the line count', () => {
    const text = 'linux /v a=1 \\\n  quiet b=2\ninitrd /i\n';
    expect(edit(text, { remove: ['quiet'], append: ['c=3'] })).toBe('linux /v a=1 \\\n b=2 c=3\ninitrd /i\n');
  });

  test('leaves comments, initrd, chainloader and multiboot lines alone', () => {
    const text = '# linux /old quiet\nchainloader /EFI/x.efi quiet\nmultiboot /xen.gz quiet\ninitrd /i quiet\n';
    const r = editBootConfigs(one(text), normalizeEdits({ remove: ['quiet'] }));
    expect(r.configs[0]).toMatchObject({ kernelLines: 0, changed: false, text });
  });

  test('keeps kernel arguments after -- (init arguments) out of matching, and edits before them', () => {
    expect(edit('linux /v quiet -- single quiet\n', { remove: ['quiet'], append: ['x=1'] })).toBe('linux /v x=1 -- single quiet\n');
  });

  test('keeps CRLF and a missing final newline', () => {
    expect(edit('menuentry a {\r\n  linux /v quiet\r\n}', { append: ['x=1'] })).toBe('menuentry a {\r\n  linux /v quiet x=1\r\n}');
  });

  test('a word with quotes that span lines is not rewritten and is reported', () => {
    const r = editBootConfigs(one('linux /v "console=tty\n0"\n'), normalizeEdits({ set: { console: 'ttyS0' } }));
    expect(r.configs[0]?.changed).toBe(false);
    expect(r.warnings).toEqual(['/boot/grub/grub.cfg line 1: cannot set "console=tty\\n0": its text spans lines']);
  });
});

describe('grub: includes', () => {
  test('source and configfile with $prefix, ($root) and (cd0) resolve by the path part; missing ones are reported', () => {
    const files = new Map([
      ['/boot/grub/grub.cfg', 'source $prefix/extra.cfg\nconfigfile ($root)/boot/grub/other.cfg\nsource (cd0)/nowhere.cfg\n'],
      ['/boot/grub/extra.cfg', 'menuentry x { linux /v quiet }\n'],
      ['/boot/grub/other.cfg', 'linux /w\n'],
    ]);
    const r = editBootConfigs(files, normalizeEdits({ append: ['x=1'] }));
    expect(r.configs.map((c) => [c.path, c.syntax, c.kernelLines, c.changed])).toEqual([
      ['/boot/grub/extra.cfg', 'grub', 1, true],
      ['/boot/grub/grub.cfg', 'grub', 0, false],
      ['/boot/grub/other.cfg', 'grub', 1, true],
    ]);
    expect(r.missing).toEqual([{ from: '/boot/grub/grub.cfg', target: '(cd0)/nowhere.cfg' }]);
  });

  test("an EFI image's grub.cfg that hands over with configfile $prefix/grub.cfg does not include itself", () => {
    const files = new Map([
      ['/EFI/BOOT/grub.cfg', 'search --file --set=root /.disk/info\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n'],
    ]);
    const r = editBootConfigs(files, normalizeEdits({}));
    expect(r.cycles).toEqual([]);
    expect(r.missing).toEqual([{ from: '/EFI/BOOT/grub.cfg', target: '$prefix/grub.cfg' }]);
  });
});

describe.skipIf(missingTools('grub-script-check').length > 0)('grub: edited configs still parse (grub-script-check)', () => {
  test('every edited fixture and metacharacter-laden edit passes grub-script-check', async () => {
    const { dir, cleanup } = await scratchDir('bootconfig-grub-');
    try {
      const edits = normalizeEdits({
        append: ['a=$x', "b=it's", 'c=;{}|&<>', 'd=#', 'e=\\n', 'f=[x]*?'],
        set: { 'inst.stage2': 'hd:LABEL=$(x)' },
        remove: ['quiet'],
      });
      let n = 0;
      for (const set of [ubuntuLive, rhelDvd, debianInstaller, ironicAgent]) {
        for (const c of editBootConfigs(set, edits).configs.filter((x) => x.syntax === 'grub' && x.changed)) {
          const file = join(dir, `${n++}.cfg`);
          await writeFile(file, c.text, 'latin1');
          await run('grub-script-check', [file]);
        }
      }
      expect(n).toBe(5);
    } finally {
      await cleanup();
    }
  });
});
