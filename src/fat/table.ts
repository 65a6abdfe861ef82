// The File Allocation Table: reading and writing entries of FAT12 (packed 12-bit), FAT16 and
// FAT32 (28 bits used, the top 4 bits reserved and preserved on write), and following cluster
// chains with a cap and loop detection. fatgen103 section 4 ("FAT Data Structure").

import { FatFormatError } from '../errors.js';
import type { FatGeometry } from './boot-sector.js';
import type { CowImage, FatBytes } from './cow-image.js';

/** What an entry means, independent of the FAT width. */
export type FatEntryKind = 'free' | 'next' | 'end' | 'bad' | 'reserved';

export function entryKind(geo: FatGeometry, value: number): FatEntryKind {
  if (value === 0) return 'free';
  const bad = geo.fatType === 12 ? 0xff7 : geo.fatType === 16 ? 0xfff7 : 0x0ffffff7;
  // 0xFF8..0xFFF (and wider equivalents) all mark the end of a chain (fatgen103 section 4).
  if (value > bad) return 'end';
  if (value === bad) return 'bad';
  if (value === 1 || value > geo.clusterCount + 1) return 'reserved';
  return 'next';
}

/** The end-of-chain value written by this module (the conventional 0x?FFF / 0x0FFFFFFF). */
export function endOfChain(geo: FatGeometry): number {
  return geo.fatType === 12 ? 0xfff : geo.fatType === 16 ? 0xffff : 0x0fffffff;
}

function entryOffset(geo: FatGeometry, copy: number, cluster: number): number {
  const base = geo.fatOffset + copy * geo.fatSizeBytes;
  if (geo.fatType === 12) return base + cluster + (cluster >>> 1);
  return base + cluster * (geo.fatType / 8);
}

function checkCluster(geo: FatGeometry, cluster: number): void {
  if (!Number.isInteger(cluster) || cluster < 0 || cluster > geo.clusterCount + 1) {
    throw new FatFormatError('FAT entry', geo.fatOffset, `cluster ${cluster} is outside 0..${geo.clusterCount + 1}`);
  }
}

/** The entry for `cluster` in FAT copy `copy` (default: the active copy). FAT32: low 28 bits. */
export function getFatEntry(bytes: FatBytes, geo: FatGeometry, cluster: number, copy = geo.activeFat): number {
  checkCluster(geo, cluster);
  const at = entryOffset(geo, copy, cluster);
  if (geo.fatType === 12) {
    const pair = bytes.u16le(at);
    // Even clusters take the low 12 bits of the pair, odd ones the high 12 (fatgen103 4.1).
    return cluster & 1 ? pair >>> 4 : pair & 0x0fff;
  }
  if (geo.fatType === 16) return bytes.u16le(at);
  return bytes.u32le(at) & 0x0fffffff;
}

/** Sets the entry for `cluster` in every FAT copy. FAT32 keeps each copy's top 4 bits. */
export function setFatEntry(image: CowImage, geo: FatGeometry, cluster: number, value: number): void {
  checkCluster(geo, cluster);
  for (let copy = 0; copy < geo.fatCount; copy++) {
    const at = entryOffset(geo, copy, cluster);
    if (geo.fatType === 12) {
      const pair = image.u16le(at);
      const next = cluster & 1 ? (pair & 0x000f) | ((value & 0x0fff) << 4) : (pair & 0xf000) | (value & 0x0fff);
      image.setU16le(at, next);
    } else if (geo.fatType === 16) {
      image.setU16le(at, value & 0xffff);
    } else {
      const old = image.u32le(at);
      image.setU32le(at, ((old & 0xf0000000) | (value & 0x0fffffff)) >>> 0);
    }
  }
}

/**
 * The clusters of the chain that starts at `first`, in order. Stops at an end-of-chain mark or
 * after `maxClusters` clusters (callers that know how many they need pass that; the chain may be
 * longer). A free, bad, reserved or out-of-range link, or a loop, is a FatFormatError.
 */
export function followChain(bytes: FatBytes, geo: FatGeometry, first: number, maxClusters = geo.clusterCount): number[] {
  const chain: number[] = [];
  if (first === 0) return chain;
  const seen = new Set<number>();
  let cluster = first;
  for (;;) {
    if (cluster < 2 || cluster > geo.clusterCount + 1) {
      throw new FatFormatError('cluster chain', geo.fatOffset, `chain from ${first} reaches cluster ${cluster}, outside 2..${geo.clusterCount + 1}`);
    }
    if (seen.has(cluster))
      throw new FatFormatError('cluster chain', entryOffset(geo, geo.activeFat, cluster), `chain from ${first} loops back to cluster ${cluster}`);
    seen.add(cluster);
    chain.push(cluster);
    if (chain.length >= maxClusters) return chain;
    const value = getFatEntry(bytes, geo, cluster);
    const kind = entryKind(geo, value);
    if (kind === 'end') return chain;
    if (kind !== 'next') {
      throw new FatFormatError(
        'cluster chain',
        entryOffset(geo, geo.activeFat, cluster),
        `chain from ${first} has a ${kind} entry (0x${value.toString(16)}) at cluster ${cluster}`,
      );
    }
    cluster = value;
  }
}

/**
 * A fast reader of every entry of the active FAT as it is now: one bounds-checked copy of the
 * table, then plain array reads (a FAT32 table of 65k+ entries is scanned in well under a
 * millisecond, instead of one checked read per entry).
 */
function snapshot(bytes: FatBytes, geo: FatGeometry): (cluster: number) => number {
  const start = geo.fatOffset + geo.activeFat * geo.fatSizeBytes;
  const length = geo.fatType === 12 ? Math.ceil(((geo.clusterCount + 2) * 3) / 2) + 1 : (geo.clusterCount + 2) * (geo.fatType / 8);
  const t = bytes.slice(start, Math.min(length, geo.fatSizeBytes));
  if (geo.fatType === 12) {
    return (c) => {
      const at = c + (c >>> 1);
      const pair = t[at]! | (t[at + 1]! << 8);
      return c & 1 ? pair >>> 4 : pair & 0x0fff;
    };
  }
  if (geo.fatType === 16) return (c) => t[2 * c]! | (t[2 * c + 1]! << 8);
  return (c) => (t[4 * c]! | (t[4 * c + 1]! << 8) | (t[4 * c + 2]! << 16) | ((t[4 * c + 3]! & 0x0f) << 24)) >>> 0;
}

/** Free clusters counted in the active FAT. */
export function countFreeClusters(bytes: FatBytes, geo: FatGeometry): number {
  const entry = snapshot(bytes, geo);
  let free = 0;
  for (let c = 2; c <= geo.clusterCount + 1; c++) if (entry(c) === 0) free++;
  return free;
}

/** The `count` lowest free clusters at or above `from`, or fewer when the FAT has fewer. */
export function lowestFreeClusters(bytes: FatBytes, geo: FatGeometry, count: number, from = 2): number[] {
  const out: number[] = [];
  if (count <= 0) return out;
  const entry = snapshot(bytes, geo);
  for (let c = Math.max(2, from); c <= geo.clusterCount + 1 && out.length < count; c++) {
    if (entry(c) === 0) out.push(c);
  }
  return out;
}
