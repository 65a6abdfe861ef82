import { describe, expect, test } from 'vitest';
import { discoverBootConfigs, editBootConfigs, isBootConfigCandidate, normalizeEdits } from '../../src/bootconfig/index.js';
import { MAX_REPORTED_CYCLES, MAX_REPORTED_MISSING, MAX_REPORTED_WARNINGS } from '../../src/bootconfig/discover.js';
import { debianInstaller } from './fixtures.js';

describe('isBootConfigCandidate', () => {
  test.each([
    '/boot/grub/grub.cfg',
    '/boot/grub/loopback.cfg',
    '/isolinux/isolinux.cfg',
    '/isolinux/txt.cfg',
    '/isolinux/adtxt.cfg',
    '/ISOLINUX/ISOLINUX.CFG',
    '/ISOLINUX/MENU.CFG;1',
    '/syslinux.cfg',
    '/boot/extlinux/extlinux.conf',
    '/loader/entries/01-archiso-x86_64-linux.conf',
    '/LOADER/ENTRIES/ARCH.CONF',
    '/EFI/BOOT/grub.cfg',
  ])('reads %s', (path) => expect(isBootConfigCandidate(path)).toBe(true));

  test.each(['/loader/loader.conf', '/etc/foo.conf', '/isolinux/isolinux.bin', '/casper/vmlinuz', '/boot/grub/font.pf2', '/cfg', '/'])(
    'skips %s',
    (path) => expect(isBootConfigCandidate(path)).toBe(false),
  );
});

describe('discoverBootConfigs', () => {
  test('describes every config, its kernel lines, includes and includers', () => {
    const d = discoverBootConfigs(debianInstaller);
    const menu = d.configs.find((c) => c.path === '/isolinux/menu.cfg');
    expect(menu).toMatchObject({ syntax: 'syslinux', kernelLines: 0, includedBy: ['/isolinux/isolinux.cfg', '/isolinux/prompt.cfg'] });
    expect(menu?.includes).toEqual([
      '/isolinux/stdmenu.cfg',
      '/isolinux/gtk.cfg',
      '/isolinux/txt.cfg',
      '/isolinux/adtxt.cfg',
      '/isolinux/prompt.cfg',
      '/isolinux/x86menu.cfg',
    ]);
    expect(d.configs.find((c) => c.path === '/isolinux/txt.cfg')?.kernels).toEqual([
      { line: 4, directive: 'append', kernel: '/install.amd/vmlinuz', args: ['vga=788', 'initrd=/install.amd/initrd.gz', '---', 'quiet'] },
    ]);
    expect(d.configs.map((c) => c.path)).toEqual([...d.configs.map((c) => c.path)].sort());
  });

  test('gives the same result whatever the order of the input map', () => {
    const reversed = new Map([...debianInstaller].reverse());
    const edits = normalizeEdits({ append: ['x=1'] });
    expect(editBootConfigs(reversed, edits)).toEqual(editBootConfigs(debianInstaller, edits));
  });

  test('a self-INCLUDE and an INCLUDE of a missing file are reported, not fatal', () => {
    const files = new Map([['/isolinux/isolinux.cfg', 'include isolinux.cfg\ninclude gone.cfg\nlabel l\n kernel /v\n append a\n']]);
    const r = editBootConfigs(files, normalizeEdits({ append: ['x=1'] }));
    expect(r.cycles).toEqual([['/isolinux/isolinux.cfg', '/isolinux/isolinux.cfg']]);
    expect(r.missing).toEqual([{ from: '/isolinux/isolinux.cfg', target: 'gone.cfg' }]);
    expect(r.configs[0]?.changes.map((c) => c.after)).toEqual([' append a x=1']);
  });

  test('a *.cfg outside any boot directory is kept when it has kernel lines, omitted otherwise', () => {
    const files = new Map([
      ['/menus/custom.cfg', 'menuentry a {\n linux /v\n}\n'],
      ['/menus/legacy.cfg', 'LABEL a\nKERNEL /v\nAPPEND q\n'],
      ['/preseed/ubuntu.cfg', 'd-i debian-installer/locale string en_US\n'],
    ]);
    const d = discoverBootConfigs(files);
    expect(d.configs.map((c) => [c.path, c.syntax, c.kernelLines])).toEqual([
      ['/menus/custom.cfg', 'grub', 1],
      ['/menus/legacy.cfg', 'syslinux', 1],
    ]);
  });

  test('an INCLUDE chain deeper than syslinux follows is cut with a warning', () => {
    const files = new Map<string, string>();
    for (let i = 0; i < 20; i++) files.set(`/isolinux/${i === 0 ? 'isolinux' : `m${i}`}.cfg`, `include m${i + 1}.cfg\n`);
    files.set('/isolinux/m20.cfg', 'label l\n kernel /v\n append a\n');
    const r = editBootConfigs(files, normalizeEdits({ append: ['x=1'] }));
    expect(r.warnings.some((w) => w.includes('INCLUDE nesting deeper than 16'))).toBe(true);
  });
});

