// Realistic boot configs, written here (not copied from images), modelled on the layouts of the
// media they name. Each set is the candidate files of one file system, as the engine hands them.

/** Debian installer (netinst): isolinux.cfg -> menu.cfg -> txt.cfg/gtk.cfg, help via CONFIG; grub with `---`. */
export const debianInstaller = new Map<string, string>([
  [
    '/isolinux/isolinux.cfg',
    '# D-I config version 2.0\n# search path for the c32 support libraries (libcom32, libutil etc.)\npath \ninclude menu.cfg\ndefault vesamenu.c32\nprompt 0\ntimeout 0\n',
  ],
  [
    '/isolinux/menu.cfg',
    "menu hshift 4\nmenu width 70\n\nmenu title Debian GNU/Linux installer menu (BIOS mode)\ninclude stdmenu.cfg\ninclude gtk.cfg\ninclude txt.cfg\nmenu begin advanced\n    menu label ^Advanced options\n\tmenu title Advanced options\n\tinclude stdmenu.cfg\n\tlabel mainmenu\n\t\tmenu label ^Back..\n\t\tmenu exit\n\tinclude adtxt.cfg\nmenu end\nlabel help\n\tmenu label ^Help\n\ttext help\n   Display help screens; type 'menu' at boot prompt to return to this menu\n\tendtext\n\tconfig prompt.cfg\ninclude x86menu.cfg\n",
  ],
  [
    '/isolinux/stdmenu.cfg',
    'menu background splash.png\nmenu color title\t* #FFFFFFFF *\nmenu color sel\t\t* #ffffffff #76a1d0ff *\nmenu tabmsg Press ENTER to boot or TAB to edit a menu entry\n',
  ],
  [
    '/isolinux/gtk.cfg',
    'label installgui\n\tmenu label ^Graphical install\n\tmenu default\n\tkernel /install.amd/vmlinuz\n\tappend vga=788 initrd=/install.amd/gtk/initrd.gz --- quiet \n',
  ],
  [
    '/isolinux/txt.cfg',
    'label install\n\tmenu label ^Install\n\tkernel /install.amd/vmlinuz\n\tappend vga=788 initrd=/install.amd/initrd.gz --- quiet \n',
  ],
  [
    '/isolinux/adtxt.cfg',
    'label expert\n\tmenu label E^xpert install\n\tkernel /install.amd/vmlinuz\n\tappend priority=low vga=788 initrd=/install.amd/initrd.gz --- \ninclude rqtxt.cfg\nlabel auto\n\tmenu label ^Automated install\n\tkernel /install.amd/vmlinuz\n\tappend auto=true priority=critical vga=788 initrd=/install.amd/initrd.gz --- quiet \n',
  ],
  [
    '/isolinux/rqtxt.cfg',
    'label rescue\n\tmenu label ^Rescue mode\n\tkernel /install.amd/vmlinuz\n\tappend vga=788 initrd=/install.amd/initrd.gz rescue/enable=true --- quiet \n',
  ],
  [
    '/isolinux/x86menu.cfg',
    'label hdt\n\tmenu label ^Hardware Detection Tool (HDT)\n\tcom32 hdt.c32\nlabel memtest\n\tmenu label ^Memory diagnostic tool\n\tkernel /install.amd/memtest86+.bin\n',
  ],
  ['/isolinux/prompt.cfg', 'prompt 1\ndisplay f1.txt\ntimeout 0\ninclude menu.cfg\ninclude exithelp.cfg\n\nf1 f1.txt\nf2 f2.txt\n'],
  ['/isolinux/exithelp.cfg', 'label menu\n\tkernel vesamenu.c32\n\tconfig isolinux.cfg\n'],
  [
    '/boot/grub/grub.cfg',
    [
      'if [ x$feature_default_font_path = xy ] ; then',
      '   font=unicode',
      'else',
      '   font=$prefix/font.pf2',
      'fi',
      '',
      'if loadfont $font ; then',
      '  set gfxmode=800x600',
      '  insmod gfxterm',
      'fi',
      'terminal_output gfxterm',
      'insmod png',
      'set theme=/boot/grub/theme/1',
      '',
      "menuentry --hotkey=g 'Graphical install' {",
      '    set background_color=black',
      '    linux    /install.amd/vmlinuz vga=788 --- quiet ',
      '    initrd   /install.amd/gtk/initrd.gz',
      '}',
      "menuentry --hotkey=i 'Install' {",
      '    set background_color=black',
      '    linux    /install.amd/vmlinuz vga=788 --- quiet ',
      '    initrd   /install.amd/initrd.gz',
      '}',
      "submenu --hotkey=a 'Advanced options ...' {",
      "    menuentry '... Graphical expert install' {",
      '        linux    /install.amd/vmlinuz priority=low vga=788 --- ',
      '        initrd   /install.amd/gtk/initrd.gz',
      '    }',
      '}',
      "menuentry 'UEFI Firmware Settings' {",
      '    fwsetup',
      '}',
      '',
    ].join('\n'),
  ],
]);

