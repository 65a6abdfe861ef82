// Boot configs for `isoproxy inspect`: the files the remaster engine edits, found the way it
// finds them. Candidates are picked with the engine's filter and caps (src/remaster/
// base-context.ts: not hidden, not empty, a candidate name, at most MAX_CONFIG_BYTES), read as
// latin1, and handed to bootconfig's discovery, which decides what is a config and in which
// syntax (by name, by who includes it, by place, by content). FAT images are the ones the engine
// opens: El Torito EFI images and EFI System Partitions, one per offset.
//
// A candidate or an EFI image whose bytes lie past the end of the image is an error, not a
// config: the engine cannot read it (it refuses the whole base), and neither can firmware.

import { latin1 } from '../../binary.js';
import { discoverBootConfigs, isBootConfigCandidate, type BootConfigDiscovery, type ConfigSyntax } from '../../bootconfig/index.js';
import type { ByteSource } from '../../byte-source.js';
import { IsoFormatError, IsoproxyError } from '../../errors.js';
import { listFatFiles, openFat, readFatFile } from '../../fat/index.js';
import { extentPastEnd, readFileBytes } from '../../iso9660/index.js';
import { SECTOR_SIZE, type IndexedFile, type IsoIndex } from '../../iso9660/types.js';
import { MAX_CANDIDATES, MAX_CONFIG_BYTES, MAX_FAT_BYTES, MAX_FAT_IMAGES, MAX_FAT_TOTAL_BYTES } from '../../remaster/context-limits.js';

export interface BootConfigInfo {
  readonly path: string;
  readonly kind: ConfigSyntax;
  readonly sizeBytes: number;
  readonly slackBytes: number;
  readonly lba: number;
  /** Kernel command lines in the file: what a node's edits change. */
  readonly kernelLines: number;
  /** Configs that include this one (INCLUDE, source, configfile, ...). */
  readonly includedBy: readonly string[];
}

export interface EfiImageConfigInfo {
  /** loadRba of the EFI boot entry whose FAT image holds the file; for `partition`, its start / 2048, rounded down. */
  readonly loadRba: number;
  /** Set when only the partition table points at the image (e.g. 'gpt 2'), not El Torito. */
  readonly partition?: string;
  readonly path: string;
  readonly kind: ConfigSyntax;
  readonly sizeBytes: number;
  /** Unused bytes in the file's last FAT cluster. */
  readonly slackBytes: number;
}

/** What a scan found: configs, errors (typed, with byte offsets) and warnings. */
export interface Scan<T> {
  readonly configs: T[];
  readonly errors: IsoFormatError[];
  readonly warnings: string[];
}

/** Unused bytes in the file's last 2048-byte sector. */
export function slackBytes(sizeBytes: number): number {
  return (SECTOR_SIZE - (sizeBytes % SECTOR_SIZE)) % SECTOR_SIZE;
}

/** The ISO-tree files the engine reads as boot-config candidates, with its caps. */
function isoCandidates(index: IsoIndex, warnings: string[]): IndexedFile[] {
  const named = index.files.filter((f) => f.size > 0 && isBootConfigCandidate(f.path));
  // A hidden file is not what a bootloader reading the tree by name finds; the engine skips it.
  for (const f of named) if (f.hidden) warnings.push(`${f.path} is hidden; the engine does not read or edit it`);
  const all = named.filter((f) => !f.hidden);
  if (all.length > MAX_CANDIDATES) warnings.push(`${all.length} boot-config candidates; the engine considers only the first ${MAX_CANDIDATES}`);
  return all.slice(0, MAX_CANDIDATES).filter((f) => {
    if (f.size <= MAX_CONFIG_BYTES) return true;
    warnings.push(`${f.path}: ${f.size} bytes is too large for a boot config; the engine leaves it alone`);
    return false;
  });
}

/** Discovery's notes as warnings: bootloader-level problems, includes of missing files, include loops. */
function discoveryWarnings(d: BootConfigDiscovery, where = ''): string[] {
  return [
    ...d.warnings.map((w) => `${where}${w}`),
    ...d.missing.map((m) => `${where}${m.from} includes ${m.target}, which is not there`),
    ...d.cycles.map((c) => `${where}include loop: ${c.join(' -> ')}`),
  ];
}

function discoverIso(
  candidates: readonly IndexedFile[],
  texts: ReadonlyMap<string, string> | undefined,
): { configs: BootConfigInfo[]; discovery: BootConfigDiscovery } {
  const byPath = new Map(candidates.filter((f) => !texts || texts.has(f.path)).map((f) => [f.path, f]));
  const discovery = discoverBootConfigs(new Map([...byPath.keys()].map((p) => [p, texts?.get(p) ?? ''])));
  const found = new Map(discovery.configs.map((c) => [c.path, c]));
  // In the index's order (its sorted best paths), as inspect has always listed them.
  const configs = [...byPath.values()].flatMap((f) => {
    const c = found.get(f.path);
    if (!c) return [];
    const lba = f.extents[0]?.lba ?? 0;
    return [
      { path: f.path, kind: c.syntax, sizeBytes: f.size, slackBytes: slackBytes(f.size), lba, kernelLines: c.kernelLines, includedBy: c.includedBy },
    ];
  });
  return { configs, discovery };
}

/**
 * Boot configs of the ISO tree, by bootconfig's discovery over `texts` (path -> latin1 text of
 * each candidate that could be read). Without texts, every candidate reads as empty, so only
 * names and places decide.
 */
