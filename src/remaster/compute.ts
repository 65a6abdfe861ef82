// The remaster engine: base context + a node's edits -> the node's patch set. Pure and
// deterministic (no clock, no randomness, sorted iteration): the same base and the same edits
// give byte-identical overlays and digest in any process on any machine.
//
// What it writes (and nothing else):
//  - an edited file that still fits the sectors it has: the bytes that differ, in place, and the
//    data length in every directory record describing it
//    (ISO 9660, Joliet, ISO 9660:1999 trees; ECMA-119 9.1.4 both-endian at record +10);
//  - an edited file that outgrew its sectors: a copy in the appended tail (2048-aligned, after
//    the volume space, every appended partition and the image's end), every record pointed at it
//    (location at record +2, length at +10), and the volume space size (descriptor +80) of the
//    primary, supplementary and enhanced descriptors grown to cover the tail. Old sectors stay;
//  - configs inside FAT images (El Torito EFI images and ESPs) through src/fat's cluster-level
//    writes, as overlays at the image's bytes;
//  - checksum files (md5sum.txt, ...): the lines of edited files, same length, in place;
//  - an implantisomd5 checksum in the primary descriptor's application-use field: blanked with
//    spaces, so checkisomd5 / rd.live.check report "no checksum" instead of failing the media;
//  - a node's files: every initrd the kernel lines load gets a new extent in the tail that reads
//    the original's bytes from the base (a base copy) followed by a newc archive of the files,
//    and every record of it points there (initrd.ts says why and how).
// The El Torito catalog, boot images (isolinux.bin and its boot-info table), partition tables
// and every other byte are left exactly as in the base.

import { editBootConfigs, isEmptyEdits, type NormalizedEdits } from '../bootconfig/index.js';
import { listedWarnings } from '../bootconfig/discover.js';
import type { EditReport } from '../bootconfig/types.js';
import { planFatWrites } from '../fat/index.js';
import { FatNoSpaceError, IsoproxyError, RemasterError } from '../errors.js';
import { equalBytes, writeBoth32 } from '../binary.js';
import { SECTOR_SIZE } from '../iso9660/types.js';
import { buildPatchSet, type Overlay, type PatchSet } from '../overlay/patch-set.js';
import type { BaseContext, ContextFile } from './base-context.js';
import { checksumUpdates, digestOfBytes, type DigestOf } from './checksums.js';
import { createHash } from 'node:crypto';
import { planInitrdAppends, type InitrdChange } from './initrd.js';
import { checkHardLinks } from './hard-links.js';
import type { BaseCopy } from '../overlay/patch-set.js';

/** ECMA-119 9.1.3 location of extent and 9.1.4 data length, both-endian, in a directory record. */
const RECORD_EXTENT_OFFSET = 2;
const RECORD_LENGTH_OFFSET = 10;
/** ECMA-119 8.4.8 volume space size, both-endian, in a volume descriptor. */
const DESCRIPTOR_VOLUME_SPACE_OFFSET = 80;
/** Zeros after the tail: 150 sectors, what mkisofs/xorriso `-pad` adds (see step 5). */
export const TAIL_PADDING_BYTES = 150 * SECTOR_SIZE;

export interface FileChange {
  /** Where the file lives: 'iso' tree or a FAT image's label. */
  readonly where: string;
  readonly path: string;
  readonly oldSize: number;
  readonly newSize: number;
  readonly placement: 'in-place' | 'relocated' | 'fat';
  /** For relocated files: the new extent's LBA. */
  readonly lba?: number;
}

export interface RemasterReport {
  readonly changes: readonly FileChange[];
  /** Per file system ('iso' or a FAT label), what the boot-config editor saw and changed. */
  readonly edits: ReadonlyArray<{ readonly where: string; readonly report: EditReport }>;
  /** Kernel lines found over every file system. */
  readonly kernelLines: number;
  readonly overlayBytes: number;
  readonly tailBytes: number;
  readonly checksumFilesUpdated: readonly string[];
  readonly implantedMd5Removed: boolean;
  /** The node's files (sorted by path) and the initrds they were appended to. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly mode: string; readonly size: number; readonly sha256: string }>;
  readonly initrds: readonly InitrdChange[];
  /** Bytes of the newc archive appended to each initrd (0 without files). */
  readonly archiveBytes: number;
  readonly warnings: readonly string[];
}

