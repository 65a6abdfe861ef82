// Walks one directory tree (ECMA-119 6.8 hierarchy; Joliet; ISO 9660:1999) from its root record:
// names per tree (ISO 9660 d-characters with `;1` and a trailing '.' stripped, Joliet UCS-2
// big-endian, Rock Ridge NM where the tree carries SUSP), multi-extent files (ECMA-119 9.1.6
// bit 7: records of one file follow each other with the same name), hidden/associated flags,
// and Rock Ridge deep-directory relocation (RRIP 4.1.5: CL marks where a relocated directory
// really lives; its RE-marked record under rr_moved is not listed).
//
// Untrusted-input guards: depth (at the real place after relocation), entry count shared across
// trees, directory extent size, and loops: a directory extent seen twice in one tree is an
// IsoFormatError, so a cyclic or diamond-shaped hierarchy can neither hang nor multiply work.

import { latin1 } from '../binary.js';
import { IsoFormatError, LimitExceededError } from '../errors.js';
import {
  FLAG_ASSOCIATED,
  FLAG_DIRECTORY,
  FLAG_EXISTENCE,
  FLAG_MULTI_EXTENT,
  parseDirectoryExtent,
  type DirectoryRecord,
} from './directory-record.js';
import type { MetadataReader } from './limits.js';
import { parseRockRidge, type RockRidgeInfo } from './rock-ridge.js';
import { extensionReferences, parseSp, readSuspEntries, ROCK_RIDGE_IDS } from './susp.js';
import { SECTOR_SIZE, type DirectoryRecordRef, type Extent, type TreeKind } from './types.js';

export interface WalkedFile {
  readonly tree: TreeKind;
  readonly path: string;
  /** The path in plain ISO 9660 identifiers, when Rock Ridge names made `path` differ from it. */
  readonly isoPath?: string;
  readonly dirPath: string;
  readonly extents: Extent[];
  readonly records: DirectoryRecordRef[];
  readonly hidden: boolean;
  readonly associated: boolean;
  readonly mode?: number;
  readonly symlink?: string;
}

export interface WalkedDirectory {
  readonly tree: TreeKind;
  readonly path: string;
  readonly extent: Extent;
  readonly records: DirectoryRecordRef[];
}

export interface WalkedTree {
  readonly kind: TreeKind;
  readonly rockRidge: boolean;
  readonly suspSkip: number;
  readonly files: WalkedFile[];
  readonly directories: WalkedDirectory[];
  /** Non-fatal oddities, capped at MAX_WARNINGS. */
  readonly warnings: string[];
}

const MAX_WARNINGS = 20;

/** Shared across the trees of one image so the entry cap covers them all. */
export interface WalkBudget {
  entries: number;
  pathChars: number;
}

/** ISO 9660 name: strip the `;version` and a trailing '.' of an extension-less name. */
export function stripIsoName(name: string): string {
  let s = name;
  const semi = s.lastIndexOf(';');
  if (semi >= 0 && /^\d*$/.test(s.slice(semi + 1))) s = s.slice(0, semi);
  if (s.endsWith('.') && s.length > 1) s = s.slice(0, -1);
  return s;
}

function decodeName(kind: TreeKind, bytes: Uint8Array): string {
  if (kind === 'joliet') {
    let s = '';
    for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
    // Joliet names keep the `;1`; a trailing '.' is not special there, but strip `;n`.
    const semi = s.lastIndexOf(';');
    return semi >= 0 && /^\d+$/.test(s.slice(semi + 1)) ? s.slice(0, semi) : s;
  }
  return stripIsoName(latin1(bytes));
}

function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function checkName(name: string, offset: number): void {
  // A '/' or NUL in a name would forge another path; '.' and '..' would escape the tree.
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new IsoFormatError('directory record', offset, `file name ${JSON.stringify(name)} is not a valid path component`);
  }
}