describe('include cycles', () => {
  test('a file naming the same include many times closes one cycle, reported once', () => {
    // A chain of 300 grub files whose last one sources the second 20000 times.
    const files = new Map<string, string>();
    const depth = 300;
    for (let i = 0; i < depth; i++) files.set(i === 0 ? '/boot/grub/grub.cfg' : `/boot/grub/${i}.cfg`, `source /boot/grub/${i + 1}.cfg\n`);
    files.set(`/boot/grub/${depth}.cfg`, 'source /boot/grub/1.cfg\n'.repeat(20_000));
    const d = discoverBootConfigs(files);
    expect(d.cycles).toEqual([[...Array.from({ length: depth }, (_, i) => `/boot/grub/${i + 1}.cfg`), '/boot/grub/1.cfg']]);
    expect(d.warnings).toEqual([]);
  });

  test('a self-INCLUDE written twice is one cycle', () => {
    const files = new Map([['/isolinux/isolinux.cfg', 'include isolinux.cfg\ninclude isolinux.cfg\nlabel l\n kernel /v\n']]);
    expect(discoverBootConfigs(files).cycles).toEqual([['/isolinux/isolinux.cfg', '/isolinux/isolinux.cfg']]);
  });

  test(`past ${MAX_REPORTED_CYCLES} cycles, the first ones are reported and the rest counted in a warning`, () => {
    // grub.cfg sources 150 files that each source it back: 150 distinct cycles.
    const files = new Map<string, string>();
    let root = '';
    for (let i = 0; i < 150; i++) {
      const p = `/boot/grub/m${String(i).padStart(3, '0')}.cfg`;
      root += `source ${p}\n`;
      files.set(p, 'source /boot/grub/grub.cfg\n');
    }
    files.set('/boot/grub/grub.cfg', root);
    const d = discoverBootConfigs(files);
    expect(d.cycles).toHaveLength(MAX_REPORTED_CYCLES);
    expect(d.cycles[0]).toEqual(['/boot/grub/grub.cfg', '/boot/grub/m000.cfg', '/boot/grub/grub.cfg']);
    expect(d.warnings).toEqual([`150 include cycles; only the first ${MAX_REPORTED_CYCLES} are reported`]);
  });
});

describe('reported lists', () => {
  test('an edit report lists at most MAX_REPORTED_WARNINGS warnings and counts the rest', () => {
    const files = new Map<string, string>([
      ['/boot/grub/grub.cfg', `menuentry a {\n linux /vmlinuz q\n}\n${'source /boot/grub/nope.cfg\n'.repeat(500)}`],
    ]);
    for (let i = 0; i < 2; i++) files.set(`/d${i}/x.cfg`, 'x\n');
    files.set('/boot/grub/grub.cfg', `${files.get('/boot/grub/grub.cfg')}${'source $a/x.cfg\n'.repeat(300)}`);
    const r = editBootConfigs(files, normalizeEdits({ append: ['quiet'] }));
    expect(r.configs.find((c) => c.path === '/boot/grub/grub.cfg')?.changed).toBe(true);
    expect(r.missing).toHaveLength(MAX_REPORTED_MISSING);
    expect(r.warnings).toHaveLength(MAX_REPORTED_WARNINGS + 1);
    expect(r.warnings).toContain(`500 includes of files that are not there; only the first ${MAX_REPORTED_MISSING} are reported`);
    expect(r.warnings.at(-1)).toBe(`${300 + 1 - MAX_REPORTED_WARNINGS} more warnings not listed`);
  });
});
