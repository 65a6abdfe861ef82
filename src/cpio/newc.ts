// A writer of cpio "newc" archives (SVR4 portable format without checksums), the format the
// Linux kernel unpacks into the initramfs: init/initramfs.c, and the grammar in
// Documentation/driver-api/early-userspace/buffer-format.rst. Deterministic by construction:
// the caller's order is kept, mtime and uid/gid are fixed, inode numbers are positional, and
// nothing reads the clock or the host.
//
// Each member is a 110-byte ASCII header ("070701" and 13 fields of 8 hex digits), the name with
// its NUL padded to a multiple of 4 counting from the header's start, then the data padded to a
// multiple of 4. The archive ends with the member "TRAILER!!!" and is padded to 4 bytes: the
// kernel only recognizes a header at a 4-byte-aligned offset (`!(this_header & 3)`).

/** newc magic: c_magic of buffer-format.rst. */
export const NEWC_MAGIC = '070701';
export const NEWC_HEADER_BYTES = 110;
export const NEWC_TRAILER = 'TRAILER!!!';

/** st_mode file-type bits (linux/stat.h). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;

export interface NewcEntry {
  /** Path inside the archive, without a leading '/' (as the kernel and cpio(1) expect). */
  readonly name: string;
  /** st_mode: type bits and permissions. */
  readonly mode: number;
  readonly data?: Uint8Array;
}

/** What every member shares: fixed so the same entries give the same bytes on any machine. */
const FIXED_MTIME = 0;
const FIXED_UID = 0;
const FIXED_GID = 0;
/**
 * First inode number. Inodes only matter to the kernel for hard links (files with nlink >= 2,
 * whose table is cleared at each TRAILER!!!); every member here has nlink 1 or is a directory,
 * so numbers only need to be distinct within the archive.
 */
const FIRST_INODE = 1;

function hex8(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio header field ${n} does not fit 8 hex digits`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

const utf8 = new TextEncoder();

/** Bytes of the archive `writeNewc(entries)` would produce, without building it. */
export function newcSize(entries: readonly NewcEntry[]): number {
  let n = 0;
  for (const e of [...entries, { name: NEWC_TRAILER, mode: 0 }]) {
    const nameBytes = utf8.encode(e.name).length + 1;
    const data = 'data' in e && e.data ? e.data.length : 0;
    n += NEWC_HEADER_BYTES + nameBytes + pad4(NEWC_HEADER_BYTES + nameBytes) + data + pad4(data);
  }
  return n;
}

/** One newc archive of `entries` in the order given, ended by TRAILER!!!. */
export function writeNewc(entries: readonly NewcEntry[]): Uint8Array {
  const out = new Uint8Array(newcSize(entries));
  let at = 0;
  const put = (bytes: Uint8Array): void => {
    out.set(bytes, at);
    at += bytes.length;
  };
  const all: NewcEntry[] = [...entries, { name: NEWC_TRAILER, mode: 0 }];
  all.forEach((e, i) => {
    const trailer = i === all.length - 1;
    const data = e.data ?? new Uint8Array(0);
    const name = utf8.encode(e.name);
    if (name.includes(0)) throw new RangeError(`cpio member name ${JSON.stringify(e.name)} contains NUL`);
    const isDir = (e.mode & S_IFMT) === S_IFDIR;
    if (isDir && data.length > 0) throw new RangeError(`cpio directory ${JSON.stringify(e.name)} cannot carry data`);
    const header =
      NEWC_MAGIC +
      hex8(trailer ? 0 : FIRST_INODE + i) + // c_ino
      hex8(e.mode) + // c_mode
      hex8(FIXED_UID) + // c_uid
      hex8(FIXED_GID) + // c_gid
      hex8(trailer ? 1 : isDir ? 2 : 1) + // c_nlink
      hex8(FIXED_MTIME) + // c_mtime
      hex8(data.length) + // c_filesize
      hex8(0) + // c_maj: device the file lived on
      hex8(0) + // c_min
      hex8(0) + // c_rmaj: only for device nodes, which are never written
      hex8(0) + // c_rmin
      hex8(name.length + 1) + // c_namesize, NUL included
      hex8(0); // c_chksum: zero in newc (only the "070702" crc format fills it)
    put(utf8.encode(header));
    put(name);
    at += 1 + pad4(NEWC_HEADER_BYTES + name.length + 1); // the NUL and the padding: already zero
    put(data);
    at += pad4(data.length);
  });
  if (at !== out.length) throw new Error(`internal: cpio writer wrote ${at} of ${out.length} bytes`);
  return out;
}