export interface RemasterResult {
  readonly patchSet: PatchSet;
  readonly report: RemasterReport;
}

export interface ComputeOptions {
  /** Node name, for error messages. */
  readonly node?: string;
}

/** Texts are latin1 so every byte round-trips (Buffer's native codec: per-node cost matters). */
const encoder = (text: string): Uint8Array => Buffer.from(text, 'latin1');
const decoder = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');

export function computePatchSet(ctx: BaseContext, edits: NormalizedEdits, options: ComputeOptions = {}): RemasterResult {
  const who = options.node ? `node ${options.node}` : 'these edits';
  const overlays: Overlay[] = [];
  const changes: FileChange[] = [];
  const editReports: { where: string; report: EditReport }[] = [];
  const warnings: string[] = [];
  let kernelLines = 0;

  // 1. Boot configs of the ISO tree. Texts are latin1 so every byte round-trips.
  const isoFiles = new Map<string, ContextFile>();
  for (const f of ctx.configs) isoFiles.set(f.path, f);
  const isoReport = editBootConfigs(new Map(ctx.configs.map((f) => [f.path, decoder(f.bytes)])), edits);
  editReports.push({ where: 'iso', report: isoReport });
  /** New contents of ISO-tree files to place, by path: edited configs, then checksum files. */
  const newIsoContents = new Map<string, Uint8Array>();
  /** New digests of every changed file of the tree (configs and FAT images that are files), for checksum files. */
  const digests = new Map<string, DigestOf>();
  for (const c of isoReport.configs) {
    kernelLines += c.kernelLines;
    if (!c.changed) continue;
    const data = encoder(c.text);
    newIsoContents.set(c.path, data);
    digests.set(c.path, digestOfBytes(data));
  }

  // 2. Boot configs inside FAT images.
  for (const fat of ctx.fats) {
    const report = editBootConfigs(new Map(fat.configs.map((c) => [c.path, decoder(c.bytes)])), edits);
    editReports.push({ where: fat.label, report });
    const writes: { path: string; data: Uint8Array }[] = [];
    for (const c of report.configs) {
      kernelLines += c.kernelLines;
      if (!c.changed) continue;
      writes.push({ path: c.path, data: encoder(c.text) });
      const old = fat.configs.find((x) => x.path === c.path);
      changes.push({ where: fat.label, path: c.path, oldSize: old?.bytes.length ?? 0, newSize: c.text.length, placement: 'fat' });
    }
    if (writes.length === 0) continue;
    let planned: readonly Overlay[];
    try {
      planned = planFatWrites(fat.image, writes).overlays;
    } catch (err) {
      if (err instanceof FatNoSpaceError) {
        throw new RemasterError(
          'FAT_NO_SPACE',
          `${who}: the EFI image ${fat.label} has no room for the edited ${err.path} (needs ${err.neededBytes} bytes, ${err.freeBytes} free)`,
          { cause: err },
        );
      }
      throw err;
    }
    for (const o of planned) overlays.push({ offset: fat.offset + o.offset, data: o.data });
    // A FAT image that is also a file of the tree (efi.img) may be listed in a checksum file.
    if (fat.isoPath) digests.set(fat.isoPath, digestWithOverlays(fat.image, planned));
  }

  if (kernelLines === 0 && !isEmptyEdits(edits)) {
    throw new RemasterError(
      'NO_KERNEL_LINES',
      `${who}: no kernel command line found in any boot config of this image (grub, isolinux/syslinux, systemd-boot); nothing to edit`,
    );
  }

  // 3. Checksum files: new digests for the files changed above (same length: always in place).
  // Only the digests' bytes are compared and placed: the rest of a file of thousands of lines is
  // the base's (comparing all of it cost each node about half a millisecond).
  const checksumFilesUpdated: string[] = [];
  /** Where each checksum file may differ from its base bytes, by path. */
  const digestSpans = new Map<string, Span[]>();
  if (digests.size > 0) {
    for (const cf of ctx.checksumFiles) {
      // Only the digests that differ (a file's new digest may be the one listed).
      const spans: Span[] = [];
      let bytes: Uint8Array | undefined;
      for (const r of checksumUpdates(cf, cf.algorithm, digests).replaced) {
        const hex = encoder(r.hex);
        if (equalBytes(hex, cf.bytes.subarray(r.offset, r.offset + hex.length))) continue;
        bytes ??= cf.bytes.slice();
        bytes.set(hex, r.offset);
        spans.push([r.offset, r.offset + hex.length]);
      }
      if (!bytes) continue;
      isoFiles.set(cf.path, cf);
      newIsoContents.set(cf.path, bytes);
      digestSpans.set(cf.path, spans);
      checksumFilesUpdated.push(cf.path);
    }
  }

  // 4. Place every changed ISO-tree file (FAT images were written above, by cluster), in path order.
  if (newIsoContents.size > 0) checkHardLinks([...ctx.configs, ...ctx.checksumFiles], newIsoContents, who);
  let tailEnd = ctx.tailStart;
  for (const path of [...newIsoContents.keys()].sort()) {
    const file = isoFiles.get(path)!;
    const data = newIsoContents.get(path)!;
    if (file.extents.length !== 1) {
      throw new RemasterError('MULTI_EXTENT_CONFIG', `${who}: ${path} is a multi-extent file; boot configs of several extents are not supported`);
    }
    const extent = file.extents[0]!;
    const allocated = Math.ceil(file.size / SECTOR_SIZE) * SECTOR_SIZE;
    let lba = extent.lba;
    if (data.length <= allocated) {
      // Only the bytes that differ: a checksum file of thousands of lines changes a few digests.
      // Past the new data length the sector's bytes are not part of the file; they stay as in the base.
      for (const o of changedRuns(file.bytes, data, digestSpans.get(path)))
        overlays.push({ offset: extent.lba * SECTOR_SIZE + o.offset, data: o.data });
      changes.push({ where: 'iso', path, oldSize: file.size, newSize: data.length, placement: 'in-place' });
    } else {
      lba = tailEnd / SECTOR_SIZE;
      const padded = padTo(data, Math.ceil(data.length / SECTOR_SIZE) * SECTOR_SIZE);
      overlays.push({ offset: tailEnd, data: padded });
      tailEnd += padded.length;
      changes.push({ where: 'iso', path, oldSize: file.size, newSize: data.length, placement: 'relocated', lba });
    }
    if (file.records.length === 0) warnings.push(`${path}: no directory record describes it`);
    for (const r of file.records) overlays.push(recordPatch(r.offset, lba, data.length));
  }

  // 4b. The node's files: appended to every initrd, which moves to the tail as a base copy.
  const files = edits.files ?? [];
  const copies: BaseCopy[] = [];
  let initrds: readonly InitrdChange[] = [];
  let archiveBytes = 0;
  if (files.length > 0) {
    const plan = planInitrdAppends(ctx, files, tailEnd, who);
    overlays.push(...plan.overlays);
    copies.push(...plan.copies);
    for (const r of plan.records) overlays.push(recordPatch(r.recordOffset, r.lba, r.size));
    tailEnd = plan.tailEnd;
    initrds = plan.changes;
    archiveBytes = plan.archiveBytes;
    warnings.push(...plan.warnings);
  }

  // 5. A tail makes the volume larger: every descriptor's volume space size covers it.
  // The tail ends with zero padding, as mkisofs/xorriso `-pad` ends an image: seen with GRUB for
  // BIOS booted from a CD (QEMU ide-cd, SeaBIOS), a file whose data reaches the medium's last
  // sectors reads back wrong, so the initrd moved to the tail failed to unpack. The padding is
  // zeros of the virtual image, not bytes of the patch set.
  const paddedEnd = tailEnd > ctx.tailStart ? tailEnd + (files.length > 0 ? TAIL_PADDING_BYTES : 0) : tailEnd;
  const size = tailEnd > ctx.tailStart ? paddedEnd : ctx.imageSize;
  if (tailEnd > ctx.tailStart) {
    for (const d of ctx.volumeDescriptorOffsets) {
      const field = new Uint8Array(8);
      writeBoth32(field, 0, paddedEnd / SECTOR_SIZE);
      overlays.push({ offset: d + DESCRIPTOR_VOLUME_SPACE_OFFSET, data: field });
    }
  }

  // 6. An implanted media checksum cannot match any more: blank it so media checks skip.
  const implantedMd5Removed = overlays.length > 0 && ctx.implantedMd5 !== undefined;
  if (implantedMd5Removed) overlays.push({ offset: ctx.implantedMd5!.offset, data: new Uint8Array(ctx.implantedMd5!.length).fill(0x20) });

  let patchSet: PatchSet;
  try {
    patchSet = buildPatchSet(ctx.imageSize, size, overlays, copies);
  } catch (err) {
    throw new RemasterError('REMASTER_CONFLICT', `${who}: ${err instanceof IsoproxyError ? err.message : String(err)}`, { cause: err });
  }
  let overlayBytes = 0;
  for (const o of patchSet.overlays) overlayBytes += o.data.length;
  return {
    patchSet,
    report: {
      changes,
      edits: editReports,
      kernelLines,
      overlayBytes,
      tailBytes: size - ctx.imageSize,
      checksumFilesUpdated,
      implantedMd5Removed,
      files: files.map((f) => ({ path: f.path, mode: `0${f.mode.toString(8).padStart(3, '0')}`, size: f.data.length, sha256: f.sha256 })),
      initrds,
      archiveBytes,
      warnings: listedWarnings([...ctx.warnings, ...warnings]),
    },
  };
}

