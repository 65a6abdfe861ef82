// FAT boot sector (BIOS Parameter Block) of a FAT12/16/32 image, and the geometry derived from it:
// where the FATs, the fixed root directory (FAT12/16) and the data region lie, in bytes from the
// start of the image. Follows Microsoft's "FAT: General Overview of On-Disk Format" (fatgen103),
// sections 3.1-3.5: the FAT type is decided by the count of data clusters alone (< 4085 FAT12,
// < 65525 FAT16, else FAT32), never by the BS_FilSysType string, which is informational.
// Every region is checked to lie inside the image so that later reads cannot run off its end.

import { BinaryView } from '../binary.js';
import { FatFormatError } from '../errors.js';

export type FatType = 12 | 16 | 32;

// BPB field offsets (fatgen103 section 3.1 and 3.3).
const BS_JMP_BOOT = 0;
const BPB_BYTS_PER_SEC = 11;
const BPB_SEC_PER_CLUS = 13;
const BPB_RSVD_SEC_CNT = 14;
const BPB_NUM_FATS = 16;
const BPB_ROOT_ENT_CNT = 17;
const BPB_TOT_SEC16 = 19;
const BPB_MEDIA = 21;
const BPB_FAT_SZ16 = 22;
const BPB_TOT_SEC32 = 32;
// FAT32 extended BPB (section 3.3).
const BPB_FAT_SZ32 = 36;
const BPB_EXT_FLAGS = 40;
const BPB_ROOT_CLUS = 44;
const BPB_FS_INFO = 48;

/** Cluster-count thresholds (fatgen103 section 3.5). */
export const FAT12_MAX_CLUSTERS = 4084;
export const FAT16_MAX_CLUSTERS = 65524;
/** FAT32 entries are 28 bits; the highest cluster numbers are reserved values. */
const FAT32_MAX_CLUSTERS = 0x0ffffff5;

export interface FatGeometry {
  readonly fatType: FatType;
  readonly bytesPerSector: number;
  readonly sectorsPerCluster: number;
  readonly clusterSizeBytes: number;
  readonly reservedSectors: number;
  readonly fatCount: number;
  /** Sectors in one FAT copy. */
  readonly fatSizeSectors: number;
  /** Total sectors of the volume (BPB_TotSec16 or BPB_TotSec32). */
  readonly totalSectors: number;
  readonly media: number;
  /** Byte offset of FAT copy 0; copy i is at fatOffset + i * fatSizeBytes. */
  readonly fatOffset: number;
  readonly fatSizeBytes: number;
  /**
   * FAT32 with mirroring disabled (BPB_ExtFlags bit 7): only this copy is live and is read.
   * Otherwise 0 (all copies mirror copy 0).
   */
  readonly activeFat: number;
  /** FAT12/16: entries in the fixed root directory. 0 on FAT32. */
  readonly rootEntryCount: number;
  /** FAT12/16: byte offset and size of the fixed root directory. 0 on FAT32. */
  readonly rootDirOffset: number;
  readonly rootDirBytes: number;
  /** FAT32: first cluster of the root directory. 0 on FAT12/16. */
  readonly rootCluster: number;
  /** FAT32: sector number of the FSInfo structure, or 0 when there is none. */
  readonly fsInfoSector: number;
  /** Byte offset of cluster 2 (the first data cluster). */
  readonly dataOffset: number;
  /** Number of data clusters; valid cluster numbers are 2 .. clusterCount + 1. */
  readonly clusterCount: number;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0;
}

