// The five ISO layouts of the boot test, as data: the files of each ISO tree, the boot
// configs with their kernel lines, the FAT images handed to UEFI and the xorriso arguments. Each
// mirrors how a real distribution builds its installer ISO, because each makes the proxy edit a
// different place: an INCLUDEd isolinux file (Debian), a grub.cfg both inside a FAT image and in
// the tree (RHEL), a FAT image that is an appended partition and no file of the tree (Ubuntu),
// grub-mkrescue's own layout, and configs that fill their last sector exactly (zero slack).
// fixtures.ts runs the recipes; nothing here touches the disk.

import { elToritoArgs } from '../helpers/mkisofs.js';

export type LayoutName = 'debian' | 'rhel' | 'appended-esp' | 'mkrescue' | 'zero-slack';
export const LAYOUT_NAMES: readonly LayoutName[] = ['debian', 'rhel', 'appended-esp', 'mkrescue', 'zero-slack'];

/** The parameters on every kernel line of every layout; the edits target these. */
export const BASELINE_PARAMETERS: readonly string[] = ['console=ttyS0', 'isoproxy.base=1', 'isoproxy.keep=yes', 'isoproxy.drop=me'];

export const SECTOR_BYTES = 2048;

/** Where a file's bytes come from when the fixture builder lays out a tree. */
export type Source =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'kernel' }
  | { readonly kind: 'initrd' }
  | { readonly kind: 'file'; readonly path: string }
  /** A GRUB core image built by grub-mkimage. */
  | { readonly kind: 'grub'; readonly grub: GrubImage }
  /** A FAT image built from the given files (paths inside the FAT, upper case as firmware expects). */
  | { readonly kind: 'fat'; readonly files: Readonly<Record<string, Source>> };

/** How a grub-mkimage binary finds its grub.cfg. */
export interface GrubImage {
  readonly format: 'x86_64-efi' | 'i386-pc-eltorito';
  /** Prefix without a device: grub reads $prefix/grub.cfg on the device it was loaded from. */
  readonly prefix: string;
  /** Embedded early config (grub-mkimage -c), run before normal mode reads $prefix/grub.cfg. */
  readonly earlyConfig?: string;
}

export interface LayoutRecipe {
  readonly name: LayoutName;
  readonly description: string;
  readonly volumeId: string;
  /** The default entry's parameters, as the kernel should see them (loader tokens aside). */
  readonly parameters: readonly string[];
  /** Files of the ISO tree, by path. */
  readonly tree: Readonly<Record<string, Source>>;
  /** Where kernel lines live: tree paths, or `<fat image path>:<path inside>` / `esp.img:<path>`. */
  readonly bootConfigs: readonly string[];
  /** A FAT image appended as partition 2 (not a file of the tree). */
  readonly appendedEsp?: Readonly<Record<string, Source>>;
  /** Build with grub-mkrescue instead of xorriso -as mkisofs. */
  readonly mkrescue?: boolean;
  /** Write md5sum.txt over every file of the tree (Debian does). */
  readonly md5sums?: boolean;
  /** xorriso -as mkisofs arguments between the common ones and the tree; ESP_IMAGE is replaced. */
  readonly mkisofsArgs: readonly string[];
}

const ISOLINUX_BIN = '/usr/lib/ISOLINUX/isolinux.bin';
const ISOHDPFX = '/usr/lib/ISOLINUX/isohdpfx.bin';
const LDLINUX = '/usr/lib/syslinux/modules/bios/ldlinux.c32';
const BOOT_HYBRID = '/usr/lib/grub/i386-pc/boot_hybrid.img';

const text = (t: string): Source => ({ kind: 'text', text: t });
const file = (path: string): Source => ({ kind: 'file', path });
const KERNEL: Source = { kind: 'kernel' };
const INITRD: Source = { kind: 'initrd' };

/** Marker files grub searches for: `search --file` finds the ISO whichever device it is. */
const marker = (name: LayoutName): string => `.disk/isoproxy-${name}`;

