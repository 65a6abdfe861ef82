// The FAT images of a base that firmware may boot, read whole with their boot configs: El Torito
// EFI entries (in the tree, as Debian's efi.img and RHEL's efiboot.img are, or in an appended
// partition as on Ubuntu) and EFI System Partitions of the hybrid partition tables.

import type { ByteSource } from '../byte-source.js';
import { isBootConfigCandidate } from '../bootconfig/index.js';
import { listFatFiles, openFat, readFatFile } from '../fat/index.js';
import { SECTOR_SIZE, type IsoIndex } from '../iso9660/types.js';
import type { ContextFat, ContextFatConfig } from './base-context.js';
import {
  checkTotal,
  MAX_CANDIDATES,
  MAX_CONFIG_BYTES,
  MAX_CONFIG_TOTAL_BYTES,
  MAX_FAT_BYTES,
  MAX_FAT_IMAGES,
  MAX_FAT_LISTED,
  MAX_FAT_TOTAL_BYTES,
} from './context-limits.js';

/**
 * FAT images that firmware may boot: El Torito EFI entries (in the tree, as Debian's efi.img and
 * RHEL's efiboot.img are, or in an appended partition as on Ubuntu) and EFI System Partitions of
 * the hybrid partition tables. The same bytes found twice are one image.
 */
export async function findFatImages(index: IsoIndex, source: ByteSource, warnings: string[]): Promise<ContextFat[]> {
  const regions: { offset: number; size: number; label: string }[] = [];
  for (const e of index.elTorito?.entries ?? []) {
    if (e.platform !== 'efi') continue;
    regions.push({ offset: e.loadRba * SECTOR_SIZE, size: e.sizeBytes, label: e.path ?? `El Torito EFI image at LBA ${e.loadRba}` });
  }
  for (const p of index.partitions) {
    if (p.efiSystem) regions.push({ offset: p.startByte, size: p.sizeBytes, label: `${p.scheme.toUpperCase()} partition ${p.number}` });
  }
  regions.sort((a, b) => a.offset - b.offset || b.size - a.size);
  const out: ContextFat[] = [];
  let held = 0;
  for (const r of regions) {
    const prev = out[out.length - 1];
    if (prev && r.offset < prev.offset + prev.image.length) {
      if (r.offset !== prev.offset) warnings.push(`${r.label} overlaps ${prev.label}; left alone`);
      continue;
    }
    if (r.size <= 0 || r.offset + r.size > source.size) {
      warnings.push(`${r.label}: [${r.offset}, ${r.offset + r.size}) is not inside the image; left alone`);
      continue;
    }
    if (r.size > MAX_FAT_BYTES) {
      warnings.push(`${r.label}: ${r.size} bytes is larger than ${MAX_FAT_BYTES}; its configs are left alone`);
      continue;
    }
    if (out.length >= MAX_FAT_IMAGES || held + r.size > MAX_FAT_TOTAL_BYTES) {
      warnings.push(`${r.label}: past ${MAX_FAT_IMAGES} FAT images or ${MAX_FAT_TOTAL_BYTES} bytes of them in all; its configs are left alone`);
      continue;
    }
    const image = await source.read(r.offset, r.size);
    let configs: ContextFatConfig[];
    let files: string[];
    try {
      const vol = openFat(image);
      const listed = listFatFiles(vol);
      files = listed.slice(0, MAX_FAT_LISTED).map((f) => f.path);
      const candidates = listed.filter((f) => f.size > 0 && f.size <= MAX_CONFIG_BYTES && isBootConfigCandidate(f.path)).slice(0, MAX_CANDIDATES);
      // Directory entries may share clusters as ISO names share extents: the same cap applies.
      checkTotal(candidates, MAX_CONFIG_TOTAL_BYTES, `boot-config bytes of the FAT image ${r.label}`, r.offset);
      configs = candidates.map((f) => ({ path: f.path, bytes: readFatFile(vol, f) }));
    } catch (err) {
      // Not every El Torito EFI entry is a FAT image we can read (e.g. an HFS+ or a broken one),
      // and one past a cap is left alone the same way: the rest of the image still boots.
      warnings.push(`${r.label}: not a readable FAT image (${err instanceof Error ? err.message : String(err)}); left alone`);
      continue;
    }
    const isoFile = index.files.find((f) => f.extents.length === 1 && f.extents[0]!.lba * SECTOR_SIZE === r.offset);
    held += r.size;
    out.push({ label: isoFile?.path ?? r.label, offset: r.offset, image, configs, files, ...(isoFile ? { isoPath: isoFile.path } : {}) });
  }
  return out;
}
