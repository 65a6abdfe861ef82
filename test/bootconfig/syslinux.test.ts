import { describe, expect, test } from 'vitest';
import { editBootConfigs, normalizeEdits } from '../../src/bootconfig/index.js';
import type { EditReport } from '../../src/bootconfig/index.js';
import { SYSLINUX_MAX_DIRECTIVES } from '../../src/bootconfig/syslinux.js';
import { archSyslinux, debianInstaller, ironicAgent, rhelDvd, utilityMenu } from './fixtures.js';

const EDITS = normalizeEdits({ append: ['console=ttyS0,115200', 'ipa.node=node-7'], set: { vga: 'normal' }, remove: ['quiet'] });

function config(report: EditReport, path: string) {
  const c = report.configs.find((x) => x.path === path);
  if (!c) throw new Error(`${path} not in report: ${report.configs.map((x) => x.path).join(', ')}`);
  return c;
}

describe('syslinux: Debian installer INCLUDE chain', () => {
  const report = editBootConfigs(debianInstaller, EDITS);

  test('edits the APPEND of every Linux label across included files, before ---', () => {
    expect(config(report, '/isolinux/txt.cfg').changes).toEqual([
      {
        line: 4,
        before: '\tappend vga=788 initrd=/install.amd/initrd.gz --- quiet ',
        after: '\tappend vga=normal initrd=/install.amd/initrd.gz console=ttyS0,115200 ipa.node=node-7 --- ',
      },
    ]);
    expect(config(report, '/isolinux/gtk.cfg').changes.map((c) => c.after)).toEqual([
      '\tappend vga=normal initrd=/install.amd/gtk/initrd.gz console=ttyS0,115200 ipa.node=node-7 --- ',
    ]);
    expect(config(report, '/isolinux/adtxt.cfg').changes.map((c) => c.after)).toEqual([
      '\tappend priority=low vga=normal initrd=/install.amd/initrd.gz console=ttyS0,115200 ipa.node=node-7 --- ',
      '\tappend auto=true priority=critical vga=normal initrd=/install.amd/initrd.gz console=ttyS0,115200 ipa.node=node-7 --- ',
    ]);
    expect(config(report, '/isolinux/rqtxt.cfg').kernelLines).toBe(1);
  });

  test('keeps initrd= first where it was', () => {
    const line = config(report, '/isolinux/txt.cfg').text.split('\n')[3] ?? '';
    expect(line.indexOf('initrd=')).toBe(line.indexOf('vga=normal') + 'vga=normal '.length);
  });

  test('lists menus without kernel lines with kernelLines 0 and leaves them unchanged', () => {
    for (const p of [
      '/isolinux/isolinux.cfg',
      '/isolinux/menu.cfg',
      '/isolinux/stdmenu.cfg',
      '/isolinux/prompt.cfg',
      '/isolinux/exithelp.cfg',
      '/isolinux/x86menu.cfg',
    ]) {
      const c = config(report, p);
      expect([c.syntax, c.kernelLines, c.changed, c.text]).toEqual(['syslinux', 0, false, debianInstaller.get(p)]);
    }
  });

  test('reports the CONFIG loops back to menu.cfg and isolinux.cfg as cycles, not errors', () => {
    expect(report.cycles).toEqual([
      ['/isolinux/menu.cfg', '/isolinux/prompt.cfg', '/isolinux/menu.cfg'],
      ['/isolinux/exithelp.cfg', '/isolinux/isolinux.cfg', '/isolinux/menu.cfg', '/isolinux/prompt.cfg', '/isolinux/exithelp.cfg'],
    ]);
    expect(report.missing).toEqual([]);
    expect(report.warnings).toEqual([]);
  });

  test('ignores lines inside TEXT HELP ... ENDTEXT', () => {
    const files = new Map([['/isolinux/isolinux.cfg', 'label a\n  kernel /vmlinuz\n  text help\n  append not=a-directive\n  endtext\n']]);
    const r = editBootConfigs(files, EDITS);
    expect(config(r, '/isolinux/isolinux.cfg').changes).toEqual([
      { line: 2, before: '  kernel /vmlinuz', after: '  kernel /vmlinuz vga=normal console=ttyS0,115200 ipa.node=node-7' },
    ]);
  });
});

describe('syslinux: RHEL DVD isolinux.cfg', () => {
  const report = editBootConfigs(rhelDvd, normalizeEdits({ append: ['inst.ks=http://10.0.0.1/ks.cfg'], set: { 'inst.stage2': 'hd:LABEL=NODE7' } }));
  const c = config(report, '/isolinux/isolinux.cfg');

  test('edits the four Linux labels, inside and outside MENU BEGIN', () => {
    expect(c.kernelLines).toBe(4);
    expect(c.changes.map((x) => x.line)).toEqual([22, 28, 43, 49]);
    expect(c.changes[0]).toEqual({
      line: 22,
      before: '  append initrd=initrd.img inst.stage2=hd:LABEL=RHEL-9-4-0-BaseOS-x86_64 quiet',
      after: '  append initrd=initrd.img inst.stage2=hd:LABEL=NODE7 quiet inst.ks=http://10.0.0.1/ks.cfg',
    });
  });

  test('leaves memtest, localboot and help text untouched', () => {
    const before = (rhelDvd.get('/isolinux/isolinux.cfg') ?? '').split('\n');
    const after = c.text.split('\n');
    for (const [i, line] of before.entries()) {
      if (/memtest|localboot|help|endtext/i.test(line)) expect(after[i]).toBe(line);
    }
  });
});