/** Ubuntu live desktop: grub.cfg and loopback.cfg with `---`, quoting, CRLF-free. */
export const ubuntuLive = new Map<string, string>([
  [
    '/boot/grub/grub.cfg',
    'set timeout=30\n\nloadfont unicode\n\nset menu_color_normal=white/black\nset menu_color_highlight=black/light-gray\n\nmenuentry "Try or Install Ubuntu" {\n\tset gfxpayload=keep\n\tlinux\t/casper/vmlinuz  --- quiet splash\n\tinitrd\t/casper/initrd\n}\nmenuentry "Ubuntu (safe graphics)" {\n\tset gfxpayload=keep\n\tlinux\t/casper/vmlinuz  nomodeset  --- quiet splash\n\tinitrd\t/casper/initrd\n}\ngrub_platform\nif [ "$grub_platform" = "efi" ]; then\nmenuentry \'Boot from next volume\' {\n\texit 1\n}\nmenuentry \'UEFI Firmware Settings\' {\n\tfwsetup\n}\nelse\nmenuentry \'Test memory\' {\n\tlinux16 /boot/memtest86+x64.bin\n}\nfi\n',
  ],
  [
    '/boot/grub/loopback.cfg',
    'menuentry "Try or Install Ubuntu" {\n\tset gfxpayload=keep\n\tlinux\t/casper/vmlinuz  iso-scan/filename=${iso_path} --- quiet splash\n\tinitrd\t/casper/initrd\n}\n',
  ],
]);

