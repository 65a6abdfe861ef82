// A small deterministic ISO 9660 writer for test fixtures and the demo image (ECMA-119 with
// Rock Ridge RRIP 1.12 over SUSP 1.12, Joliet, El Torito 1.0). Same spec in, same bytes out:
// fixed timestamps (spec.date or 2026-01-01T00:00:00Z), names assigned and records ordered from
// sorted input, no clock, no randomness. Not a general mastering tool: the image is built in
// memory and capped at WRITER_LIMITS.imageBytes. Bytes only: writing them to a file is the
// demo's job (src/demo/image-file.ts), so this module stays a pure core with no file system.
//
// Layout (2048-byte sectors): 0..15 system area (zeros); 16 primary descriptor; then the El
// Torito boot record and the Joliet supplementary descriptor when enabled; terminator; the boot
// catalog (unless it is a visible file); L and M path tables of each tree; ISO 9660 directories
// in path table order; Rock Ridge continuation areas; Joliet directories; one zero sector shared
// by empty files (as xorriso does); file data in depth-first path order, each file starting on a
// `fileAlignment` boundary.
//
// Deviation by default: directories deeper than ECMA-119's 8 levels are written in place (no
// rr_moved relocation), as `xorriso -as mkisofs` does; Linux, libisofs, isoinfo and pycdlib read
// that. `relocateDeepDirectories` relocates them the RRIP way instead (genisoimage's layout).

import { bootCatalog, bootRecordDescriptor, patchBootInfoTable, PLATFORM_EFI, PLATFORM_X86, type CatalogEntry } from './writer-eltorito.js';
import { directoryRecord, MAX_RECORD, pathTableRecord, recordBaseLength, terminatorDescriptor, volumeDescriptor } from './writer-records.js';
import {
  CE_LENGTH,
  ceEntry,
  clEntry,
  erEntry,
  MODE_DIR,
  MODE_FILE,
  nmEntries,
  plEntry,
  pxEntry,
  reEntry,
  setLinkLba,
  spEntry,
  tfEntry,
} from './writer-susp.js';
import { buildTree, isoIdOf, IsoSpecError, pathTableOrder, WRITER_LIMITS, type DirNode, type FileNode, type TreeNode } from './writer-tree.js';
import { SECTOR_SIZE } from './types.js';

export { IsoSpecError, WRITER_LIMITS } from './writer-tree.js';

export interface IsoFileSpec {
  /** Absolute path, e.g. '/boot/grub/grub.cfg'; parent directories are implied. */
  readonly path: string;
  readonly data: Uint8Array;
}

export interface IsoBiosBootSpec {
  /** Path of the no-emulation boot file (e.g. '/isolinux/isolinux.bin'). */
  readonly path: string;
  /** 512-byte virtual sectors the BIOS loads; default 4 (one CD sector), as mkisofs -boot-load-size 4. */
  readonly loadSectors?: number;
  /** Patch bytes 8..63 of the file with an isolinux boot info table (mkisofs -boot-info-table). */
  readonly bootInfoTable?: boolean;
}

export interface IsoEfiBootSpec {
  /** Path of the FAT image file that UEFI firmware boots (e.g. '/boot/grub/efi.img'). */
  readonly path: string;
}

export interface IsoBootSpec {
  readonly bios?: IsoBiosBootSpec;
  readonly efi?: IsoEfiBootSpec;
  /** Make the boot catalog a visible file at this path (mkisofs -c); hidden when absent. */
  readonly catalogPath?: string;
}

export interface IsoSpec {
  /** Volume identifier, written as given (Joliet keeps its first 16 characters). Printable ASCII, at most 32. */
  readonly volumeId: string;
  readonly files: readonly IsoFileSpec[];
  /** SUSP SP/ER + RRIP PX/TF/NM in the ISO 9660 tree; default true. */
  readonly rockRidge?: boolean;
  /** A Joliet tree; default true. */
  readonly joliet?: boolean;
  readonly boot?: IsoBootSpec;
  /** Every file starts on a multiple of this many bytes; a multiple of 2048, default 2048. */
  readonly fileAlignment?: number;
  /**
   * Move directories below ECMA-119's 8 levels to /rr_moved with Rock Ridge CL/PL/RE entries, as
   * genisoimage does; default false (written in place, as `xorriso -as mkisofs` does). Needs
   * rockRidge. Joliet keeps the real hierarchy either way.
   */
  readonly relocateDeepDirectories?: boolean;
  /** Every timestamp in the image; default 2026-01-01T00:00:00Z. Whole seconds, years 1970..2155. */
  readonly date?: Date;
}

