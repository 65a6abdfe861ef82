// A node's files in the booted system: a newc archive of them (src/cpio) appended to every initrd
// a kernel line loads, without copying the initrd. The Linux kernel unpacks the initramfs buffer
// as a sequence of archives, compressed or not, each later one overriding files of the earlier
// ones (Documentation/driver-api/early-userspace/buffer-format.rst: `initramfs := ("\0" * 4 |
// cpio_archive | cpio_compressed_archive)*`; init/initramfs.c unpack_to_rootfs). So the edited
// initrd is the original file's bytes, zeros up to a 4-byte boundary (an uncompressed archive is
// only recognized at an offset that is a multiple of 4 from the buffer's start, and zeros between
// members are skipped), then the archive:
//
//   new extent (in the appended tail, sector aligned)
//   [ base copy of the original extent (size bytes) | 0-3 zeros + archive (overlay) | zeros to the sector ]
//
// Every directory record of every tree that describes the initrd (ISO 9660, Joliet, ISO 9660:1999;
// Rock Ridge lives in the ISO 9660 records) gets the new extent and size; the volume space grows
// over the tail, which ends with 300 KiB of zeros (compute.ts: GRUB for BIOS booted from a CD
// misread an initrd whose data reached the medium's last sectors); the old sectors stay as they are. The patch set carries the archive and a few
// record bytes; the initrd's bytes are served from the base, whatever its size.
//
// Why this and not the alternative (the archive as a new file of the tree, added as a second
// initrd on every kernel line: grub `initrd a b`, syslinux `initrd=a,b`): a new file needs a new
// directory record in every tree, and directories have no guaranteed room for one (a full
// directory would have to be relocated with its parent's record and every path table); it
// changes kernel lines that edits otherwise never touch (`initrd` is the bootloader's), in grub
// `initrd` commands the kernel-line editor does not rewrite, and it grows lines syslinux caps at
// 4094 bytes. Appending changes only records that exist and bytes past the end of the image, and
// boots the same way through every bootloader that reads the file through its directory record:
// isolinux (BIOS CD and isohybrid disk), GRUB for BIOS and UEFI from a CD, a disk or an appended
// ESP's search — every layout of test/boot boots with the files (boot.test.ts).
//
// Limits and real-world caveats:
// - An initrd that lives only inside a FAT image (systemd-boot entries on an ESP) is refused
//   (INITRD_IN_FAT): growing a FAT file means new clusters in a FAT image that is usually full.
// - Kernel lines that load no initrd at all cannot receive files; no initrd anywhere is NO_INITRD.
// - An initrd compressed with the legacy lz4 format cannot be followed by another archive: the
//   kernel's lz4 reader cannot find the end of the stream (init/initramfs.c reports "junk").
//   gzip, xz, zstd, bzip2, lzma and uncompressed archives end where they say.
// - A checksum file that lists an initrd (Debian's md5sum.txt) keeps its old digest: the new one
//   needs every byte of the initrd, which the patch set never reads. Reported as a warning.

import { filesArchive } from '../cpio/index.js';
import type { NormalizedFile } from '../bootconfig/index.js';
import { RemasterError } from '../errors.js';
import { SECTOR_SIZE } from '../iso9660/types.js';
import type { BaseCopy, Overlay } from '../overlay/patch-set.js';
import type { BaseContext } from './base-context.js';

/** ECMA-119 9.1.4: a data length is 32 bits; a bigger initrd would need several extents. */
const MAX_EXTENT_BYTES = 0xffffffff;
/** Most bytes a node's files add to the image in all, one archive per initrd loaded. */
export const MAX_APPENDED_BYTES = 64 * 1024 * 1024;

export interface InitrdChange {
  readonly path: string;
  readonly oldSize: number;
  readonly newSize: number;
  /** LBA of the new extent in the tail. */
  readonly lba: number;
  /** Who loads it (config and line). */
  readonly loadedBy: readonly string[];
}

export interface InitrdPlan {
  readonly overlays: readonly Overlay[];
  readonly copies: readonly BaseCopy[];
  /** Directory records to point at the new extents: record offset, LBA, size. */
  readonly records: ReadonlyArray<{ readonly recordOffset: number; readonly lba: number; readonly size: number }>;
  readonly tailEnd: number;
  readonly changes: readonly InitrdChange[];
  /** The archive appended to each initrd. */
  readonly archiveBytes: number;
  readonly warnings: readonly string[];
}