/** RHEL 9 DVD: isolinux with vesamenu, memtest and localboot; EFI grub.cfg with linuxefi and submenu. */
export const rhelDvd = new Map<string, string>([
  [
    '/isolinux/isolinux.cfg',
    "default vesamenu.c32\ntimeout 600\n\ndisplay boot.msg\n\n# Clear the screen when exiting the menu, instead of leaving the menu displayed.\nmenu clear\nmenu background splash.png\nmenu title Red Hat Enterprise Linux 9.4\nmenu vshift 8\nmenu rows 18\nmenu margin 8\nmenu helpmsgrow 15\nmenu tabmsgrow 13\n\n# Do not display the actual menu unless the user presses a key.\nmenu hidden\n\nlabel linux\n  menu label ^Install Red Hat Enterprise Linux 9.4\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=RHEL-9-4-0-BaseOS-x86_64 quiet\n\nlabel check\n  menu label Test this ^media & install Red Hat Enterprise Linux 9.4\n  menu default\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=RHEL-9-4-0-BaseOS-x86_64 rd.live.check quiet\n\nmenu separator # insert an empty line\n\nmenu begin ^Troubleshooting\n  menu title Troubleshooting Red Hat Enterprise Linux 9.4\n\nlabel basic\n  menu indent count 5\n  menu label Install using ^text mode\n  text help\n\tTry this option out if you're having trouble installing\n\tRed Hat Enterprise Linux 9.4.\n  endtext\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=RHEL-9-4-0-BaseOS-x86_64 inst.text quiet\n\nlabel rescue\n  menu indent count 5\n  menu label ^Rescue a Red Hat Enterprise Linux system\n  kernel vmlinuz\n  append initrd=initrd.img inst.stage2=hd:LABEL=RHEL-9-4-0-BaseOS-x86_64 inst.rescue quiet\n\nlabel memtest\n  menu label Run a ^memory test\n  text help\n\tIf your system is having issues, a problem with your\n\tsystem's memory may be the cause. Use this utility to\n\tsee if the memory is working correctly.\n  endtext\n  kernel memtest\n\nmenu separator # insert an empty line\n\nlabel local\n  menu label Boot from ^local drive\n  localboot 0xffff\n\nmenu separator # insert an empty line\nmenu separator # insert an empty line\n\nlabel returntomain\n  menu label Return to ^main menu\n  menu exit\n\nmenu end\n",
  ],
  [
    '/EFI/BOOT/grub.cfg',
    "set default=\"1\"\n\nfunction load_video {\n  insmod all_video\n}\n\nload_video\nset gfxpayload=keep\ninsmod gzio\ninsmod part_gpt\ninsmod ext2\n\nset timeout=60\n### END /etc/grub.d/00_header ###\n\nsearch --no-floppy --set=root -l 'RHEL-9-4-0-BaseOS-x86_64'\n\n### BEGIN /etc/grub.d/10_linux ###\nmenuentry 'Install Red Hat Enterprise Linux 9.4' --class fedora --class gnu-linux --class gnu --class os {\n\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=RHEL-9-4-0-BaseOS-x86_64 quiet\n\tinitrdefi /images/pxeboot/initrd.img\n}\nmenuentry 'Test this media & install Red Hat Enterprise Linux 9.4' --class fedora --class gnu-linux --class gnu --class os {\n\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=RHEL-9-4-0-BaseOS-x86_64 rd.live.check quiet\n\tinitrdefi /images/pxeboot/initrd.img\n}\nsubmenu 'Troubleshooting -->' {\n\tmenuentry 'Install Red Hat Enterprise Linux 9.4 in text mode' --class fedora --class gnu-linux --class gnu --class os {\n\t\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=RHEL-9-4-0-BaseOS-x86_64 inst.text quiet\n\t\tinitrdefi /images/pxeboot/initrd.img\n\t}\n\tmenuentry 'Rescue a Red Hat Enterprise Linux system' --class fedora --class gnu-linux --class gnu --class os {\n\t\tlinuxefi /images/pxeboot/vmlinuz inst.stage2=hd:LABEL=RHEL-9-4-0-BaseOS-x86_64 inst.rescue quiet\n\t\tinitrdefi /images/pxeboot/initrd.img\n\t}\n}\n",
  ],
]);

/** Arch Linux: systemd-boot entries (in the EFI image) plus syslinux with archiso_*.cfg includes. */
export const archEntries = new Map<string, string>([
  ['/loader/loader.conf', 'timeout 15\ndefault 01-archiso-x86_64-linux.conf\nbeep on\n'],
  [
    '/loader/entries/01-archiso-x86_64-linux.conf',
    'title    Arch Linux install medium (x86_64, UEFI)\nsort-key 01\nlinux    /arch/boot/x86_64/vmlinuz-linux\ninitrd   /arch/boot/x86_64/initramfs-linux.img\noptions  archisobasedir=arch archisosearchuuid=2024-05-01-10-19-53-00\n',
  ],
  [
    '/loader/entries/02-archiso-x86_64-speech-linux.conf',
    'title    Arch Linux install medium (x86_64, UEFI) with speech\nsort-key 02\nlinux    /arch/boot/x86_64/vmlinuz-linux\ninitrd   /arch/boot/x86_64/initramfs-linux.img\noptions  archisobasedir=arch archisosearchuuid=2024-05-01-10-19-53-00 accessibility=on\n',
  ],
  ['/loader/entries/03-shell.conf', 'title  UEFI Shell\nefi    /shellx64.efi\n'],
]);