export function findBootConfigs(index: IsoIndex, texts?: ReadonlyMap<string, string>): BootConfigInfo[] {
  return discoverIso(isoCandidates(index, []), texts).configs;
}

/** Reads the ISO tree's candidates and discovers its boot configs. */
export async function scanIsoConfigs(source: ByteSource, index: IsoIndex): Promise<Scan<BootConfigInfo>> {
  const warnings: string[] = [];
  const errors: IsoFormatError[] = [];
  const candidates = isoCandidates(index, warnings);
  const texts = new Map<string, string>();
  for (const f of candidates) {
    const pastEnd = extentPastEnd(f, source.size);
    if (pastEnd) errors.push(pastEnd);
    else texts.set(f.path, latin1(await readFileBytes(source, f, MAX_CONFIG_BYTES)));
  }
  const { configs, discovery } = discoverIso(candidates, texts);
  return { configs, errors, warnings: [...warnings, ...discoveryWarnings(discovery)] };
}

interface FatRegion {
  readonly offset: number;
  readonly sizeBytes: number;
  readonly loadRba: number;
  readonly partition?: string;
  readonly label: string;
  /** Where the region is declared, for an error: the catalog entry or the partition's start. */
  readonly declaredAt: { readonly structure: string; readonly offset: number };
}

/** El Torito EFI images and EFI System Partitions, by offset; at one offset El Torito names it. */
function fatRegions(index: IsoIndex): FatRegion[] {
  const regions: FatRegion[] = [];
  for (const e of index.elTorito?.entries ?? []) {
    if (e.platform !== 'efi') continue;
    const label = `EFI image at LBA ${e.loadRba}`;
    const declaredAt = { structure: 'El Torito boot entry', offset: e.entryOffset };
    regions.push({ offset: e.loadRba * SECTOR_SIZE, sizeBytes: e.sizeBytes, loadRba: e.loadRba, label, declaredAt });
  }
  for (const p of index.partitions) {
    if (!p.efiSystem) continue;
    const partition = `${p.scheme} ${p.number}`;
    const declaredAt = { structure: `${p.scheme.toUpperCase()} partition ${p.number}`, offset: p.startByte };
    const label = `EFI system partition ${partition}`;
    regions.push({ offset: p.startByte, sizeBytes: p.sizeBytes, loadRba: Math.floor(p.startByte / SECTOR_SIZE), partition, label, declaredAt });
  }
  regions.sort((a, b) => a.offset - b.offset || (a.partition ? 1 : 0) - (b.partition ? 1 : 0));
  return regions.filter((r, i) => i === 0 || r.offset !== regions[i - 1]!.offset);
}

/** Boot configs inside each FAT image the engine would open. */
export async function scanEfiImages(source: ByteSource, index: IsoIndex): Promise<Scan<EfiImageConfigInfo>> {
  const configs: EfiImageConfigInfo[] = [];
  const errors: IsoFormatError[] = [];
  const warnings: string[] = [];
  let prevEnd = 0;
  let opened = 0;
  let openedBytes = 0;
  for (const r of fatRegions(index)) {
    const end = r.offset + r.sizeBytes;
    if (end > source.size) {
      const msg = `${r.label} spans bytes [${r.offset}, ${end}), past the image end ${source.size} (truncated image?)`;
      errors.push(new IsoFormatError(r.declaredAt.structure, r.declaredAt.offset, msg));
      continue;
    }
    if (r.offset < prevEnd) {
      warnings.push(`${r.label} overlaps the FAT image before it; the engine leaves it alone`);
      continue;
    }
    prevEnd = end;
    if (r.sizeBytes <= 0 || r.sizeBytes > MAX_FAT_BYTES) {
      warnings.push(`${r.label}: ${r.sizeBytes} bytes not opened (not in 1..${MAX_FAT_BYTES}); the engine leaves it alone`);
      continue;
    }
    if (opened >= MAX_FAT_IMAGES || openedBytes + r.sizeBytes > MAX_FAT_TOTAL_BYTES) {
      warnings.push(`${r.label}: past ${MAX_FAT_IMAGES} FAT images or ${MAX_FAT_TOTAL_BYTES} bytes of them in all; the engine leaves it alone`);
      continue;
    }
    try {
      const vol = openFat(await source.read(r.offset, r.sizeBytes));
      const cluster = vol.geometry.clusterSizeBytes;
      const files = listFatFiles(vol)
        .filter((f) => f.size > 0 && f.size <= MAX_CONFIG_BYTES && isBootConfigCandidate(f.path))
        .slice(0, MAX_CANDIDATES);
      const discovery = discoverBootConfigs(new Map(files.map((f) => [f.path, latin1(readFatFile(vol, f))])));
      warnings.push(...discoveryWarnings(discovery, `${r.label}: `));
      for (const c of discovery.configs) {
        const size = files.find((f) => f.path === c.path)!.size;
        const where = r.partition ? { loadRba: r.loadRba, partition: r.partition } : { loadRba: r.loadRba };
        configs.push({ ...where, path: c.path, kind: c.syntax, sizeBytes: size, slackBytes: (cluster - (size % cluster)) % cluster });
      }
      // Counted as the engine counts: the images it could read.
      opened++;
      openedBytes += r.sizeBytes;
    } catch (err) {
      if (!(err instanceof IsoproxyError)) throw err;
      warnings.push(`${r.label}: not a readable FAT file system (${err.message})`);
    }
  }
  configs.sort((a, b) => a.loadRba - b.loadRba || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { configs, errors, warnings };
}
