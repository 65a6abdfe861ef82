// Rewrites existing files of a FAT image (grub.cfg, loader entries) as byte overlays on the base
// image, without copying it: writes go to a sparse copy-on-write map of pages (cow-image.ts).
// A file keeps the clusters it has; when it grows, the lowest free clusters are linked on (in
// every FAT copy); when it shrinks, the surplus is freed (in every copy). The 8.3 entry gets the
// new size (and first cluster when the file was or becomes empty); timestamps are never touched
// so that the same inputs always give the same bytes. Slack after the new end of the last
// cluster is zeroed. FAT32 FSInfo (fatgen103 section 5): when its free count is known it is set
// to the exact recount, and a known next-free hint is set to the lowest free cluster; an unknown
// (0xFFFFFFFF) value stays unknown. The backup FSInfo is left alone, as Linux and Windows do.
// Files are never created: a path that is not in the image is a NotFoundError.

import { FatFormatError, FatNoSpaceError, IsoproxyError, NotFoundError } from '../errors.js';
import { clusterOffset, type FatGeometry } from './boot-sector.js';
import { CowImage, type FatOverlay } from './cow-image.js';
import { DIR_FIELDS } from './directory.js';
import { countFreeClusters, endOfChain, followChain, lowestFreeClusters, setFatEntry } from './table.js';
import { FatTreeLookup, fileClusters, listFatTree, openFat, type FatFile, type FatVolume } from './volume.js';

// FSInfo fields (fatgen103 section 5).
const FSI_LEAD_SIG = 0;
const FSI_STRUC_SIG = 484;
const FSI_FREE_COUNT = 488;
const FSI_NXT_FREE = 492;
const FSI_TRAIL_SIG = 508;
const UNKNOWN = 0xffffffff;

export interface FatWrite {
  /** Path of an existing file, long or 8.3 names, case-insensitive. */
  readonly path: string;
  readonly data: Uint8Array;
}

export interface FatWriteSummary {
  /** The file's long path as found in the image. */
  readonly path: string;
  readonly oldSize: number;
  readonly newSize: number;
  readonly clustersAllocated: number;
  readonly clustersFreed: number;
}

export interface FatWritePlan {
  /** Sorted, non-overlapping; offsets relative to the start of the FAT image. */
  readonly overlays: FatOverlay[];
  /** One per write, in the order the writes were given. */
  readonly files: FatWriteSummary[];
}

/** Two writes in one call name the same file. */
export class FatWriteConflictError extends IsoproxyError {
  readonly path: string;
  constructor(path: string) {
    super('FAT_WRITE_CONFLICT', `two writes to the same FAT file ${path}`);
    this.path = path;
  }
}

interface Job {
  readonly index: number;
  readonly file: FatFile;
  readonly data: Uint8Array;
}

/**
 * Overlays that turn `image` into the image with each write's file holding its new data.
 * Throws FatNoSpaceError (naming the file) when a growing file finds too few free clusters; then
 * no overlay is returned at all.
 */
export function planFatWrites(image: Uint8Array, writes: readonly FatWrite[]): FatWritePlan {
  const vol = openFat(image);
  const geo = vol.geometry;
  const cow = new CowImage(image, geo.bytesPerSector);

  const tree = new FatTreeLookup(listFatTree(vol));
  const jobs: Job[] = writes.map((w, index) => {
    const file = tree.find(w.path);
    if (!file) throw new NotFoundError(`no file ${w.path} in the FAT image`);
    return { index, file, data: w.data };
  });
  const byEntry = new Map<number, Job>();
  for (const j of jobs) {
    if (byEntry.has(j.file.dirEntryOffset)) throw new FatWriteConflictError(j.file.path);
    byEntry.set(j.file.dirEntryOffset, j);
  }

  // Files that keep or lose clusters first, so that what they free can serve the ones that grow;
  // within each group the order of the entries in the image, whatever order the caller used.
  const need = (j: Job) => Math.ceil(j.data.length / geo.clusterSizeBytes);
  const have = (j: Job) => Math.ceil(j.file.size / geo.clusterSizeBytes);
  const ordered = [...jobs].sort((a, b) => Number(need(a) > have(a)) - Number(need(b) > have(b)) || a.file.dirEntryOffset - b.file.dirEntryOffset);

  const summaries: FatWriteSummary[] = new Array(jobs.length);
  let allocationChanged = false;
  for (const job of ordered) {
    const summary = rewriteFile(vol, cow, job);
    summaries[job.index] = summary;
    if (summary.clustersAllocated > 0 || summary.clustersFreed > 0) allocationChanged = true;
  }
  if (geo.fatType === 32 && allocationChanged) updateFsInfo(cow, geo);
  return { overlays: cow.overlays(), files: summaries };
}

