// The report of `isoproxy inspect`: what an index and a few small reads say about an image, as
// data (for --json) and as text. Problems come in two grades: warnings (odd but servable) and
// errors (typed, with a code and the byte offset of the structure at fault), which mean the
// engine cannot serve the image as it is, e.g. a truncated download whose boot configs or EFI
// image lie past its end.

import type { ByteSource } from '../../byte-source.js';
import { IsoFormatError } from '../../errors.js';
import { SECTOR_SIZE, type IsoIndex } from '../../iso9660/types.js';
import { scanEfiImages, scanIsoConfigs, type BootConfigInfo, type EfiImageConfigInfo } from './boot-configs.js';
import { formatFiles, listFiles, type FileListing } from './files.js';

/** An error as the report carries it (plain data, so JSON keeps the code and the offset). */
export interface InspectError {
  /** The error's stable code, e.g. 'ISO_FORMAT'. */
  readonly code: string;
  /** The structure at fault, e.g. 'file extent', 'El Torito boot entry'. */
  readonly structure: string;
  /** Absolute byte offset of that structure in the image. */
  readonly offset: number;
  readonly message: string;
  /** The file concerned, when there is one. */
  readonly path?: string;
}

export interface InspectReport {
  readonly image: string;
  readonly imageSize: number;
  readonly volumeId: string;
  readonly volumeSpaceSize: number;
  readonly trees: IsoIndex['trees'];
  readonly boot: NonNullable<IsoIndex['elTorito']>['entries'];
  readonly partitions: IsoIndex['partitions'];
  readonly bootConfigs: BootConfigInfo[];
  readonly efiImageConfigs: EfiImageConfigInfo[];
  readonly fileCount: number;
  readonly directoryCount: number;
  readonly bytesRead: number;
  readonly warnings: readonly string[];
  readonly errors: readonly InspectError[];
  /** Every file, with --files. */
  readonly files?: readonly FileListing[];
}

/** ECMA-119 8.4.8: volume space size, both-endian 32-bit at byte 80 of the primary descriptor. */
const VOLUME_SPACE_SIZE_OFFSET = 80;

/** Structures of the image that point past its end, other than boot configs and EFI images. */
function truncationErrors(index: IsoIndex): IsoFormatError[] {
  const errors: IsoFormatError[] = [];
  const primary = index.descriptors.find((d) => d.kind === 'primary');
  const volumeBytes = index.volumeSpaceSize * SECTOR_SIZE;
  if (primary && volumeBytes > index.imageSize) {
    const msg = `volume space is ${index.volumeSpaceSize} blocks (${volumeBytes} bytes), larger than the image (${index.imageSize} bytes): truncated image?`;
    errors.push(new IsoFormatError('primary volume descriptor', primary.offset + VOLUME_SPACE_SIZE_OFFSET, msg));
  }
  // EFI entries are checked with the FAT images (scanEfiImages), so each is reported once.
  for (const e of index.elTorito?.entries ?? []) {
    const end = e.loadRba * SECTOR_SIZE + e.sizeBytes;
    if (e.platform === 'efi' || end <= index.imageSize) continue;
    const msg = `${e.platform} boot image ${e.path ?? `at LBA ${e.loadRba}`} ends at byte ${end}, past the image end ${index.imageSize} (truncated image?)`;
    errors.push(new IsoFormatError('El Torito boot entry', e.entryOffset, msg));
  }
  return errors;
}

function toInspectError(err: IsoFormatError): InspectError {
  const path = (err as IsoFormatError & { path?: unknown }).path;
  return { code: err.code, structure: err.structure, offset: err.offset, message: err.message, ...(typeof path === 'string' ? { path } : {}) };
}