/**
 * The first line of every grub.cfg: says on the console which device grub read the config from.
 * Identical in every copy of a config, so the copies stay byte-identical; the boot log tells
 * which copy a firmware path read (root is the device the config came from at this point).
 */
const GRUB_TRACE = 'echo "ISOPROXY-GRUB: root=$root prefix=$prefix cmdpath=$cmdpath"';

function grubCfg(opts: {
  header: string;
  search?: string;
  linux: string;
  initrd: string;
  kernel: string;
  initrdPath: string;
  parameters: readonly string[];
}): string {
  const params = opts.parameters.join(' ');
  return [
    `# ${opts.header}`,
    GRUB_TRACE,
    ...(opts.search ? [opts.search] : []),
    'set default=0',
    'set timeout=0',
    '',
    "menuentry 'Install' {",
    `\t${opts.linux}\t${opts.kernel} ${params}`,
    `\t${opts.initrd}\t${opts.initrdPath}`,
    '}',
    "menuentry 'Rescue mode' {",
    `\t${opts.linux}\t${opts.kernel} ${params} rescue/enable=true`,
    `\t${opts.initrd}\t${opts.initrdPath}`,
    '}',
    '',
  ].join('\n');
}

/**
 * Pads a config with comment lines so it ends exactly on a sector boundary: any growth of its
 * kernel line then needs a sector the file does not have (relocation, not an in-place edit).
 */
export function padToSector(content: string, commentPrefix = '#'): string {
  const enc = new TextEncoder();
  let missing = (SECTOR_BYTES - (enc.encode(content).length % SECTOR_BYTES)) % SECTOR_BYTES;
  // A comment line needs at least the prefix and a newline; one missing byte takes a sector more.
  if (missing > 0 && missing < commentPrefix.length + 1) missing += SECTOR_BYTES;
  let out = content;
  while (missing > 0) {
    let line = Math.min(missing, 64);
    if (missing - line > 0 && missing - line < commentPrefix.length + 1) line -= commentPrefix.length + 1;
    out += commentPrefix + '-'.repeat(line - commentPrefix.length - 1) + '\n';
    missing -= line;
  }
  return out;
}

/** EFI modules every layout's GRUB needs: both partition maps, both file systems, the loaders. */
export const GRUB_EFI_MODULES = [
  'part_gpt',
  'part_msdos',
  'fat',
  'iso9660',
  'normal',
  'configfile',
  'search',
  'search_fs_file',
  'search_fs_uuid',
  'search_label',
  'linux',
  'linuxefi',
  'echo',
  'test',
  'ls',
  'cat',
  'gzio',
  'efi_gop',
  'efi_uga',
  'all_video',
  'boot',
  'chain',
  'halt',
  'reboot',
];
export const GRUB_BIOS_MODULES = [
  'biosdisk',
  'part_gpt',
  'part_msdos',
  'iso9660',
  'normal',
  'configfile',
  'search',
  'search_fs_file',
  'search_label',
  'linux',
  'echo',
  'test',
  'ls',
  'cat',
  'gzio',
  'boot',
  'halt',
  'reboot',
];

