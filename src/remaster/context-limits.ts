// Caps on what a base image makes prepareBase read and hold, and on what every node's computation
// then parses again: per file, per file system, and in all. Real images stay far below each.

import { LimitExceededError } from '../errors.js';
import type { DirectoryRecordRef } from '../iso9660/types.js';

/** Largest boot config or checksum file we read (real ones are a few KiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Most candidate files per file system (an ISO tree or a FAT image). */
export const MAX_CANDIDATES = 1000;
/**
 * Most boot-config bytes per file system, counted per path: every path is parsed on its own, in
 * prepareBase and again for every node, and hard links (one extent, any number of names) make
 * many paths cost the image nothing. Real images hold a few dozen KiB of configs.
 */
export const MAX_CONFIG_TOTAL_BYTES = 4 * MAX_CONFIG_BYTES;
/** Largest checksum file we read (a DVD's md5sum.txt is a few hundred KiB). */
export const MAX_CHECKSUM_BYTES = 16 * MAX_CONFIG_BYTES;
/** Most checksum-file bytes, counted per path: each is searched for every node with edits. */
export const MAX_CHECKSUM_TOTAL_BYTES = 2 * MAX_CHECKSUM_BYTES;
/** Largest FAT image read whole (ESP images are a few MiB; RHEL's efiboot.img about 10). */
export const MAX_FAT_BYTES = 128 * 1024 * 1024;
/**
 * FAT images read per base, and their bytes in all: each is held whole for as long as the base
 * is, and an image may point El Torito entries and partitions at as many regions as it likes.
 * Real images have one or two, of a few MiB.
 */
export const MAX_FAT_IMAGES = 16;
export const MAX_FAT_TOTAL_BYTES = 256 * 1024 * 1024;
/** Most file paths kept per FAT image (ESPs hold a few dozen). */
export const MAX_FAT_LISTED = 10_000;

export interface CappedFile {
  readonly size: number;
  readonly records?: readonly DirectoryRecordRef[];
}

/**
 * Throws LimitExceededError when `files` hold more than `cap` bytes in all, at the first record of
 * the file that crosses it (else at `offset`, for a FAT image's files).
 */
export function checkTotal(files: readonly CappedFile[], cap: number, what: string, offset = 0): void {
  let total = 0;
  let crossing: CappedFile | undefined;
  for (const f of files) {
    total += f.size;
    if (total > cap) crossing ??= f;
  }
  if (!crossing) return;
  const at = crossing.records?.[0]?.offset ?? offset;
  throw new LimitExceededError(what, at, `${files.length} files hold ${total} bytes, more than ${cap} (each name of a hard-linked file counts)`);
}
