// Which initrds kernel lines load, per syntax, and how their paths resolve in a file system.

import { describe, expect, it } from 'vitest';
import { findInitrdReferences, initrdResolver } from '../../src/bootconfig/index.js';

const refs = (files: Record<string, string>) => findInitrdReferences(new Map(Object.entries(files))).map((r) => `${r.config}:${r.line} ${r.target}`);

describe('findInitrdReferences', () => {
  it('reads grub initrd, initrdefi and initrd16 commands, every image of each, without options or newc: wrappers', () => {
    const cfg = [
      "menuentry 'a' {",
      '  linux /vmlinuz quiet',
      '  initrd /intel-ucode.img /initrd.img',
      '}',
      "menuentry 'b' { linuxefi /vmlinuz; initrdefi ($root)/images/initrd.img; }",
      'menuentry c {',
      '  linux16 /vmlinuz',
      '  initrd16 --nounzip /x.img newc:/etc/y:/y',
      '}',
    ].join('\n');
    expect(refs({ '/boot/grub/grub.cfg': cfg })).toEqual([
      '/boot/grub/grub.cfg:3 /intel-ucode.img',
      '/boot/grub/grub.cfg:3 /initrd.img',
      '/boot/grub/grub.cfg:5 ($root)/images/initrd.img',
      '/boot/grub/grub.cfg:8 /x.img',
    ]);
  });

  it('ignores initrd commands of a grub file that loads no kernel', () => {
    expect(refs({ '/boot/grub/grub.cfg': 'initrd /stray.img\n' })).toEqual([]);
  });

  it('reads syslinux INITRD directives and initrd= lists, global APPEND included, and not memtest labels', () => {
    const cfg = [
      'default a',
      'label a',
      '  kernel /vmlinuz',
      '  append initrd=/one.img,/two.img quiet',
      'label b',
      '  kernel vmlinuz',
      '  initrd three.img',
      '  append quiet',
      'label m',
      '  kernel /memtest',
      '  append initrd=/no.img',
    ].join('\n');
    expect(refs({ '/isolinux/isolinux.cfg': cfg })).toEqual([
      '/isolinux/isolinux.cfg:4 /one.img',
      '/isolinux/isolinux.cfg:4 /two.img',
      '/isolinux/isolinux.cfg:8 three.img',
    ]);
    const global = ['append initrd=/g.img quiet', 'label x', '  kernel /vmlinuz', '  initrd /l.img'].join('\n');
    expect(refs({ '/syslinux/syslinux.cfg': global })).toEqual(['/syslinux/syslinux.cfg:1 /l.img', '/syslinux/syslinux.cfg:1 /g.img']);
  });

  it('reads systemd-boot initrd lines of Linux entries', () => {
    expect(refs({ '/loader/entries/a.conf': 'title A\nlinux /vmlinuz\ninitrd /ucode.img\ninitrd /initrd.img\noptions quiet\n' })).toEqual([
      '/loader/entries/a.conf:5 /ucode.img',
      '/loader/entries/a.conf:5 /initrd.img',
    ]);
  });
});

describe('initrdResolver', () => {
  const resolve = initrdResolver(['/isolinux/three.img', '/images/initrd.img', '/INSTALL.AMD/INITRD.GZ;1', '/casper/initrd']);
  const files = new Map(
    Object.entries({
      '/isolinux/isolinux.cfg': 'label b\n  kernel vmlinuz\n  initrd three.img\n  append quiet\n',
      '/boot/grub/grub.cfg':
        'menuentry a {\n linux /v\n initrd ($root)/images/initrd.img /install.amd/initrd.gz ${prefix}/casper/initrd /missing\n}\n',
    }),
  );
  it('resolves syslinux paths from the configuration directory, grub paths without their device, case-insensitively', () => {
    expect(findInitrdReferences(files).map((r) => resolve(r) ?? `(none: ${r.target})`)).toEqual([
      '/images/initrd.img',
      '/INSTALL.AMD/INITRD.GZ;1',
      '/casper/initrd',
      '(none: /missing)',
      '/isolinux/three.img',
    ]);
  });
});