/** Parses and validates the boot sector of `image` (a whole FAT image). */
export function parseBootSector(image: Uint8Array): FatGeometry {
  if (image.length < 512) throw new FatFormatError('boot sector', 0, `image is ${image.length} bytes, smaller than one sector`);
  const v = new BinaryView(image);
  const fail = (offset: number, msg: string): never => {
    throw new FatFormatError('boot sector', offset, msg);
  };

  // A jump instruction (EB xx 90 or E9 xx xx) opens every FAT boot sector (fatgen103 3.1). Some
  // tools leave it zero on non-bootable images, so only the 0x55AA-less + no-jump case is refused.
  const jmp = v.u8(BS_JMP_BOOT);
  const sig = v.u16le(510);
  if (jmp !== 0xeb && jmp !== 0xe9 && sig !== 0xaa55) fail(BS_JMP_BOOT, 'no jump instruction and no 0x55AA signature: not a FAT boot sector');

  const bytesPerSector = v.u16le(BPB_BYTS_PER_SEC);
  if (bytesPerSector < 512 || bytesPerSector > 4096 || !isPowerOfTwo(bytesPerSector))
    fail(BPB_BYTS_PER_SEC, `bytes per sector ${bytesPerSector} is not a power of two in 512..4096`);
  const sectorsPerCluster = v.u8(BPB_SEC_PER_CLUS);
  if (!isPowerOfTwo(sectorsPerCluster)) fail(BPB_SEC_PER_CLUS, `sectors per cluster ${sectorsPerCluster} is not a power of two`);
  const reservedSectors = v.u16le(BPB_RSVD_SEC_CNT);
  if (reservedSectors < 1) fail(BPB_RSVD_SEC_CNT, 'reserved sector count is 0 (the boot sector itself is reserved)');
  const fatCount = v.u8(BPB_NUM_FATS);
  if (fatCount < 1 || fatCount > 4) fail(BPB_NUM_FATS, `FAT count ${fatCount} is not in 1..4`);
  const rootEntryCount = v.u16le(BPB_ROOT_ENT_CNT);
  const totSec16 = v.u16le(BPB_TOT_SEC16);
  const media = v.u8(BPB_MEDIA);
  const fatSz16 = v.u16le(BPB_FAT_SZ16);
  const totSec32 = v.u32le(BPB_TOT_SEC32);

  const totalSectors = totSec16 !== 0 ? totSec16 : totSec32;
  if (totalSectors === 0) fail(BPB_TOT_SEC16, 'total sector count is 0');
  // Every region inside the image: the volume (total sectors) covers every region checked below.
  const volumeBytes = totalSectors * bytesPerSector;
  if (volumeBytes > image.length)
    fail(totSec16 !== 0 ? BPB_TOT_SEC16 : BPB_TOT_SEC32, `volume of ${volumeBytes} bytes is larger than the image (${image.length} bytes)`);
  // FAT32 has BPB_FATSz16 = 0 and the size in BPB_FATSz32 (fatgen103 3.3).
  const fatSizeSectors = fatSz16 !== 0 ? fatSz16 : v.u32le(BPB_FAT_SZ32);
  if (fatSizeSectors === 0) fail(BPB_FAT_SZ16, 'FAT size is 0');

  const rootDirSectors = Math.ceil((rootEntryCount * 32) / bytesPerSector);
  const dataStartSector = reservedSectors + fatCount * fatSizeSectors + rootDirSectors;
  if (dataStartSector >= totalSectors)
    fail(BPB_TOT_SEC16, `metadata (${dataStartSector} sectors) does not leave room for data in ${totalSectors} sectors`);
  const clusterCount = Math.floor((totalSectors - dataStartSector) / sectorsPerCluster);
  if (clusterCount < 1) fail(BPB_TOT_SEC16, 'no data cluster');
  const fatType: FatType = clusterCount <= FAT12_MAX_CLUSTERS ? 12 : clusterCount <= FAT16_MAX_CLUSTERS ? 16 : 32;
  if (clusterCount > FAT32_MAX_CLUSTERS) fail(BPB_TOT_SEC16, `${clusterCount} clusters is more than FAT32 can address`);

  let activeFat = 0;
  let rootCluster = 0;
  let fsInfoSector = 0;
  if (fatType === 32) {
    if (rootEntryCount !== 0) fail(BPB_ROOT_ENT_CNT, `FAT32 volume with ${rootEntryCount} fixed root entries`);
    if (fatSz16 !== 0) fail(BPB_FAT_SZ16, 'FAT32 volume with a 16-bit FAT size');
    const extFlags = v.u16le(BPB_EXT_FLAGS);
    // Bit 7: mirroring disabled, bits 0-3: the only active FAT (fatgen103 3.3).
    if (extFlags & 0x80) {
      activeFat = extFlags & 0x0f;
      if (activeFat >= fatCount) fail(BPB_EXT_FLAGS, `active FAT ${activeFat} of ${fatCount}`);
    }
    rootCluster = v.u32le(BPB_ROOT_CLUS) & 0x0fffffff;
    if (rootCluster < 2 || rootCluster > clusterCount + 1) fail(BPB_ROOT_CLUS, `root cluster ${rootCluster} is outside 2..${clusterCount + 1}`);
    fsInfoSector = v.u16le(BPB_FS_INFO);
    // 0 and 0xFFFF both mean "no FSInfo" in the wild; anything else must be a reserved sector.
    if (fsInfoSector === 0xffff || fsInfoSector === 0 || fsInfoSector >= reservedSectors) fsInfoSector = 0;
  } else if (rootEntryCount === 0) {
    fail(BPB_ROOT_ENT_CNT, `FAT${fatType} volume without a root directory`);
  }

  const clusterSizeBytes = bytesPerSector * sectorsPerCluster;
  const fatOffset = reservedSectors * bytesPerSector;
  const fatSizeBytes = fatSizeSectors * bytesPerSector;
  const rootDirOffset = fatType === 32 ? 0 : fatOffset + fatCount * fatSizeBytes;
  const rootDirBytes = fatType === 32 ? 0 : rootEntryCount * 32;
  const dataOffset = dataStartSector * bytesPerSector;

  // The FAT must hold an entry for every cluster (plus the two reserved entries).
  const fatBitsNeeded = (clusterCount + 2) * fatType;
  if (fatSizeBytes * 8 < fatBitsNeeded) fail(BPB_FAT_SZ16, `FAT of ${fatSizeBytes} bytes cannot map ${clusterCount} clusters`);
  const dataEnd = dataOffset + clusterCount * clusterSizeBytes;
  if (dataEnd > image.length) fail(BPB_TOT_SEC16, `data region ends at ${dataEnd}, past the image end ${image.length}`);

  return {
    fatType,
    bytesPerSector,
    sectorsPerCluster,
    clusterSizeBytes,
    reservedSectors,
    fatCount,
    fatSizeSectors,
    totalSectors,
    media,
    fatOffset,
    fatSizeBytes,
    activeFat,
    rootEntryCount: fatType === 32 ? 0 : rootEntryCount,
    rootDirOffset,
    rootDirBytes,
    rootCluster,
    fsInfoSector,
    dataOffset,
    clusterCount,
  };
}