function rewriteFile(vol: FatVolume, cow: CowImage, job: Job): FatWriteSummary {
  const geo = vol.geometry;
  const { file, data } = job;
  const cs = geo.clusterSizeBytes;
  // The chain the file really has, which may be longer than its size needs (a leftover that
  // fsck calls "too many clusters"); all of it belongs to this file.
  fileClusters(vol, cow, file); // checks that the chain covers the old size
  const chain = file.firstCluster >= 2 ? followChain(cow, geo, file.firstCluster) : [];
  // A FAT directory entry holds the size in 32 bits.
  if (data.length > 0xffffffff) throw new FatNoSpaceError(file.path, data.length, 0xffffffff);
  const needed = Math.ceil(data.length / cs);

  let clusters: number[];
  let allocated = 0;
  let freed = 0;
  if (needed > chain.length) {
    const extra = needed - chain.length;
    const free = lowestFreeClusters(cow, geo, extra);
    if (free.length < extra) {
      // Both in whole clusters: what the file lacks, and what the volume has.
      throw new FatNoSpaceError(file.path, extra * cs, countFreeClusters(cow, geo) * cs);
    }
    clusters = [...chain, ...free];
    // Link the new clusters in order, end first so that no copy ever points at a free cluster.
    const eoc = endOfChain(geo);
    for (let i = clusters.length - 1; i >= chain.length; i--) setFatEntry(cow, geo, clusters[i]!, i === clusters.length - 1 ? eoc : clusters[i + 1]!);
    if (chain.length > 0) setFatEntry(cow, geo, chain[chain.length - 1]!, clusters[chain.length]!);
    allocated = extra;
  } else {
    clusters = chain.slice(0, needed);
    if (needed < chain.length) {
      if (needed > 0) setFatEntry(cow, geo, clusters[needed - 1]!, endOfChain(geo));
      for (const c of chain.slice(needed)) setFatEntry(cow, geo, c, 0);
      freed = chain.length - needed;
    }
  }

  // Contents, then zeros to the end of the last cluster.
  for (let i = 0; i < clusters.length; i++) {
    const at = clusterOffset(geo, clusters[i]!);
    const part = data.subarray(i * cs, Math.min((i + 1) * cs, data.length));
    cow.write(at, part);
    if (part.length < cs) cow.zero(at + part.length, cs - part.length);
  }

  const entry = file.dirEntryOffset;
  if (cow.u8(entry) === 0 || cow.u8(entry) === 0xe5) throw new FatFormatError('directory entry', entry, `${file.path} entry is not live`);
  cow.setU32le(entry + DIR_FIELDS.fileSize, data.length);
  const first = clusters[0] ?? 0;
  if (first !== file.firstCluster) {
    cow.setU16le(entry + DIR_FIELDS.firstClusterLo, first & 0xffff);
    // FAT12/16 keep whatever the high word held (OS/2 extended attributes); it is not a cluster.
    if (geo.fatType === 32) cow.setU16le(entry + DIR_FIELDS.firstClusterHi, first >>> 16);
  }
  return { path: file.path, oldSize: file.size, newSize: data.length, clustersAllocated: allocated, clustersFreed: freed };
}

function updateFsInfo(cow: CowImage, geo: FatGeometry): void {
  if (geo.fsInfoSector === 0) return;
  const at = geo.fsInfoSector * geo.bytesPerSector;
  // Only a structure with all three signatures is an FSInfo; otherwise it is not ours to write.
  if (cow.u32le(at + FSI_LEAD_SIG) !== 0x41615252 || cow.u32le(at + FSI_STRUC_SIG) !== 0x61417272 || cow.u32le(at + FSI_TRAIL_SIG) !== 0xaa550000)
    return;
  if (cow.u32le(at + FSI_FREE_COUNT) !== UNKNOWN) cow.setU32le(at + FSI_FREE_COUNT, countFreeClusters(cow, geo));
  if (cow.u32le(at + FSI_NXT_FREE) !== UNKNOWN) {
    const [next] = lowestFreeClusters(cow, geo, 1);
    cow.setU32le(at + FSI_NXT_FREE, next ?? UNKNOWN);
  }
}