export const DEFAULT_ISO_DATE = new Date(Date.UTC(2026, 0, 1, 0, 0, 0));

const PVD_LBA = 16;

type Tree = 'iso' | 'joliet';

interface RecordPlan {
  /** The node whose extent the record points at (the directory itself for ".", its parent for ".."). */
  readonly target: TreeNode;
  /** A zero-length file standing in for a relocated directory (RRIP 4.1.5.1). */
  readonly placeholder: boolean;
  readonly identifier: Uint8Array;
  readonly inline: readonly Uint8Array[];
  readonly spill: readonly Uint8Array[];
  readonly length: number;
  /** Offset in the directory's extent. */
  offset: number;
  cont?: { lba: number; offset: number; length: number };
}

interface DirPlan {
  readonly dir: DirNode;
  readonly records: RecordPlan[];
  readonly sizeBytes: number;
  lba: number;
}

function sectors(bytes: number): number {
  return Math.ceil(bytes / SECTOR_SIZE);
}

function sum(parts: readonly Uint8Array[]): number {
  return parts.reduce((n, p) => n + p.length, 0);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(sum(parts));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const utf8 = new TextEncoder();

function pxFor(node: TreeNode): Uint8Array {
  if (node.kind === 'file') return pxEntry(MODE_FILE, 1, node.ino);
  return pxEntry(MODE_DIR, 2 + node.children.filter((c) => c.kind === 'dir').length, node.ino);
}

/** Splits System Use entries between the record and a continuation area (SUSP 5.1). */
function planRecord(target: TreeNode, identifier: Uint8Array, entries: Uint8Array[], placeholder = false): RecordPlan {
  const base = recordBaseLength(identifier.length);
  const budget = MAX_RECORD - base;
  let inline = entries;
  let spill: Uint8Array[] = [];
  if (sum(entries) > budget) {
    let used = 0;
    let i = 0;
    while (i < entries.length && used + entries[i]!.length + CE_LENGTH <= budget) used += entries[i++]!.length;
    inline = entries.slice(0, i);
    spill = entries.slice(i);
    if (sum(spill) > SECTOR_SIZE) throw new IsoSpecError(target.path, 'Rock Ridge entries do not fit one continuation area');
  }
  let length = base + sum(inline) + (spill.length > 0 ? CE_LENGTH : 0);
  length += length % 2;
  return { target, placeholder, identifier, inline, spill, length, offset: 0 };
}

/** CL and PL entries made before the layout, with the directory whose LBA they must carry. */
type LinkFixup = { entry: Uint8Array; dir: DirNode };

function planDirectory(dir: DirNode, tree: Tree, rockRidge: boolean, date: Date, fixups: LinkFixup[]): DirPlan {
  const rr = tree === 'iso' && rockRidge;
  const parent = (tree === 'iso' ? dir.isoParent : dir.parent) ?? dir;
  const tf = rr ? tfEntry(date) : undefined;
  const link = (make: (lba: number) => Uint8Array, target: DirNode) => {
    const entry = make(0);
    fixups.push({ entry, dir: target });
    return entry;
  };
  const records: RecordPlan[] = [];
  // SUSP 5.3: SP comes first in the root's "." record; the ER (237 bytes) spills to a CE area.
  const dotEntries = !rr ? [] : dir.parent === null ? [spEntry(), pxFor(dir), tf!, erEntry()] : [pxFor(dir), tf!];
  records.push(planRecord(dir, Uint8Array.of(0), dotEntries));
  const dotdotEntries = rr ? [pxFor(dir.parent ?? dir), tf!] : [];
  if (rr && dir.relocated) dotdotEntries.push(link(plEntry, dir.parent!));
  records.push(planRecord(parent, Uint8Array.of(1), dotdotEntries));
  const entries = tree === 'iso' ? dir.isoEntries : dir.jolietOrder.map((node) => ({ node, role: 'normal' as const }));
  for (const { node, role } of entries) {
    const su = rr ? [pxFor(node), tf!, ...nmEntries(utf8.encode(node.name))] : [];
    if (role === 'placeholder') su.push(link(clEntry, node as DirNode));
    if (role === 'relocated') su.push(reEntry());
    const id = tree === 'iso' ? isoIdOf(node) : node.joliet.id;
    records.push(planRecord(node, role === 'placeholder' ? node.iso.id : id, su, role === 'placeholder'));
  }
  // 6.8.1.1: a record never crosses a sector boundary; the rest of the sector stays zero.
  let offset = 0;
  for (const r of records) {
    if ((offset % SECTOR_SIZE) + r.length > SECTOR_SIZE) offset = sectors(offset) * SECTOR_SIZE;
    r.offset = offset;
    offset += r.length;
  }
  return { dir, records, sizeBytes: sectors(offset) * SECTOR_SIZE, lba: 0 };
}

function pathTable(plans: readonly DirPlan[], tree: Tree, bigEndian: boolean): Uint8Array {
  const number = new Map<DirNode, number>(plans.map((p, i) => [p.dir, i + 1]));
  return concat(
    plans.map((p) => {
      const parent = (tree === 'iso' ? p.dir.isoParent : p.dir.parent) ?? p.dir;
      return pathTableRecord(pathTableId(p.dir, tree), p.lba, number.get(parent)!, bigEndian);
    }),
  );
}

function pathTableId(dir: DirNode, tree: Tree): Uint8Array {
  return dir.parent === null ? Uint8Array.of(0) : tree === 'iso' ? isoIdOf(dir) : dir.joliet.id;
}

function checkSpec(spec: IsoSpec): { date: Date; alignSectors: number } {
  if (typeof spec.volumeId !== 'string' || spec.volumeId.length > 32 || !/^[\x20-\x7e]*$/.test(spec.volumeId)) {
    throw new IsoSpecError('', 'volumeId must be printable ASCII, at most 32 characters');
  }
  const date = spec.date ?? DEFAULT_ISO_DATE;
  const t = date.getTime();
  if (!Number.isFinite(t) || t % 1000 !== 0 || date.getUTCFullYear() < 1970 || date.getUTCFullYear() > 2155) {
    throw new IsoSpecError('', 'date must be whole seconds in 1970..2155');
  }
  const alignment = spec.fileAlignment ?? SECTOR_SIZE;
  if (!Number.isInteger(alignment) || alignment < SECTOR_SIZE || alignment % SECTOR_SIZE !== 0 || alignment > 1024 * 1024) {
    throw new IsoSpecError('', 'fileAlignment must be a multiple of 2048 up to 1 MiB');
  }
  return { date, alignSectors: alignment / SECTOR_SIZE };
}

/** Builds the whole image in memory. Throws IsoSpecError when the spec is unusable. */
export function writeIso(spec: IsoSpec): Uint8Array {
  const { date, alignSectors } = checkSpec(spec);
  const rockRidge = spec.rockRidge ?? true;
  const joliet = spec.joliet ?? true;
  const boot = spec.boot;
  const bios = boot?.bios;
  const efi = boot?.efi;
  if (boot && !bios && !efi) throw new IsoSpecError('', 'boot needs a bios or an efi entry');

  const catalogPath = boot ? boot.catalogPath : undefined;
  const inputs = catalogPath === undefined ? spec.files : [...spec.files, { path: catalogPath, data: new Uint8Array(SECTOR_SIZE) }];
  const relocate = spec.relocateDeepDirectories ?? false;
  if (relocate && !rockRidge) throw new IsoSpecError('', 'relocateDeepDirectories needs rockRidge');
  const { root, files } = buildTree(inputs, relocate);
  const fileAt = (path: string, what: string): FileNode => {
    const f = files.find((n) => n.path === path);
    if (!f) throw new IsoSpecError(path, `${what} is not one of the files`);
    if (f.data.length === 0) throw new IsoSpecError(path, `${what} is empty`);
    return f;
  };
  const biosFile = bios ? fileAt(bios.path, 'the BIOS boot file') : undefined;
  const efiFile = efi ? fileAt(efi.path, 'the EFI boot image') : undefined;
  const loadSectors = bios?.loadSectors ?? 4;
  if (bios && (!Number.isInteger(loadSectors) || loadSectors < 1 || loadSectors > 0xffff))
    throw new IsoSpecError(bios.path, 'loadSectors must be 1..65535');
  if (bios?.bootInfoTable && biosFile!.data.length < 64)
    throw new IsoSpecError(bios.path, 'a boot info table needs a boot file of at least 64 bytes');
  const catalogFile = catalogPath !== undefined ? files.find((f) => f.path === catalogPath)! : undefined;

  // Record layouts first (their sizes do not depend on where anything is), then addresses.
  const fixups: LinkFixup[] = [];
  const isoPlans = pathTableOrder(root, 'iso').map((d) => planDirectory(d, 'iso', rockRidge, date, fixups));
  const jolietPlans = joliet ? pathTableOrder(root, 'joliet').map((d) => planDirectory(d, 'joliet', rockRidge, date, fixups)) : [];
  const isoPathTableSize = isoPlans.reduce((n, p) => n + pathTableRecordSize(p.dir, 'iso'), 0);
  const jolietPathTableSize = jolietPlans.reduce((n, p) => n + pathTableRecordSize(p.dir, 'joliet'), 0);

  let lba = PVD_LBA + 1;
  const bootRecordLba = boot ? lba++ : 0;
  const svdLba = joliet ? lba++ : 0;
  const terminatorLba = lba++;
  const hiddenCatalogLba = boot && !catalogFile ? lba++ : 0;
  const isoL = lba;
  lba += sectors(isoPathTableSize);
  const isoM = lba;
  lba += sectors(isoPathTableSize);
  const jolietL = lba;
  lba += joliet ? sectors(jolietPathTableSize) : 0;
  const jolietM = lba;
  lba += joliet ? sectors(jolietPathTableSize) : 0;
  for (const p of isoPlans) {
    p.lba = lba;
    lba += p.sizeBytes / SECTOR_SIZE;
  }
  // Continuation areas packed into whole sectors, none crossing a sector boundary.
  let contOffset = 0;
  const contStart = lba;
  for (const p of isoPlans) {
    for (const r of p.records) {
      if (r.spill.length === 0) continue;
      const length = sum(r.spill);
      if ((contOffset % SECTOR_SIZE) + length > SECTOR_SIZE) contOffset = sectors(contOffset) * SECTOR_SIZE;
      r.cont = { lba: contStart + Math.floor(contOffset / SECTOR_SIZE), offset: contOffset % SECTOR_SIZE, length };
      contOffset += length;
    }
  }
  lba += sectors(contOffset);
  for (const p of jolietPlans) {
    p.lba = lba;
    lba += p.sizeBytes / SECTOR_SIZE;
  }
  const emptyLba = files.some((f) => f.data.length === 0) ? lba++ : 0;
  for (const f of files) {
    if (f.data.length === 0) {
      f.lba = emptyLba;
      continue;
    }
    if (f.data.length > 0xffffffff) throw new IsoSpecError(f.path, 'larger than one extent (4 GiB - 1)');
    lba = Math.ceil(lba / alignSectors) * alignSectors;
    f.lba = lba;
    lba += sectors(f.data.length);
  }
  const totalSectors = lba;
  const isoLbaOf = new Map(isoPlans.map((p) => [p.dir, p.lba]));
  for (const f of fixups) setLinkLba(f.entry, isoLbaOf.get(f.dir)!);
  if (totalSectors * SECTOR_SIZE > WRITER_LIMITS.imageBytes) throw new IsoSpecError('', `image larger than ${WRITER_LIMITS.imageBytes} bytes`);

  const out = new Uint8Array(totalSectors * SECTOR_SIZE);
  const extentOf = (plans: readonly DirPlan[]) => {
    const m = new Map<TreeNode, { lba: number; lengthBytes: number }>(plans.map((p) => [p.dir, { lba: p.lba, lengthBytes: p.sizeBytes }]));
    return (n: TreeNode) => (n.kind === 'file' ? { lba: n.lba, lengthBytes: n.data.length } : m.get(n)!);
  };
  const writeTree = (plans: readonly DirPlan[]) => {
    const extent = extentOf(plans);
    for (const p of plans) {
      for (const r of p.records) {
        // A stand-in is a zero-length file at its directory's extent (RRIP 4.1.5.1).
        const e = r.placeholder ? { lba: extent(r.target).lba, lengthBytes: 0 } : extent(r.target);
        const cont = r.cont;
        const systemUse = concat(cont ? [...r.inline, ceEntry(cont.lba, cont.offset, cont.length)] : r.inline);
        const isDir = r.target.kind === 'dir' && !r.placeholder;
        out.set(directoryRecord({ ...e, isDir, identifier: r.identifier, date, systemUse }), p.lba * SECTOR_SIZE + r.offset);
        if (cont) out.set(concat(r.spill), cont.lba * SECTOR_SIZE + cont.offset);
      }
    }
    const rootExtent = extent(root);
    return directoryRecord({ ...rootExtent, isDir: true, identifier: Uint8Array.of(0), date, systemUse: new Uint8Array(0) });
  };

  const isoRoot = writeTree(isoPlans);
  out.set(pathTable(isoPlans, 'iso', false), isoL * SECTOR_SIZE);
  out.set(pathTable(isoPlans, 'iso', true), isoM * SECTOR_SIZE);
  const volume = { volumeId: spec.volumeId, volumeSpaceSize: totalSectors, date };
  const primaryVolume = { ...volume, pathTableSize: isoPathTableSize, lPathLba: isoL, mPathLba: isoM, rootRecord: isoRoot };
  out.set(volumeDescriptor('primary', primaryVolume), PVD_LBA * SECTOR_SIZE);
  if (joliet) {
    const jolietRoot = writeTree(jolietPlans);
    out.set(pathTable(jolietPlans, 'joliet', false), jolietL * SECTOR_SIZE);
    out.set(pathTable(jolietPlans, 'joliet', true), jolietM * SECTOR_SIZE);
    const jolietVolume = { ...volume, pathTableSize: jolietPathTableSize, lPathLba: jolietL, mPathLba: jolietM, rootRecord: jolietRoot };
    out.set(volumeDescriptor('joliet', jolietVolume), svdLba * SECTOR_SIZE);
  }
  out.set(terminatorDescriptor(), terminatorLba * SECTOR_SIZE);
  for (const f of files) if (f !== catalogFile) out.set(f.data, f.lba * SECTOR_SIZE);

  if (boot) {
    const catalogLba = catalogFile ? catalogFile.lba : hiddenCatalogLba;
    const entries: CatalogEntry[] = [];
    if (biosFile) {
      const start = biosFile.lba * SECTOR_SIZE;
      if (bios!.bootInfoTable) patchBootInfoTable(out.subarray(start, start + biosFile.data.length), PVD_LBA, biosFile.lba);
      entries.push({ platformId: PLATFORM_X86, loadRba: biosFile.lba, sectorCount: loadSectors });
    }
    if (efiFile)
      entries.push({ platformId: PLATFORM_EFI, loadRba: efiFile.lba, sectorCount: Math.min(Math.ceil(efiFile.data.length / 512), 0xffff) });
    out.set(bootCatalog(entries), catalogLba * SECTOR_SIZE);
    out.set(bootRecordDescriptor(catalogLba), bootRecordLba * SECTOR_SIZE);
  }
  return out;
}

function pathTableRecordSize(dir: DirNode, tree: Tree): number {
  const n = pathTableId(dir, tree).length;
  return 8 + n + (n % 2);
}