describe('syslinux: global APPEND', () => {
  test('a global APPEND in isolinux.cfg feeds a Linux label in an INCLUDEd file and is edited there', () => {
    const files = new Map([
      ['/isolinux/isolinux.cfg', 'default live\nappend boot=live quiet\ninclude live.cfg\n'],
      ['/isolinux/live.cfg', 'label live\n  kernel /live/vmlinuz\n  initrd /live/initrd.img\n'],
    ]);
    const r = editBootConfigs(files, EDITS);
    expect(config(r, '/isolinux/isolinux.cfg').changes).toEqual([
      { line: 2, before: 'append boot=live quiet', after: 'append boot=live vga=normal console=ttyS0,115200 ipa.node=node-7' },
    ]);
    expect(config(r, '/isolinux/live.cfg').changed).toBe(false);
  });

  test('a global APPEND that feeds only COM32 labels is left alone', () => {
    const r = editBootConfigs(utilityMenu, EDITS);
    expect(r.configs.map((c) => [c.path, c.kernelLines, c.changed])).toEqual([['/syslinux/syslinux.cfg', 0, false]]);
    expect(r.missing).toEqual([{ from: '/syslinux/syslinux.cfg', target: '/other/isolinux.cfg' }]);
  });

  test('a Linux label with neither its own nor a global APPEND gets the edits on its KERNEL line', () => {
    const files = new Map([['/syslinux.cfg', 'LABEL linux\r\n  KERNEL /boot/vmlinuz root=/dev/sda1\r\n  INITRD /boot/initrd\r\n']]);
    const r = editBootConfigs(files, EDITS);
    expect(config(r, '/syslinux.cfg').text).toBe(
      'LABEL linux\r\n  KERNEL /boot/vmlinuz root=/dev/sda1 vga=normal console=ttyS0,115200 ipa.node=node-7\r\n  INITRD /boot/initrd\r\n',
    );
  });

  test('APPEND - (explicitly none) is replaced by the appended tokens', () => {
    const files = new Map([['/syslinux.cfg', 'APPEND console=tty0\nLABEL linux\nLINUX /vmlinuz\nAPPEND -\n']]);
    const r = editBootConfigs(files, normalizeEdits({ append: ['a=1'] }));
    expect(config(r, '/syslinux.cfg').text).toBe('APPEND console=tty0\nLABEL linux\nLINUX /vmlinuz\nAPPEND a=1\n');
  });
});

describe('syslinux: Arch and Ironic', () => {
  test('Arch: CONFIG reaches archiso_sys.cfg, whose INCLUDEs resolve from the root; COM32 labels stay', () => {
    const r = editBootConfigs(archSyslinux, EDITS);
    const linux = config(r, '/boot/syslinux/archiso_sys-linux.cfg');
    expect(linux.changes.map((c) => c.after)).toEqual([
      'APPEND archisobasedir=arch archisosearchuuid=2024-05-01-10-19-53-00 vga=normal console=ttyS0,115200 ipa.node=node-7',
      'APPEND archisobasedir=arch archisosearchuuid=2024-05-01-10-19-53-00 accessibility=on vga=normal console=ttyS0,115200 ipa.node=node-7',
    ]);
    for (const p of [
      '/boot/syslinux/syslinux.cfg',
      '/boot/syslinux/archiso_tail.cfg',
      '/boot/syslinux/archiso_head.cfg',
      '/boot/syslinux/archiso_sys.cfg',
    ])
      expect(config(r, p).changed).toBe(false);
    expect(r.missing).toEqual([{ from: '/boot/syslinux/syslinux.cfg', target: 'boot/syslinux/archiso_pxe.cfg' }]);
  });

  test('Ironic agent: append with initrd= first is edited in place', () => {
    const r = editBootConfigs(ironicAgent, normalizeEdits({ append: ['ipa-api-url=http://10.0.0.1:6385'], set: { 'ipa-debug': '0' } }));
    expect(config(r, '/isolinux/isolinux.cfg').changes).toEqual([
      {
        line: 5,
        before: 'append initrd=/initrd text nofb nomodeset vga=normal ipa-insecure=1 ipa-debug=1',
        after: 'append initrd=/initrd text nofb nomodeset vga=normal ipa-insecure=1 ipa-debug=0 ipa-api-url=http://10.0.0.1:6385',
      },
    ]);
  });
});