function debian(): LayoutRecipe {
  const parameters = BASELINE_PARAMETERS;
  const params = parameters.join(' ');
  // Debian's efi.img grub.cfg only finds the ISO and sources the tree's grub.cfg; its GRUB's
  // prefix is /EFI/debian, read from whichever device grub maps its own image to, so the stub
  // is in the FAT image and in the tree (as on Debian 12 ISOs).
  const stub = [
    `# Debian-like EFI stub: find the ISO, then use its grub.cfg`,
    GRUB_TRACE,
    `search --no-floppy --file --set=root /${marker('debian')}`,
    'set prefix=($root)/boot/grub',
    'source $prefix/grub.cfg',
    '',
  ].join('\n');
  const efi: GrubImage = { format: 'x86_64-efi', prefix: '/EFI/debian' };
  return {
    name: 'debian',
    description: 'Debian-like: isolinux with INCLUDE chains, hybrid MBR + GPT, El Torito boot/grub/efi.img (search stub), RR + Joliet, md5sum.txt',
    volumeId: 'ISOPROXY_DEBIAN',
    parameters,
    bootConfigs: ['isolinux/txt.cfg', 'boot/grub/grub.cfg'],
    md5sums: true,
    tree: {
      [marker('debian')]: text('isoproxy Debian-like boot fixture\n'),
      'install.amd/vmlinuz': KERNEL,
      'install.amd/initrd.gz': INITRD,
      'isolinux/isolinux.bin': file(ISOLINUX_BIN),
      'isolinux/ldlinux.c32': file(LDLINUX),
      'isolinux/isolinux.cfg': text(
        '# D-I config version 2.0\n# search path for the c32 support libraries\npath \ninclude menu.cfg\ndefault install\nprompt 0\ntimeout 0\n',
      ),
      'isolinux/menu.cfg': text(
        'menu hshift 4\nmenu width 70\nmenu title Debian GNU/Linux installer menu (BIOS mode)\ninclude stdmenu.cfg\ninclude txt.cfg\n',
      ),
      'isolinux/stdmenu.cfg': text('menu background splash.png\nmenu color title\t* #FFFFFFFF *\nmenu tabmsgrow 18\n'),
      'isolinux/txt.cfg': text(
        `label install\n\tmenu label ^Install\n\tkernel /install.amd/vmlinuz\n\tappend initrd=/install.amd/initrd.gz ${params}\n` +
          `label expert\n\tmenu label ^Expert install\n\tkernel /install.amd/vmlinuz\n\tappend priority=low initrd=/install.amd/initrd.gz ${params}\n`,
      ),
      'boot/grub/grub.cfg': text(
        grubCfg({
          header: 'Debian-like grub.cfg in the ISO tree',
          linux: 'linux',
          initrd: 'initrd',
          kernel: '/install.amd/vmlinuz',
          initrdPath: '/install.amd/initrd.gz',
          parameters,
        }),
      ),
      'EFI/boot/bootx64.efi': { kind: 'grub', grub: efi },
      'EFI/debian/grub.cfg': text(stub),
      'boot/grub/efi.img': { kind: 'fat', files: { 'EFI/BOOT/BOOTX64.EFI': { kind: 'grub', grub: efi }, 'EFI/debian/grub.cfg': text(stub) } },
    },
    mkisofsArgs: ['-r', '-J', '-joliet-long', ...elToritoArgs({ isohybridMbr: ISOHDPFX, efiImage: 'boot/grub/efi.img' })],
  };
}

function rhel(): LayoutRecipe {
  const parameters = ['inst.stage2=hd:LABEL=ISOPROXY_RHEL', ...BASELINE_PARAMETERS];
  const params = parameters.join(' ');
  // RHEL's grub.cfg finds the ISO by volume label, then boots with linuxefi; the same file is in
  // efiboot.img and in the tree, and GRUB (prefix /EFI/BOOT) reads whichever its device holds.
  const cfg = grubCfg({
    header: 'RHEL-like EFI/BOOT/grub.cfg (same bytes in images/efiboot.img and in the tree)',
    search: "search --no-floppy --set=root -l 'ISOPROXY_RHEL'",
    linux: 'linuxefi',
    initrd: 'initrdefi',
    kernel: '/images/pxeboot/vmlinuz',
    initrdPath: '/images/pxeboot/initrd.img',
    parameters,
  });
  const efi: GrubImage = { format: 'x86_64-efi', prefix: '/EFI/BOOT' };
  return {
    name: 'rhel',
    description:
      'RHEL-like: isolinux, hybrid MBR + GPT, El Torito images/efiboot.img holding the full EFI/BOOT/grub.cfg (linuxefi), same grub.cfg in the tree',
    volumeId: 'ISOPROXY_RHEL',
    parameters,
    bootConfigs: ['isolinux/isolinux.cfg', 'EFI/BOOT/grub.cfg', 'images/efiboot.img:EFI/BOOT/grub.cfg'],
    tree: {
      [marker('rhel')]: text('isoproxy RHEL-like boot fixture\n'),
      'images/pxeboot/vmlinuz': KERNEL,
      'images/pxeboot/initrd.img': INITRD,
      'isolinux/isolinux.bin': file(ISOLINUX_BIN),
      'isolinux/ldlinux.c32': file(LDLINUX),
      'isolinux/isolinux.cfg': text(
        `default linux\nprompt 0\ntimeout 0\n\nlabel linux\n  menu label ^Install\n  kernel /images/pxeboot/vmlinuz\n  append initrd=/images/pxeboot/initrd.img ${params}\n\n` +
          `label check\n  menu label Test this ^media & install\n  kernel /images/pxeboot/vmlinuz\n  append initrd=/images/pxeboot/initrd.img ${params} rd.live.check\n`,
      ),
      'EFI/BOOT/BOOTX64.EFI': { kind: 'grub', grub: efi },
      'EFI/BOOT/grub.cfg': text(cfg),
      'images/efiboot.img': { kind: 'fat', files: { 'EFI/BOOT/BOOTX64.EFI': { kind: 'grub', grub: efi }, 'EFI/BOOT/grub.cfg': text(cfg) } },
    },
    mkisofsArgs: ['-R', '-J', ...elToritoArgs({ isohybridMbr: ISOHDPFX, efiImage: 'images/efiboot.img' })],
  };
}

