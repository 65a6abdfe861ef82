// The boot test's initramfs: a cpio "newc" archive (the format the kernel unpacks, see the
// kernel's Documentation/driver-api/early-userspace/buffer-format.rst), gzip-compressed, holding
// busybox-static and an /init that prints /proc/cmdline and the files isoproxy injected on the
// console and powers off.
// Written here rather than with cpio(1) so that the device nodes (/dev/console) need no mknod
// privilege and the bytes do not depend on the clock (mtime 0, fixed inode numbers).

import { gzipSync } from 'node:zlib';

/** The line /init prints; the boot test reads the kernel's command line from it. */
export const CMDLINE_MARKER = 'ISOPROXY-CMDLINE:';
/** Printed after the command line, so a reader knows the line is complete. */
export const END_MARKER = 'ISOPROXY-DONE';

/** Printed once per file /init reports: `ISOPROXY-FILE: <path> <mode> <base64 content>`. */
export const FILE_MARKER = 'ISOPROXY-FILE:';
/**
 * Listed by the boot test's injected manifest; /init reports the files it names. Not in the
 * original initramfs, so a boot without injected files reports only REPLACED_FILE.
 */
export const INJECT_MANIFEST = '/etc/isoproxy/inject.list';
/** A file of the original initramfs that the boot test's injected archive replaces. */
export const REPLACED_FILE = '/etc/isoproxy/replace-me.txt';
export const REPLACED_FILE_ORIGINAL = 'from the original initramfs\n';

/**
 * /init: mount /proc, quiet the kernel's console messages (so they cannot interleave with our
 * line), print the marker and /proc/cmdline, report REPLACED_FILE and each file the injected
 * manifest names (mode in octal and content in base64, on one line each, so the test can compare
 * bytes exactly), power off. `poweroff -f` calls reboot(2) at once; QEMU runs with -no-reboot,
 * so either way the machine stops.
 */
export const INIT_SCRIPT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox dmesg -n 1
read -r cmdline < /proc/cmdline
echo
echo "${CMDLINE_MARKER} $cmdline"
report() {
  if [ -d "$1" ]; then
    echo "${FILE_MARKER} $1 $(/bin/busybox stat -c %a "$1") dir"
  elif [ -f "$1" ]; then
    echo "${FILE_MARKER} $1 $(/bin/busybox stat -c %a "$1") $(/bin/busybox base64 "$1" | /bin/busybox tr -d '\\n')"
  else
    echo "${FILE_MARKER} $1 missing"
  fi
}
report ${REPLACED_FILE}
if [ -f ${INJECT_MANIFEST} ]; then
  while read -r path; do
    [ -n "$path" ] && report "$path"
  done < ${INJECT_MANIFEST}
fi
echo "${END_MARKER}"
/bin/busybox sync
/bin/busybox poweroff -f
`;

interface CpioEntry {
  readonly name: string;
  /** st_mode: file type bits and permissions. */
  readonly mode: number;
  readonly data?: Uint8Array;
  /** For device nodes. */
  readonly rdevMajor?: number;
  readonly rdevMinor?: number;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

/** Header field: 8 ASCII hex digits. */
function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

/** One newc archive: 110-byte header "070701"+13 hex fields, name NUL-padded to 4, data padded to 4. */
function cpioNewc(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  const all = [...entries, { name: 'TRAILER!!!', mode: 0 }];
  all.forEach((e, i) => {
    const data = e.data ?? new Uint8Array(0);
    const name = enc.encode(e.name + '\0');
    const header =
      '070701' +
      hex8(e.name === 'TRAILER!!!' ? 0 : i + 1) + // c_ino
      hex8(e.mode) + // c_mode
      hex8(0) + // c_uid
      hex8(0) + // c_gid
      hex8((e.mode & S_IFDIR) === S_IFDIR ? 2 : 1) + // c_nlink
      hex8(0) + // c_mtime: fixed, for deterministic bytes
      hex8(data.length) + // c_filesize
      hex8(0) + // c_devmajor
      hex8(0) + // c_devminor
      hex8(e.rdevMajor ?? 0) + // c_rdevmajor
      hex8(e.rdevMinor ?? 0) + // c_rdevminor
      hex8(name.length) + // c_namesize, NUL included
      hex8(0); // c_check: unused by newc (only by crc)
    parts.push(enc.encode(header), name, new Uint8Array(pad4(110 + name.length)));
    parts.push(data, new Uint8Array(pad4(data.length)));
  });
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The gzip-compressed initramfs around the given busybox-static binary. */
export function buildInitramfs(busybox: Uint8Array): Uint8Array {
  const cpio = cpioNewc([
    { name: 'bin', mode: S_IFDIR | 0o755 },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: busybox },
    { name: 'dev', mode: S_IFDIR | 0o755 },
    // The kernel opens /dev/console for init's stdin/stdout before running it.
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdevMajor: 5, rdevMinor: 1 },
    { name: 'dev/ttyS0', mode: S_IFCHR | 0o600, rdevMajor: 4, rdevMinor: 64 },
    { name: 'etc', mode: S_IFDIR | 0o755 },
    { name: 'etc/isoproxy', mode: S_IFDIR | 0o755 },
    { name: REPLACED_FILE.slice(1), mode: S_IFREG | 0o644, data: new TextEncoder().encode(REPLACED_FILE_ORIGINAL) },
    { name: 'init', mode: S_IFREG | 0o755, data: new TextEncoder().encode(INIT_SCRIPT) },
    { name: 'proc', mode: S_IFDIR | 0o755 },
  ]);
  return gzipSync(cpio, { level: 9 });
}