describe('syslinux: names', () => {
  test('plain ISO 9660 upper-case names and keywords are matched case-insensitively', () => {
    const files = new Map([
      ['/ISOLINUX/ISOLINUX.CFG', 'INCLUDE TXT.CFG\n'],
      ['/ISOLINUX/TXT.CFG', 'Label Install\n  Kernel /INSTALL/VMLINUZ\n  Append initrd=/INSTALL/INITRD.GZ\n'],
    ]);
    const r = editBootConfigs(files, normalizeEdits({ append: ['x=1'] }));
    expect(config(r, '/ISOLINUX/TXT.CFG').changes.map((c) => c.after)).toEqual(['  Append initrd=/INSTALL/INITRD.GZ x=1']);
  });

  test('a file INCLUDEd from syslinux is syslinux whatever its name or place', () => {
    const files = new Map([
      ['/isolinux/isolinux.cfg', 'include /boot/grub/menu-extra.cfg\n'],
      ['/boot/grub/menu-extra.cfg', 'label x\n kernel /vmlinuz\n append quiet\n'],
    ]);
    const r = editBootConfigs(files, EDITS);
    expect(config(r, '/boot/grub/menu-extra.cfg').syntax).toBe('syslinux');
  });
});

describe('syslinux: repeated INCLUDEs', () => {
  const X = normalizeEdits({ append: ['x=1'] });

  test('a file INCLUDEd twice is read twice, in the parser state of each INCLUDE', () => {
    // First read: the label takes the APPEND that follows in isolinux.cfg. Second read: no APPEND,
    // so its KERNEL line is edited.
    const files = new Map([
      ['/isolinux/isolinux.cfg', 'include b.cfg\nappend X\ninclude b.cfg\n'],
      ['/isolinux/b.cfg', 'label l\nkernel /v\n'],
    ]);
    const r = editBootConfigs(files, X);
    expect(config(r, '/isolinux/isolinux.cfg').changes.map((c) => c.after)).toEqual(['append X x=1']);
    expect(config(r, '/isolinux/b.cfg').changes.map((c) => c.after)).toEqual(['kernel /v x=1']);
    expect(r.warnings).toEqual([]);
  });

  test('a thousand INCLUDEs of a thousand-label file: every label edited, the re-reading capped with one warning', () => {
    const n = 1000;
    let labels = '';
    for (let i = 0; i < n; i++) labels += `label l${i}\nkernel vmlinuz\nappend q\n`;
    const files = new Map([
      ['/isolinux/isolinux.cfg', 'include b.cfg\n'.repeat(n)],
      ['/isolinux/b.cfg', labels],
    ]);
    const r = editBootConfigs(files, X);
    const b = config(r, '/isolinux/b.cfg');
    expect(b.kernelLines).toBe(n);
    expect(b.changes.length).toBe(n);
    expect(b.changes.every((c) => c.after === 'append q x=1')).toBe(true);
    // 3000 directives a read: the budget of 2^17 takes 43 reads of b.cfg.
    expect(r.warnings).toEqual([
      `/isolinux/isolinux.cfg line 44: more than ${SYSLINUX_MAX_DIRECTIVES} syslinux directives to read, a file counted once per INCLUDE; /isolinux/b.cfg and every later INCLUDE not read`,
    ]);
  });

  test('a chain of files each INCLUDing the next twice reaches the last one, then is capped', () => {
    const files = new Map<string, string>();
    const depth = 15;
    for (let i = 0; i < depth; i++) files.set(`/isolinux/${i === 0 ? 'isolinux' : `f${i}`}.cfg`, `include f${i + 1}.cfg\ninclude f${i + 1}.cfg\n`);
    files.set(`/isolinux/f${depth}.cfg`, 'label a\nkernel vmlinuz\nappend q\n');
    const r = editBootConfigs(files, X);
    expect(config(r, `/isolinux/f${depth}.cfg`).changes.map((c) => c.after)).toEqual(['append q x=1']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/more than 131072 syslinux directives to read.*and every later INCLUDE not read$/);
  });

  test('the budget is shared by every configuration of the file system', () => {
    // 500 CONFIG targets each start a configuration that reads the same double-INCLUDE chain.
    const files = new Map<string, string>();
    let root = '';
    for (let i = 0; i < 500; i++) {
      root += `config c${i}.cfg\n`;
      files.set(`/isolinux/c${i}.cfg`, 'include f1.cfg\ninclude f1.cfg\n');
    }
    files.set('/isolinux/isolinux.cfg', root);
    for (let i = 1; i < 10; i++) files.set(`/isolinux/f${i}.cfg`, `include f${i + 1}.cfg\ninclude f${i + 1}.cfg\n`);
    files.set('/isolinux/f10.cfg', 'label a\nkernel vmlinuz\nappend q\n');
    const r = editBootConfigs(files, X);
    expect(config(r, '/isolinux/f10.cfg').changes.map((c) => c.after)).toEqual(['append q x=1']);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/every later INCLUDE not read$/);
  });
});