/**
 * The volume size a boot sector declares (total sectors times bytes per sector), read from its
 * first 512 bytes alone, with parseBootSector's checks of those fields. For callers that hold
 * only the start of an image: the ISO reader sizes an El Torito EFI image this way when no
 * directory record gives its size and the catalog's sector count is too small (often 1 or 4).
 */
export function bootSectorVolumeBytes(sector: Uint8Array): number {
  if (sector.length < 512) throw new FatFormatError('boot sector', 0, `${sector.length} bytes, smaller than one sector`);
  const v = new BinaryView(sector.subarray(0, 512));
  const fail = (offset: number, msg: string): never => {
    throw new FatFormatError('boot sector', offset, msg);
  };
  const jmp = v.u8(BS_JMP_BOOT);
  if (jmp !== 0xeb && jmp !== 0xe9 && v.u16le(510) !== 0xaa55)
    fail(BS_JMP_BOOT, 'no jump instruction and no 0x55AA signature: not a FAT boot sector');
  const bytesPerSector = v.u16le(BPB_BYTS_PER_SEC);
  if (bytesPerSector < 512 || bytesPerSector > 4096 || !isPowerOfTwo(bytesPerSector)) {
    fail(BPB_BYTS_PER_SEC, `bytes per sector ${bytesPerSector} is not a power of two in 512..4096`);
  }
  if (!isPowerOfTwo(v.u8(BPB_SEC_PER_CLUS))) fail(BPB_SEC_PER_CLUS, `sectors per cluster ${v.u8(BPB_SEC_PER_CLUS)} is not a power of two`);
  if (v.u16le(BPB_RSVD_SEC_CNT) < 1) fail(BPB_RSVD_SEC_CNT, 'reserved sector count is 0 (the boot sector itself is reserved)');
  const fatCount = v.u8(BPB_NUM_FATS);
  if (fatCount < 1 || fatCount > 4) fail(BPB_NUM_FATS, `FAT count ${fatCount} is not in 1..4`);
  const totSec16 = v.u16le(BPB_TOT_SEC16);
  const totalSectors = totSec16 !== 0 ? totSec16 : v.u32le(BPB_TOT_SEC32);
  if (totalSectors === 0) fail(BPB_TOT_SEC16, 'total sector count is 0');
  return totalSectors * bytesPerSector;
}

/** Byte offset of `cluster` in the image (cluster must be 2 .. clusterCount + 1). */
export function clusterOffset(geo: FatGeometry, cluster: number): number {
  if (!Number.isInteger(cluster) || cluster < 2 || cluster > geo.clusterCount + 1) {
    throw new FatFormatError('cluster', geo.dataOffset, `cluster ${cluster} is outside 2..${geo.clusterCount + 1}`);
  }
  return geo.dataOffset + (cluster - 2) * geo.clusterSizeBytes;
}