function appendedEsp(): LayoutRecipe {
  const parameters = ['boot=casper', ...BASELINE_PARAMETERS];
  const cfg = grubCfg({
    header: 'Ubuntu-style grub.cfg (same bytes in the appended ESP and in the tree)',
    search: `search --no-floppy --file --set=root /${marker('appended-esp')}`,
    linux: 'linux',
    initrd: 'initrd',
    kernel: '/casper/vmlinuz',
    initrdPath: '/casper/initrd',
    parameters,
  });
  const efi: GrubImage = { format: 'x86_64-efi', prefix: '/EFI/BOOT' };
  // BIOS: GRUB's El Torito core (as Ubuntu), which finds the ISO by its marker file and reads
  // the tree's /boot/grub/grub.cfg; from a disk it is reached through boot_hybrid.img in the MBR.
  const bios: GrubImage = {
    format: 'i386-pc-eltorito',
    prefix: '/boot/grub',
    earlyConfig: `search --no-floppy --file --set=root /${marker('appended-esp')}\nset prefix=($root)/boot/grub\n`,
  };
  return {
    name: 'appended-esp',
    description:
      'Ubuntu-style: GRUB El Torito for BIOS with boot_hybrid.img MBR, EFI FAT image appended as GPT partition 2 and referenced by El Torito, grub.cfg with kernel lines in the ESP and in the tree',
    volumeId: 'ISOPROXY_UBUNTU',
    parameters,
    bootConfigs: ['boot/grub/grub.cfg', 'EFI/BOOT/grub.cfg', 'esp.img:EFI/BOOT/grub.cfg'],
    tree: {
      [marker('appended-esp')]: text('isoproxy Ubuntu-style boot fixture\n'),
      'casper/vmlinuz': KERNEL,
      'casper/initrd': INITRD,
      'boot/grub/i386-pc/eltorito.img': { kind: 'grub', grub: bios },
      'boot/grub/grub.cfg': text(cfg),
      'EFI/BOOT/BOOTX64.EFI': { kind: 'grub', grub: efi },
      'EFI/BOOT/grub.cfg': text(cfg),
    },
    appendedEsp: { 'EFI/BOOT/BOOTX64.EFI': { kind: 'grub', grub: efi }, 'EFI/BOOT/grub.cfg': text(cfg) },
    mkisofsArgs: [
      '-r',
      '-J',
      '-joliet-long',
      '--grub2-mbr',
      BOOT_HYBRID,
      '-partition_offset',
      '16',
      '--mbr-force-bootable',
      '-append_partition',
      '2',
      '0xef',
      'ESP_IMAGE',
      '-appended_part_as_gpt',
      '-c',
      'boot.catalog',
      '-b',
      'boot/grub/i386-pc/eltorito.img',
      '-no-emul-boot',
      '-boot-load-size',
      '4',
      '-boot-info-table',
      '--grub2-boot-info',
      '-eltorito-alt-boot',
      '-e',
      '--interval:appended_partition_2:all::',
      '-no-emul-boot',
    ],
  };
}

