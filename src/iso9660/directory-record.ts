// Directory records (ECMA-119 9.1) and the walk over one directory extent (ECMA-119 6.8.1.1:
// records never cross a logical sector; a zero length byte means the rest of the sector is
// padding). Both-endian fields are read from their little-endian half.

import { BinaryView, u32leAt } from '../binary.js';
import { IsoFormatError } from '../errors.js';
import { SECTOR_SIZE } from './types.js';

// ECMA-119 9.1 field offsets.
const DR_LENGTH = 0; // Length of Directory Record
const DR_EXT_ATTR_LENGTH = 1; // Extended Attribute Record Length (in logical blocks)
const DR_EXTENT = 2; // Location of Extent, both-endian 32
const DR_DATA_LENGTH = 10; // Data Length, both-endian 32
const DR_FLAGS = 25; // File Flags
const DR_FILE_UNIT_SIZE = 26; // interleaved mode
const DR_INTERLEAVE_GAP = 27;
const DR_NAME_LENGTH = 32; // Length of File Identifier
const DR_NAME = 33; // File Identifier
export const DR_MIN_LENGTH = 33;

// ECMA-119 9.1.6 file flags.
export const FLAG_EXISTENCE = 0x01; // "hidden"
export const FLAG_DIRECTORY = 0x02;
export const FLAG_ASSOCIATED = 0x04;
export const FLAG_MULTI_EXTENT = 0x80; // not the final record of the file

export interface DirectoryRecord {
  /** Absolute byte offset of the record's length byte. */
  readonly offset: number;
  readonly length: number;
  readonly extAttrLength: number;
  /** Location of Extent as recorded (the extended attribute record, if any, comes first). */
  readonly lba: number;
  readonly dataLength: number;
  readonly flags: number;
  readonly interleaved: boolean;
  /** The little- and big-endian halves of Location of Extent and Data Length agree (ECMA-119 7.3.3). */
  readonly bothEndianOk: boolean;
  /** Raw file identifier bytes. */
  readonly nameBytes: Uint8Array;
  /** '.' (0x00) or '..' (0x01) record. */
  readonly special: 'self' | 'parent' | undefined;
  /** System Use area: absolute offset and the bytes themselves. */
  readonly systemUseOffset: number;
  readonly systemUse: Uint8Array;
}

/** Parses the record at `pos` of `view`; the caller has checked the length byte is non-zero. */
export function parseDirectoryRecord(view: BinaryView, pos: number): DirectoryRecord {
  const offset = view.base + pos;
  const length = view.u8(pos + DR_LENGTH);
  if (length < DR_MIN_LENGTH) throw new IsoFormatError('directory record', offset, `length ${length} is below the minimum of ${DR_MIN_LENGTH}`);
  if (pos + length > view.length) throw new IsoFormatError('directory record', offset, `length ${length} runs past the end of its directory extent`);
  // Fields are read at `pos` of the extent's view (no view per record: an image has thousands);
  // every read below lies within [pos, pos + length), checked above.
  const nameLength = view.u8(pos + DR_NAME_LENGTH);
  if (nameLength === 0) throw new IsoFormatError('directory record', offset, 'file identifier length is 0');
  if (length < DR_MIN_LENGTH + nameLength) {
    throw new IsoFormatError('directory record', offset, `length ${length} is shorter than 33 + identifier length ${nameLength}`);
  }
  const nameBytes = view.slice(pos + DR_NAME, nameLength);
  // ECMA-119 9.1.12: a padding byte follows an identifier of even length.
  const suStart = Math.min(length, DR_NAME + nameLength + (nameLength % 2 === 0 ? 1 : 0));
  let special: DirectoryRecord['special'];
  if (nameLength === 1 && nameBytes[0] === 0) special = 'self';
  else if (nameLength === 1 && nameBytes[0] === 1) special = 'parent';
  const lba = view.u32le(pos + DR_EXTENT);
  const dataLength = view.u32le(pos + DR_DATA_LENGTH);
  return {
    offset,
    length,
    extAttrLength: view.u8(pos + DR_EXT_ATTR_LENGTH),
    lba,
    dataLength,
    flags: view.u8(pos + DR_FLAGS),
    interleaved: view.u8(pos + DR_FILE_UNIT_SIZE) !== 0 || view.u8(pos + DR_INTERLEAVE_GAP) !== 0,
    bothEndianOk: lba === view.u32be(pos + DR_EXTENT + 4) && dataLength === view.u32be(pos + DR_DATA_LENGTH + 4),
    nameBytes,
    special,
    systemUseOffset: offset + suStart,
    systemUse: view.slice(pos + suStart, length - suStart),
  };
}

/**
 * Every record of a directory extent, in order. `bytes` holds the whole extent, `base` is its
 * absolute offset (sector aligned).
 */
export function parseDirectoryExtent(bytes: Uint8Array, base: number): DirectoryRecord[] {
  const view = new BinaryView(bytes, base);
  const out: DirectoryRecord[] = [];
  for (let pos = recordAt(bytes, 0); pos < bytes.length; pos = recordAt(bytes, pos + bytes[pos]!)) {
    const length = bytes[pos]!;
    const inSector = SECTOR_SIZE - (pos % SECTOR_SIZE);
    if (length > inSector) {
      throw new IsoFormatError('directory record', base + pos, `length ${length} crosses a sector boundary (${inSector} bytes left in the sector)`);
    }
    out.push(parseDirectoryRecord(view, pos));
  }
  return out;
}

/**
 * Where the next record starts at or after `pos`: a zero length byte means the rest of its sector
 * is unused (ECMA-119 6.8.1.1). The extent's length when none is left.
 */
function recordAt(bytes: Uint8Array, pos: number): number {
  let at = pos;
  while (at < bytes.length && bytes[at] === 0) at = (Math.floor(at / SECTOR_SIZE) + 1) * SECTOR_SIZE;
  return Math.min(at, bytes.length);
}

/**
 * The directories an extent lists (byte offset and length of each one's extent), without making
 * its records: what reading ahead needs (directory-prefetch.ts), at a fraction of a full parse.
 * Stops quietly at the first malformed record; the walk's own parse reports it.
 */
export function listedDirectories(bytes: Uint8Array, out: { offset: number; length: number }[]): void {
  for (let pos = recordAt(bytes, 0); pos < bytes.length; pos = recordAt(bytes, pos + bytes[pos]!)) {
    const length = bytes[pos]!;
    if (length < DR_MIN_LENGTH || pos + length > bytes.length || length > SECTOR_SIZE - (pos % SECTOR_SIZE)) return;
    const nameLength = bytes[pos + DR_NAME_LENGTH]!;
    const special = nameLength === 1 && bytes[pos + DR_NAME]! <= 1;
    if (!special && bytes[pos + DR_FLAGS]! & FLAG_DIRECTORY) {
      out.push({ offset: u32leAt(bytes, pos + DR_EXTENT) * SECTOR_SIZE, length: u32leAt(bytes, pos + DR_DATA_LENGTH) });
    }
  }
}
