// The index of an ISO image: what src/iso9660's reader produces and what src/remaster, the
// inspect command and the HTTP layer consume. Plain readonly data (it crosses worker boundaries
// by structured clone). All offsets are absolute byte offsets in the image; all `lba` values
// are 2048-byte logical blocks.
//
// References: ECMA-119 (ISO 9660), Joliet, ISO 9660:1999, SUSP 1.12 / RRIP 1.12, El Torito 1.0,
// UEFI 2.x (GPT), MBR.

export const SECTOR_SIZE = 2048;

export type TreeKind = 'iso9660' | 'joliet' | 'iso9660-1999';

export type VolumeDescriptorKind = 'primary' | 'supplementary' | 'enhanced' | 'boot-record' | 'partition' | 'terminator';

export interface VolumeDescriptorInfo {
  readonly kind: VolumeDescriptorKind;
  /** Byte offset of the descriptor (16 * 2048 for the first). */
  readonly offset: number;
  /** Volume identifier (trimmed). Empty for boot record / terminator. */
  readonly volumeId: string;
  /** Volume space size in logical blocks (primary/supplementary/enhanced), else 0. */
  readonly volumeSpaceSize: number;
  /** Logical block size (2048 on every image we accept). */
  readonly logicalBlockSize: number;
  /** For supplementary descriptors: the Joliet level (1..3) if its escape sequences say Joliet. */
  readonly jolietLevel?: number;
  /** For primary/supplementary/enhanced: the tree this descriptor roots. */
  readonly tree?: TreeKind;
  /** For the boot record: the El Torito boot catalog LBA. */
  readonly bootCatalogLba?: number;
  /** Primary: the 512-byte application-use field at offset 883 (implantisomd5 writes here). */
  readonly applicationUseOffset?: number;
}

export interface TreeInfo {
  readonly kind: TreeKind;
  /** Index into IsoIndex.descriptors. */
  readonly descriptorIndex: number;
  readonly rootLba: number;
  readonly rootLengthBytes: number;
  /** Rock Ridge seen in this tree (SUSP SP + ER or RR entries). */
  readonly rockRidge: boolean;
  /** SUSP bytes to skip at the start of each System Use area (SP's LEN_SKP). */
  readonly suspSkip: number;
}

export interface Extent {
  readonly lba: number;
  readonly lengthBytes: number;
}

/** One directory record somewhere in the image that describes (one extent of) a file or dir. */
export interface DirectoryRecordRef {
  readonly tree: TreeKind;
  /** Byte offset of the record's first byte (its length byte). */
  readonly offset: number;
  /** The record's length (byte 0). */
  readonly length: number;
  /** For multi-extent files, which extent (0-based) this record describes. */
  readonly extentIndex: number;
  /** The name as it appears in this tree (ISO name without `;1`, Joliet UCS-2 decoded, or RR NM). */
  readonly name: string;
}

export interface IndexedFile {
  /** Best path: Rock Ridge names where present, else Joliet, else ISO 9660 (version stripped). Starts with '/'. */
  readonly path: string;
  /** The path in each tree where the file appears (Rock Ridge names in an iso9660 tree that has them). */
  readonly paths: ReadonlyArray<{ readonly tree: TreeKind; readonly path: string }>;
  /** The path in the iso9660 tree's own identifiers (version stripped), when Rock Ridge names differ from them. */
  readonly isoPath?: string;
  /** Total data length in bytes (sum of extents). */
  readonly size: number;
  /** Extents in file order (more than one for multi-extent files). */
  readonly extents: readonly Extent[];
  /** Every directory record, in every tree, that describes this file. */
  readonly records: readonly DirectoryRecordRef[];
  /** File flags: hidden (existence bit) or associated file. */
  readonly hidden: boolean;
  /** Rock Ridge PX mode when present. */
  readonly mode?: number;
}

export interface IndexedDirectory {
  readonly path: string;
  readonly extent: Extent;
  /** The records in parent directories (and RE/CL relocation targets) that point at this directory. */
  readonly records: readonly DirectoryRecordRef[];
}

export type BootPlatform = 'bios' | 'efi' | 'ppc' | 'mac' | 'other';

export interface BootEntry {
  readonly platform: BootPlatform;
  /** Raw platform id from the validation entry or section header. */
  readonly platformId: number;
  readonly bootable: boolean;
  /** 0 = no emulation, 1..3 floppy, 4 = hard disk. */
  readonly mediaType: number;
  readonly loadRba: number;
  /** Sector count from the catalog, in 512-byte virtual sectors. */
  readonly sectorCount: number;
  /** True size in bytes: from the directory record that points at loadRba, else the FAT boot sector, else sectorCount * 512. */
  readonly sizeBytes: number;
  /** Where sizeBytes came from. */
  readonly sizeFrom: 'directory-record' | 'fat-boot-sector' | 'catalog';
  /** Path in the ISO tree of the file at loadRba, if any. */
  readonly path?: string;
  /** Byte offset of the catalog entry. */
  readonly entryOffset: number;
  /** Whether the image carries an isolinux-style boot info table (bytes 8..63 of the image patched by mkisofs -boot-info-table). */
  readonly bootInfoTable?: boolean;
}

export interface ElToritoCatalog {
  readonly catalogLba: number;
  /** Byte offset of the boot record volume descriptor. */
  readonly bootRecordOffset: number;
  readonly entries: readonly BootEntry[];
}

export interface Partition {
  readonly scheme: 'mbr' | 'gpt';
  /** 1-based partition number. */
  readonly number: number;
  /** MBR: type byte as hex ('0xef'); GPT: type GUID (lower case). */
  readonly type: string;
  readonly startByte: number;
  readonly sizeBytes: number;
  readonly name?: string;
  readonly bootable?: boolean;
  /** True when the partition's type says EFI System Partition. */
  readonly efiSystem: boolean;
}

export interface IsoIndex {
  /** Size of the byte source (the whole upstream image, appended partitions included). */
  readonly imageSize: number;
  /** Volume label from the primary descriptor. */
  readonly volumeId: string;
  /** Primary volume space size in blocks. */
  readonly volumeSpaceSize: number;
  readonly descriptors: readonly VolumeDescriptorInfo[];
  readonly trees: readonly TreeInfo[];
  /** Every file, each once (records from all trees merged by extent), sorted by path. */
  readonly files: readonly IndexedFile[];
  readonly directories: readonly IndexedDirectory[];
  readonly elTorito?: ElToritoCatalog;
  readonly partitions: readonly Partition[];
  /** Metadata bytes read to build the index. */
  readonly bytesRead: number;
  /** Non-fatal oddities found (with offsets), e.g. a tree that disagrees with another. */
  readonly warnings: readonly string[];
}