function mkrescue(): LayoutRecipe {
  const parameters = BASELINE_PARAMETERS;
  return {
    name: 'mkrescue',
    description: 'grub-mkrescue: GRUB for BIOS (El Torito + boot_hybrid MBR) and UEFI (efi.img, GPT partition), /boot/grub/grub.cfg in the tree',
    volumeId: 'ISOPROXY_RESCUE',
    parameters,
    bootConfigs: ['boot/grub/grub.cfg'],
    mkrescue: true,
    tree: {
      [marker('mkrescue')]: text('isoproxy grub-mkrescue boot fixture\n'),
      'boot/vmlinuz': KERNEL,
      'boot/initrd.gz': INITRD,
      'boot/grub/grub.cfg': text(
        grubCfg({
          header: 'grub-mkrescue grub.cfg',
          linux: 'linux',
          initrd: 'initrd',
          kernel: '/boot/vmlinuz',
          initrdPath: '/boot/initrd.gz',
          parameters,
        }),
      ),
    },
    mkisofsArgs: [],
  };
}

function zeroSlack(): LayoutRecipe {
  const parameters = BASELINE_PARAMETERS;
  const params = parameters.join(' ');
  // UEFI: a GRUB whose embedded config finds the ISO and points normal mode at the tree's
  // grub.cfg, so the only grub.cfg with kernel lines is the padded one in the tree.
  const efi: GrubImage = {
    format: 'x86_64-efi',
    prefix: '/boot/grub',
    earlyConfig: `search --no-floppy --file --set=root /${marker('zero-slack')}\nset prefix=($root)/boot/grub\n`,
  };
  return {
    name: 'zero-slack',
    description:
      'Zero slack: isolinux.cfg and grub.cfg padded with comments to end exactly on a 2048-byte boundary; hybrid MBR + GPT; EFI GRUB with an embedded search config',
    volumeId: 'ISOPROXY_ZEROSLACK',
    parameters,
    bootConfigs: ['isolinux/isolinux.cfg', 'boot/grub/grub.cfg'],
    tree: {
      [marker('zero-slack')]: text('isoproxy zero-slack boot fixture\n'),
      'boot/vmlinuz': KERNEL,
      'boot/initrd.gz': INITRD,
      'isolinux/isolinux.bin': file(ISOLINUX_BIN),
      'isolinux/ldlinux.c32': file(LDLINUX),
      'isolinux/isolinux.cfg': text(
        padToSector(
          `# zero-slack isolinux.cfg: ends exactly on a sector boundary\ndefault linux\nprompt 0\ntimeout 0\nlabel linux\n  kernel /boot/vmlinuz\n  append initrd=/boot/initrd.gz ${params}\n`,
        ),
      ),
      'boot/grub/grub.cfg': text(
        padToSector(
          grubCfg({
            header: 'zero-slack grub.cfg: ends exactly on a sector boundary',
            linux: 'linux',
            initrd: 'initrd',
            kernel: '/boot/vmlinuz',
            initrdPath: '/boot/initrd.gz',
            parameters,
          }),
        ),
      ),
      'boot/grub/efi.img': { kind: 'fat', files: { 'EFI/BOOT/BOOTX64.EFI': { kind: 'grub', grub: efi } } },
    },
    mkisofsArgs: ['-r', '-J', ...elToritoArgs({ isohybridMbr: ISOHDPFX, efiImage: 'boot/grub/efi.img' })],
  };
}

export function layoutRecipes(): readonly LayoutRecipe[] {
  return [debian(), rhel(), appendedEsp(), mkrescue(), zeroSlack()];
}
