// The volume descriptor set (ECMA-119 8): primary, supplementary (Joliet when its escape
// sequences say so), enhanced (ISO 9660:1999: a supplementary descriptor of version 2), boot
// record (El Torito 1.0 section 2.0), partition, terminator. Read from LBA 16 until the
// terminator, capped by maxDescriptors.

import { BinaryView, latin1 } from '../binary.js';
import { IsoFormatError, LimitExceededError } from '../errors.js';
import { parseDirectoryRecord, type DirectoryRecord } from './directory-record.js';
import type { MetadataReader } from './limits.js';
import { SECTOR_SIZE, type TreeKind, type VolumeDescriptorInfo, type VolumeDescriptorKind } from './types.js';

export const FIRST_DESCRIPTOR_LBA = 16;

// ECMA-119 8.1 / 8.4 field offsets.
const VD_TYPE = 0;
const VD_STANDARD_ID = 1; // "CD001"
const VD_VERSION = 6;
const BR_SYSTEM_ID = 7; // El Torito: "EL TORITO SPECIFICATION" padded with zeros
const BR_CATALOG_LBA = 71; // El Torito: absolute pointer to the boot catalog, LE 32
const PVD_VOLUME_ID = 40; // 32 bytes
const PVD_VOLUME_SPACE_SIZE = 80; // both-endian 32
const SVD_ESCAPE_SEQUENCES = 88; // 32 bytes
const PVD_LOGICAL_BLOCK_SIZE = 128; // both-endian 16
const PVD_ROOT_RECORD = 156; // 34 bytes
const PVD_FILE_STRUCTURE_VERSION = 881;
const PVD_APPLICATION_USE = 883;

const TYPE_BOOT_RECORD = 0;
const TYPE_PRIMARY = 1;
const TYPE_SUPPLEMENTARY = 2;
const TYPE_PARTITION = 3;
const TYPE_TERMINATOR = 255;

export interface ParsedDescriptor {
  readonly info: VolumeDescriptorInfo;
  /** The root directory record (primary, supplementary, enhanced). */
  readonly root?: DirectoryRecord;
}

/** Joliet level from the escape sequences field (Joliet spec 5.0): %/@ 1, %/C 2, %/E 3. */
export function jolietLevel(escapes: Uint8Array): number | undefined {
  const s = latin1(escapes);
  if (s.includes('%/E')) return 3;
  if (s.includes('%/C')) return 2;
  if (s.includes('%/@')) return 1;
  return undefined;
}

function decodeUcs2be(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
  return s;
}

export function parseVolumeDescriptor(bytes: Uint8Array, offset: number): ParsedDescriptor {
  const v = new BinaryView(bytes, offset);
  const type = v.u8(VD_TYPE);
  const id = v.ascii(VD_STANDARD_ID, 5);
  if (id !== 'CD001')
    throw new IsoFormatError('volume descriptor', offset + VD_STANDARD_ID, `standard identifier is ${JSON.stringify(id)}, expected "CD001"`);
  const version = v.u8(VD_VERSION);
  const base = { offset, volumeId: '', volumeSpaceSize: 0, logicalBlockSize: SECTOR_SIZE };

  if (type === TYPE_BOOT_RECORD) {
    const systemId = v.ascii(BR_SYSTEM_ID, 32).replace(/\0+$/, '');
    const info: VolumeDescriptorInfo =
      systemId === 'EL TORITO SPECIFICATION'
        ? { ...base, kind: 'boot-record', bootCatalogLba: v.u32le(BR_CATALOG_LBA) }
        : { ...base, kind: 'boot-record' };
    return { info };
  }
  if (type === TYPE_TERMINATOR) return { info: { ...base, kind: 'terminator' } };
  if (type === TYPE_PARTITION) return { info: { ...base, kind: 'partition' } };
  if (type !== TYPE_PRIMARY && type !== TYPE_SUPPLEMENTARY) {
    throw new IsoFormatError('volume descriptor', offset, `type ${type} is not 0, 1, 2, 3 or 255`);
  }

  const logicalBlockSize = v.u16le(PVD_LOGICAL_BLOCK_SIZE);
  if (logicalBlockSize !== SECTOR_SIZE) {
    throw new IsoFormatError('volume descriptor', offset + PVD_LOGICAL_BLOCK_SIZE, `logical block size ${logicalBlockSize}, expected 2048`);
  }
  const root = parseDirectoryRecord(v, PVD_ROOT_RECORD);
  if (root.length !== 34 || root.special !== 'self') {
    throw new IsoFormatError('root directory record', offset + PVD_ROOT_RECORD, 'expected a 34-byte record named 0x00');
  }
  const volumeSpaceSize = v.u32le(PVD_VOLUME_SPACE_SIZE);
  let kind: VolumeDescriptorKind = 'primary';
  let tree: TreeKind = 'iso9660';
  let joliet: number | undefined;
  let volumeId: string;
  if (type === TYPE_PRIMARY) {
    volumeId = v.ascii(PVD_VOLUME_ID, 32).trim();
  } else {
    joliet = jolietLevel(v.slice(SVD_ESCAPE_SEQUENCES, 32));
    // ISO 9660:1999 8.5: the enhanced volume descriptor has version 2 and file structure version 2.
    if (version === 2 && v.u8(PVD_FILE_STRUCTURE_VERSION) === 2) {
      kind = 'enhanced';
      tree = 'iso9660-1999';
      volumeId = v.ascii(PVD_VOLUME_ID, 32).trim();
    } else {
      kind = 'supplementary';
      tree = 'joliet';
      volumeId = joliet !== undefined ? decodeUcs2be(v.slice(PVD_VOLUME_ID, 32)).trim() : v.ascii(PVD_VOLUME_ID, 32).trim();
    }
  }
  const info: VolumeDescriptorInfo = {
    ...base,
    kind,
    volumeId,
    volumeSpaceSize,
    ...(kind === 'supplementary' && joliet === undefined ? {} : { tree }),
    ...(joliet !== undefined && kind === 'supplementary' ? { jolietLevel: joliet } : {}),
    ...(kind === 'primary' ? { applicationUseOffset: offset + PVD_APPLICATION_USE } : {}),
  };
  return { info, root };
}

/** Reads descriptors from LBA 16 up to and including the terminator. */
export async function readDescriptorSet(reader: MetadataReader): Promise<ParsedDescriptor[]> {
  const out: ParsedDescriptor[] = [];
  for (let i = 0; ; i++) {
    const offset = (FIRST_DESCRIPTOR_LBA + i) * SECTOR_SIZE;
    if (i >= reader.limits.maxDescriptors) {
      throw new LimitExceededError('volume descriptors', offset, `no terminator within ${reader.limits.maxDescriptors} descriptors`);
    }
    if (offset + SECTOR_SIZE > reader.size) {
      throw new IsoFormatError('volume descriptor set', offset, `image ends (${reader.size} bytes) before a set terminator`);
    }
    const d = parseVolumeDescriptor(await reader.read(offset, SECTOR_SIZE), offset);
    out.push(d);
    if (d.info.kind === 'terminator') break;
  }
  if (!out.some((d) => d.info.kind === 'primary')) {
    throw new IsoFormatError('volume descriptor set', FIRST_DESCRIPTOR_LBA * SECTOR_SIZE, 'no primary volume descriptor');
  }
  return out;
}