export async function report(image: string, index: IsoIndex, source: ByteSource, options: { files?: boolean } = {}): Promise<InspectReport> {
  const iso = await scanIsoConfigs(source, index);
  const efi = await scanEfiImages(source, index);
  const errors = [...truncationErrors(index), ...iso.errors, ...efi.errors].sort((a, b) => a.offset - b.offset).map(toInspectError);
  return {
    image,
    imageSize: index.imageSize,
    volumeId: index.volumeId,
    volumeSpaceSize: index.volumeSpaceSize,
    trees: index.trees,
    boot: index.elTorito?.entries ?? [],
    partitions: index.partitions,
    bootConfigs: iso.configs,
    efiImageConfigs: efi.configs,
    fileCount: index.files.length,
    directoryCount: index.directories.length,
    bytesRead: index.bytesRead,
    warnings: [...index.warnings, ...iso.warnings, ...efi.warnings],
    errors,
    ...(options.files ? { files: listFiles(index) } : {}),
  };
}

const SIZE_FROM: Record<string, string> = {
  'directory-record': 'directory record',
  'fat-boot-sector': 'FAT boot sector',
  catalog: 'catalog sector count',
};

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

export function formatReport(r: InspectReport, index: IsoIndex): string {
  const lines: string[] = [];
  lines.push(`Image:       ${r.image} (${r.imageSize} bytes)`);
  lines.push(`Volume:      ${r.volumeId || '(no label)'} (${r.volumeSpaceSize} blocks of 2048)`);
  const trees = r.trees.map((t) => {
    const extra = t.rockRidge ? ' + Rock Ridge' : t.kind === 'joliet' ? ` level ${index.descriptors[t.descriptorIndex]?.jolietLevel ?? '?'}` : '';
    return `${t.kind}${extra}`;
  });
  lines.push(`Trees:       ${trees.join(', ') || '(none)'}`);
  lines.push(`Contents:    ${r.fileCount} files, ${r.directoryCount} directories`);
  lines.push('Boot entries:');
  if (r.boot.length === 0) lines.push('  (no El Torito catalog)');
  for (const e of r.boot) {
    const where = e.path ?? `LBA ${e.loadRba} (outside the ISO tree)`;
    const flags = [e.bootable ? '' : 'not bootable', e.bootInfoTable ? 'boot info table' : ''].filter(Boolean).join(', ');
    const lba = e.path ? `, LBA ${e.loadRba}` : '';
    lines.push(`  ${e.platform.padEnd(5)} ${where}  ${e.sizeBytes} bytes from ${SIZE_FROM[e.sizeFrom]}${lba}${flags ? `  [${flags}]` : ''}`);
  }
  lines.push('Partitions:');
  if (r.partitions.length === 0) lines.push('  (none)');
  for (const p of r.partitions) {
    const tags = [p.efiSystem ? 'EFI system' : '', p.bootable ? 'active' : '', p.name ? JSON.stringify(p.name) : ''].filter(Boolean).join(', ');
    lines.push(`  ${p.scheme} ${p.number}  type ${p.type}  start ${p.startByte}  size ${p.sizeBytes}${tags ? `  [${tags}]` : ''}`);
  }
  lines.push('Boot configs (slack = unused bytes in the last 2048-byte sector):');
  if (r.bootConfigs.length === 0 && r.efiImageConfigs.length === 0) lines.push('  (none found)');
  for (const c of r.bootConfigs) {
    const by = c.includedBy.length > 0 ? `, included by ${c.includedBy.join(', ')}` : '';
    lines.push(`  ${c.path}  ${c.kind}  ${c.sizeBytes} bytes, slack ${c.slackBytes}, ${plural(c.kernelLines, 'kernel line')}${by}`);
  }
  for (const c of r.efiImageConfigs) {
    const where = c.partition ? `EFI system partition ${c.partition}` : `EFI image at LBA ${c.loadRba}`;
    lines.push(`  [${where}] ${c.path}  ${c.kind}  ${c.sizeBytes} bytes, slack ${c.slackBytes} (in its FAT cluster)`);
  }
  if (r.files) lines.push(...formatFiles(r.files));
  for (const w of r.warnings) lines.push(`Warning: ${w}`);
  for (const e of r.errors) lines.push(`Error: ${e.code} ${e.message}`);
  const pct = r.imageSize > 0 ? ((100 * r.bytesRead) / r.imageSize).toFixed(2) : '0';
  lines.push(`Index:       ${r.bytesRead} metadata bytes read (${pct}% of the image)`);
  return lines.join('\n');
}