/** The 16 bytes at record+2..+18: location of extent and data length, both-endian. */
function recordPatch(recordOffset: number, lba: number, length: number): Overlay {
  const data = new Uint8Array(16);
  writeBoth32(data, 0, lba);
  writeBoth32(data, RECORD_LENGTH_OFFSET - RECORD_EXTENT_OFFSET, length);
  return { offset: recordOffset + RECORD_EXTENT_OFFSET, data };
}

function padTo(data: Uint8Array, length: number): Uint8Array {
  if (data.length === length) return data;
  const out = new Uint8Array(length);
  out.set(data);
  return out;
}

/** [start, end) of a byte range. */
type Span = readonly [number, number];

/**
 * Runs of `next` that differ from `old` (runs closer than 32 bytes merged), plus any growth.
 * With `within` (sorted, not overlapping), only those ranges are compared: the caller knows the
 * bytes outside them are equal.
 */
export function changedRuns(old: Uint8Array, next: Uint8Array, within?: readonly Span[]): Overlay[] {
  const GAP = 32;
  const out: Overlay[] = [];
  const common = Math.min(old.length, next.length);
  // The open run: [start, end). A difference joins it while fewer than GAP equal bytes lie between.
  let start = -1;
  let end = -1;
  for (const [from, to] of within ?? [[0, common] as const]) {
    for (let i = Math.max(from, 0), stop = Math.min(to, common); i < stop; i++) {
      if (old[i] === next[i]) continue;
      if (start >= 0 && i - end < GAP) {
        end = i + 1;
        continue;
      }
      if (start >= 0) out.push({ offset: start, data: next.subarray(start, end) });
      start = i;
      end = i + 1;
    }
  }
  if (start >= 0) out.push({ offset: start, data: next.subarray(start, end) });
  if (next.length > common) {
    const last = out[out.length - 1];
    if (last && last.offset + last.data.length >= common - GAP) out[out.length - 1] = { offset: last.offset, data: next.subarray(last.offset) };
    else out.push({ offset: common, data: next.subarray(common) });
  }
  return out;
}

/** The digest of `image` with `overlays` applied, streamed (no copy of the image). */
function digestWithOverlays(image: Uint8Array, overlays: readonly Overlay[]): DigestOf {
  const sorted = [...overlays].sort((a, b) => a.offset - b.offset);
  return (algorithm) => {
    const h = createHash(algorithm);
    let at = 0;
    for (const o of sorted) {
      if (o.offset > at) h.update(image.subarray(at, o.offset));
      h.update(o.data);
      at = Math.max(at, o.offset + o.data.length);
    }
    if (at < image.length) h.update(image.subarray(at));
    return h.digest('hex');
  };
}