export async function walkTree(reader: MetadataReader, kind: TreeKind, root: DirectoryRecord, budget: WalkBudget): Promise<WalkedTree> {
  const limits = reader.limits;
  const files: WalkedFile[] = [];
  const directories: WalkedDirectory[] = [];
  const visited = new Set<number>();
  const reRecords: { lba: number; ref: DirectoryRecordRef }[] = [];
  const warnings: string[] = [];
  let mismatched = 0;

  const readExtent = async (lba: number, lengthBytes: number, pointerOffset: number): Promise<DirectoryRecord[]> => {
    if (lengthBytes > limits.maxDirectoryBytes) {
      throw new LimitExceededError('directory extent size', pointerOffset, `${lengthBytes} bytes, cap ${limits.maxDirectoryBytes}`);
    }
    if (visited.has(lba)) {
      throw new IsoFormatError('directory record', pointerOffset, `points at directory extent LBA ${lba}, which is already being walked (a loop)`);
    }
    visited.add(lba);
    const start = lba * SECTOR_SIZE;
    const records = parseDirectoryExtent(await reader.readPointed(start, lengthBytes, 'directory record', pointerOffset), start);
    reader.prefetch?.follow(records);
    return records;
  };

  const rootRecords = await readExtent(root.lba, root.dataLength, root.offset);
  const self = rootRecords[0];
  if (self?.special !== 'self') throw new IsoFormatError('root directory', root.lba * SECTOR_SIZE, 'first record is not "."');

  // SUSP 5.3: SP at the start of the root's "." System Use area turns SUSP on for this tree.
  let susp = false;
  let suspSkip = 0;
  let rockRidge = false;
  if (kind !== 'joliet') {
    const sp = parseSp(self.systemUse);
    if (sp !== undefined) {
      susp = true;
      suspSkip = sp;
      const rootEntries = await readSuspEntries(reader, self.systemUse, self.systemUseOffset, 0);
      rockRidge = extensionReferences(rootEntries).some((er) => ROCK_RIDGE_IDS.includes(er.id));
    }
  }

  const rootRef: DirectoryRecordRef = { tree: kind, offset: root.offset, length: root.length, extentIndex: 0, name: '' };
  directories.push({ tree: kind, path: '/', extent: { lba: root.lba, lengthBytes: root.dataLength }, records: [rootRef] });

  // isoDirPath: the directory's path in the records' own identifiers, which Rock Ridge NM hides.
  const walk = async (records: DirectoryRecord[], dirPath: string, isoDirPath: string, depth: number): Promise<void> => {
    let pending: { name: string; file: WalkedFile } | undefined;
    for (const rec of records) {
      if (rec.special) continue;
      budget.entries++;
      if (budget.entries > limits.maxEntries) throw new LimitExceededError('directory entries', rec.offset, `more than ${limits.maxEntries} records`);

      let rr: RockRidgeInfo | undefined;
      if (susp) {
        const entries = readSuspEntries(reader, rec.systemUse, rec.systemUseOffset, suspSkip);
        // Awaited only when a continuation area had to be read: an await per record costs.
        rr = parseRockRidge(entries instanceof Promise ? await entries : entries);
        if (rr.present) rockRidge = true;
      }
      // We read the little-endian halves; a writer or an editor that updated only one half
      // leaves an image other readers (big-endian ones) see differently.
      if (!rec.bothEndianOk && mismatched++ < MAX_WARNINGS) {
        warnings.push(`${kind} directory record at byte ${rec.offset}: little- and big-endian extent/size fields differ; using little-endian`);
      }
      const name = rr?.name ?? decodeName(kind, rec.nameBytes);
      checkName(name, rec.offset);
      const ref = (extentIndex: number): DirectoryRecordRef => ({ tree: kind, offset: rec.offset, length: rec.length, extentIndex, name });
      const path = joinPath(dirPath, name);
      budget.pathChars += path.length;
      if (budget.pathChars > limits.maxPathChars) {
        throw new LimitExceededError('path characters', rec.offset, `the paths listed pass ${limits.maxPathChars} characters in all`);
      }
      const isoPath = rr?.name === undefined && isoDirPath === dirPath ? path : joinPath(isoDirPath, decodeName(kind, rec.nameBytes));

      if (pending && pending.name !== name) {
        throw new IsoFormatError('directory record', rec.offset, `multi-extent file ${JSON.stringify(pending.name)} ends without its final record`);
      }
      if (rr?.relocated) {
        // RRIP 4.1.5.2: listed at its real place through the CL record; its RE record still
        // points at the directory, so it belongs to that directory's records.
        reRecords.push({ lba: rec.lba, ref: ref(0) });
        continue;
      }
      if (rr?.childLinkLba !== undefined) {
        // RRIP 4.1.5.1: this record stands for the directory at the child link.
        if (depth + 1 > limits.maxDepth) throw new LimitExceededError('directory depth', rec.offset, `deeper than ${limits.maxDepth}`);
        const at = rr.childLinkLba * SECTOR_SIZE;
        const first = await reader.readPointed(at, SECTOR_SIZE, 'Rock Ridge CL entry', rec.systemUseOffset);
        const dot = parseDirectoryExtent(first, at)[0];
        if (dot?.special !== 'self') throw new IsoFormatError('relocated directory', at, 'first record is not "."');
        const children = await readExtent(rr.childLinkLba, dot.dataLength, rec.offset);
        directories.push({ tree: kind, path, extent: { lba: rr.childLinkLba, lengthBytes: dot.dataLength }, records: [ref(0)] });
        await walk(children, path, isoPath, depth + 1);
        continue;
      }
      if (rec.flags & FLAG_DIRECTORY) {
        if (depth + 1 > limits.maxDepth) throw new LimitExceededError('directory depth', rec.offset, `deeper than ${limits.maxDepth}`);
        const children = await readExtent(rec.lba, rec.dataLength, rec.offset);
        directories.push({ tree: kind, path, extent: { lba: rec.lba, lengthBytes: rec.dataLength }, records: [ref(0)] });
        await walk(children, path, isoPath, depth + 1);
        continue;
      }
      if (rec.interleaved) throw new IsoFormatError('directory record', rec.offset, 'interleaved files are not supported');
      // ECMA-119 6.5.1: an extended attribute record occupies the first blocks of the extent.
      const extent: Extent = { lba: rec.lba + rec.extAttrLength, lengthBytes: rec.dataLength };
      if (pending) {
        pending.file.extents.push(extent);
        pending.file.records.push(ref(pending.file.extents.length - 1));
      } else {
        const file: WalkedFile = {
          tree: kind,
          path,
          ...(isoPath !== path ? { isoPath } : {}),
          dirPath,
          extents: [extent],
          records: [ref(0)],
          hidden: (rec.flags & FLAG_EXISTENCE) !== 0,
          associated: (rec.flags & FLAG_ASSOCIATED) !== 0,
          ...(rr?.mode !== undefined ? { mode: rr.mode } : {}),
          ...(rr?.symlink !== undefined ? { symlink: rr.symlink } : {}),
        };
        files.push(file);
        pending = { name, file };
      }
      if (!(rec.flags & FLAG_MULTI_EXTENT)) pending = undefined;
    }
    if (pending) {
      const last = pending.file.records.at(-1)!.offset;
      throw new IsoFormatError('directory record', last, `multi-extent file ${JSON.stringify(pending.name)} ends without its final record`);
    }
  };
  await walk(rootRecords, '/', '/', 0);
  if (reRecords.length > 0) {
    // The first directory listed at each LBA, as a lookup per RE record would be: a map, since
    // an image may hold as many RE records as directories.
    const atLba = new Map<number, WalkedDirectory>();
    for (const d of directories) if (!atLba.has(d.extent.lba)) atLba.set(d.extent.lba, d);
    for (const { lba, ref } of reRecords) atLba.get(lba)?.records.push(ref);
  }
  if (mismatched > MAX_WARNINGS) warnings.push(`${kind} tree: ${mismatched - MAX_WARNINGS} more records with differing endian halves`);
  return { kind, rockRidge, suspSkip, files, directories, warnings };
}