export const archSyslinux = new Map<string, string>([
  [
    '/boot/syslinux/syslinux.cfg',
    'DEFAULT select\n\nLABEL select\nCOM32 boot/syslinux/whichsys.c32\nAPPEND -pxe- pxe -sys- sys -iso- sys\n\nLABEL pxe\nCONFIG boot/syslinux/archiso_pxe.cfg\n\nLABEL sys\nCONFIG boot/syslinux/archiso_sys.cfg\n',
  ],
  [
    '/boot/syslinux/archiso_sys.cfg',
    'INCLUDE boot/syslinux/archiso_head.cfg\n\nDEFAULT arch64\nTIMEOUT 150\n\nINCLUDE boot/syslinux/archiso_sys-linux.cfg\n\nINCLUDE boot/syslinux/archiso_tail.cfg\n',
  ],
  ['/boot/syslinux/archiso_head.cfg', 'SERIAL 0 115200\nUI vesamenu.c32\nMENU TITLE Arch Linux\nMENU BACKGROUND splash.png\n'],
  [
    '/boot/syslinux/archiso_sys-linux.cfg',
    'LABEL arch64_nbd\nTEXT HELP\nBoot the Arch Linux install medium using NBD.\nENDTEXT\nMENU LABEL Arch Linux install medium (x86_64, BIOS)\nLINUX /arch/boot/x86_64/vmlinuz-linux\nINITRD /arch/boot/x86_64/initramfs-linux.img\nAPPEND archisobasedir=arch archisosearchuuid=2024-05-01-10-19-53-00\n\nLABEL arch64speech\nMENU LABEL Arch Linux install medium (x86_64, BIOS) with ^speech\nLINUX /arch/boot/x86_64/vmlinuz-linux\nINITRD /arch/boot/x86_64/initramfs-linux.img\nAPPEND archisobasedir=arch archisosearchuuid=2024-05-01-10-19-53-00 accessibility=on\n',
  ],
  [
    '/boot/syslinux/archiso_tail.cfg',
    'LABEL existing\nTEXT HELP\nBoot an existing operating system.\nENDTEXT\nMENU LABEL Boot existing OS\nCOM32 boot/syslinux/chain.c32\nAPPEND hd0 0\n\nLABEL hdt\nMENU LABEL Hardware Information (HDT)\nCOM32 boot/syslinux/hdt.c32\nAPPEND modules_alias=boot/syslinux/hdt/modalias.gz pciids=boot/syslinux/hdt/pciids.gz\n\nLABEL reboot\nMENU LABEL Reboot\nCOM32 boot/syslinux/reboot.c32\n\nLABEL poweroff\nMENU LABEL Power Off\nCOM32 boot/syslinux/poweroff.c32\n',
  ],
]);

/** OpenStack Ironic agent ISO (ironic/common/images.py templates): isolinux append and one grub menuentry. */
export const ironicAgent = new Map<string, string>([
  [
    '/isolinux/isolinux.cfg',
    'default boot\n\nlabel boot\nkernel /vmlinuz\nappend initrd=/initrd text nofb nomodeset vga=normal ipa-insecure=1 ipa-debug=1\n',
  ],
  [
    '/EFI/BOOT/grub.cfg',
    'set default=0\nset timeout=5\nset hidden_timeout_quiet=false\n\nmenuentry "boot_partition" {\nlinuxefi /vmlinuz text nofb nomodeset vga=normal ipa-insecure=1 ipa-debug=1\ninitrdefi /initrd\n}\n',
  ],
]);

/** A utility menu: everything here runs something other than Linux and must stay untouched. */
export const utilityMenu = new Map<string, string>([
  [
    '/syslinux/syslinux.cfg',
    'UI menu.c32\nAPPEND quiet\nLABEL hdt\n  COM32 hdt.c32\nLABEL chain\n  KERNEL chain.c32\n  APPEND hd0 1\nLABEL local\n  LOCALBOOT 0\nLABEL memdisk\n  LINUX memdisk\n  INITRD /images/fd.img\n  APPEND floppy\nLABEL pxe\n  KERNEL pxelinux.0\nLABEL other\n  CONFIG /other/isolinux.cfg\nLABEL bootsector\n  BOOT /bootsect.bin\n',
  ],
]);