/**
 * Places every initrd the kernel lines load, with the files' archive appended, in the tail from
 * `tailEnd` (sector aligned), in path order. Throws RemasterError NO_INITRD, INITRD_IN_FAT,
 * MULTI_EXTENT_INITRD, INITRD_TOO_LARGE or APPEND_TOO_LARGE.
 */
export function planInitrdAppends(ctx: BaseContext, files: readonly NormalizedFile[], tailEnd: number, who: string): InitrdPlan {
  const initrds = ctx.initrds ?? [];
  const problems = ctx.initrdProblems ?? [];
  const warnings: string[] = [];
  const inFat = problems.filter((p) => p.problem === 'in-fat');
  if (inFat.length > 0) {
    const p = inFat[0]!;
    throw new RemasterError(
      'INITRD_IN_FAT',
      `${who}: ${p.ref.target} (loaded by ${p.where}:${p.ref.config} line ${p.ref.line}) lives only inside the FAT image ${p.fatLabel}; files can be added only to initrds of the ISO tree${inFat.length > 1 ? ` (and ${inFat.length - 1} more like it)` : ''}`,
    );
  }
  for (const p of problems) {
    if (p.problem === 'not-found')
      warnings.push(`${p.where}:${p.ref.config} line ${p.ref.line} loads ${p.ref.target}, which is not in the image; that entry gets no files`);
  }
  if (initrds.length === 0) {
    throw new RemasterError(
      'NO_INITRD',
      `${who}: no kernel line of this image loads an initrd from the ISO tree, so there is nowhere to add files${problems.length > 0 ? ` (${problems.length} initrd reference(s) did not resolve)` : ''}`,
    );
  }

  const archive = filesArchive(files);
  // The archive goes after every initrd a kernel line loads, and each copy is bytes of the node's
  // patch set (held while it is served, hashed for its ETag): an image naming hundreds of initrds
  // would make one node's files gigabytes.
  if (archive.length * initrds.length > MAX_APPENDED_BYTES) {
    throw new RemasterError(
      'APPEND_TOO_LARGE',
      `${who}: the files' archive of ${archive.length} bytes goes after each of ${initrds.length} initrds, ${archive.length * initrds.length} bytes in all, more than ${MAX_APPENDED_BYTES}`,
    );
  }
  // Each initrd's overlay is 0-3 zeros then the archive: views of one array with three zeros in
  // front, not a copy per initrd (an archive may be 4 MiB and an image may load hundreds of
  // initrds). Nothing downstream writes to an overlay's bytes.
  const padded = new Uint8Array(3 + archive.length);
  padded.set(archive, 3);
  const overlays: Overlay[] = [];
  const copies: BaseCopy[] = [];
  const records: { recordOffset: number; lba: number; size: number }[] = [];
  const changes: InitrdChange[] = [];
  let end = tailEnd;
  for (const initrd of initrds) {
    if (initrd.extents.length !== 1) {
      throw new RemasterError(
        'MULTI_EXTENT_INITRD',
        `${who}: ${initrd.path} has ${initrd.extents.length} extents; files can be added only to a single-extent initrd`,
      );
    }
    const extent = initrd.extents[0]!;
    const pad = (4 - (initrd.size % 4)) % 4;
    const newSize = initrd.size + pad + archive.length;
    if (newSize > MAX_EXTENT_BYTES) {
      throw new RemasterError(
        'INITRD_TOO_LARGE',
        `${who}: ${initrd.path} would be ${newSize} bytes with the files, more than one extent holds (${MAX_EXTENT_BYTES})`,
      );
    }
    const lba = end / SECTOR_SIZE;
    if (initrd.size > 0) copies.push({ offset: end, baseOffset: extent.lba * SECTOR_SIZE, length: initrd.size });
    overlays.push({ offset: end + initrd.size, data: padded.subarray(3 - pad) });
    for (const r of initrd.records) records.push({ recordOffset: r.offset, lba, size: newSize });
    if (initrd.records.length === 0) warnings.push(`${initrd.path}: no directory record describes it`);
    changes.push({ path: initrd.path, oldSize: initrd.size, newSize, lba, loadedBy: initrd.loadedBy });
    end += Math.ceil(newSize / SECTOR_SIZE) * SECTOR_SIZE;
    for (const listing of initrd.listedIn) {
      warnings.push(`${listing} lists ${initrd.path}; its digest there is the original's (a media check will report it)`);
    }
  }
  return { overlays, copies, records, tailEnd: end, changes, archiveBytes: archive.length, warnings };
}
