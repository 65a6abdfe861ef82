// Rock Ridge (RRIP 1.12) entries of one directory record: NM (alternate name, CONTINUE across
// entries), PX (POSIX mode), TF (time stamps, validated only), SL (symbolic link target), and the
// deep-directory relocation trio RE (this directory is a relocated one; do not list it here),
// CL (this file record stands for the directory at the child link) and PL (parent link).

import { IsoFormatError } from '../errors.js';
import type { SuspEntry } from './susp.js';

export interface RockRidgeInfo {
  readonly name?: string;
  readonly mode?: number;
  readonly symlink?: string;
  readonly relocated: boolean;
  readonly childLinkLba?: number;
  readonly parentLinkLba?: number;
  /** Any RRIP entry seen (RR, NM, PX, ...). */
  readonly present: boolean;
}

const RR_SIGNATURES = new Set(['RR', 'NM', 'PX', 'PN', 'SL', 'TF', 'RE', 'CL', 'PL', 'SF']);
// NM / SL component flags (RRIP 4.1.4, 4.1.3.1).
const NM_CONTINUE = 0x01;
const NM_CURRENT = 0x02;
const NM_PARENT = 0x04;
const SL_CONTINUE = 0x01;
const SL_CURRENT = 0x02;
const SL_PARENT = 0x04;
const SL_ROOT = 0x08;

const utf8 = new TextDecoder('utf-8');

/**
 * Longest alternate name and symbolic link target read, in bytes: Linux's NAME_MAX and PATH_MAX,
 * which every Rock Ridge writer keeps to. NM and SL entries may continue across up to 32
 * continuation areas, so without a cap one record could name a file with megabytes, and every
 * path below it would carry them.
 */
export const MAX_NAME_BYTES = 255;
export const MAX_SYMLINK_BYTES = 4096;

export function parseRockRidge(entries: readonly SuspEntry[]): RockRidgeInfo {
  const nameParts: Uint8Array[] = [];
  let nameDone = false;
  let name: string | undefined;
  let mode: number | undefined;
  let symlink = '';
  let hasSymlink = false;
  let slPending = false; // the last SL component had CONTINUE set
  let relocated = false;
  let childLinkLba: number | undefined;
  let parentLinkLba: number | undefined;
  let present = false;
  let nameBytes = 0;

  for (const e of entries) {
    if (!RR_SIGNATURES.has(e.signature)) continue;
    present = true;
    const b = e.bytes;
    switch (e.signature) {
      case 'NM': {
        if (nameDone) break;
        const flags = b.u8(4);
        if (flags & NM_CURRENT) name = '.';
        else if (flags & NM_PARENT) name = '..';
        else {
          nameBytes += b.length - 5;
          if (nameBytes > MAX_NAME_BYTES) {
            throw new IsoFormatError('Rock Ridge NM entry', e.offset, `alternate name longer than ${MAX_NAME_BYTES} bytes`);
          }
          nameParts.push(b.slice(5, b.length - 5));
        }
        if (!(flags & NM_CONTINUE)) nameDone = true;
        break;
      }
      case 'PX':
        if (b.length < 36) throw new IsoFormatError('Rock Ridge PX entry', e.offset, `length ${b.length}, expected 36 or 44`);
        mode = b.u32le(4);
        break;
      case 'TF': {
        // RRIP 4.1.6: flags, then one 7- or 17-byte stamp per bit 0..6 set.
        const flags = b.u8(4);
        const each = flags & 0x80 ? 17 : 7;
        let n = 0;
        for (let bit = 0; bit < 7; bit++) if (flags & (1 << bit)) n++;
        if (5 + n * each > b.length) {
          throw new IsoFormatError('Rock Ridge TF entry', e.offset, `${n} time stamps of ${each} bytes do not fit in ${b.length} bytes`);
        }
        break;
      }
      case 'SL': {
        hasSymlink = true;
        let pos = 5;
        while (pos < b.length) {
          if (pos + 2 > b.length) throw new IsoFormatError('Rock Ridge SL entry', e.offset + pos, 'component record header runs past the entry');
          const cflags = b.u8(pos);
          const clen = b.u8(pos + 1);
          if (pos + 2 + clen > b.length)
            throw new IsoFormatError('Rock Ridge SL entry', e.offset + pos, `component of ${clen} bytes runs past the entry`);
          let part: string;
          if (cflags & SL_ROOT) part = '';
          else if (cflags & SL_CURRENT) part = '.';
          else if (cflags & SL_PARENT) part = '..';
          else part = utf8.decode(b.slice(pos + 2, clen));
          if (symlink === '' && cflags & SL_ROOT) symlink = '/';
          else {
            const sep = slPending || symlink === '' || symlink.endsWith('/') ? '' : '/';
            symlink += sep + part;
          }
          if (symlink.length > MAX_SYMLINK_BYTES) {
            throw new IsoFormatError('Rock Ridge SL entry', e.offset, `symbolic link target longer than ${MAX_SYMLINK_BYTES} characters`);
          }
          slPending = (cflags & SL_CONTINUE) !== 0;
          pos += 2 + clen;
        }
        break;
      }
      case 'RE':
        relocated = true;
        break;
      case 'CL':
        if (b.length < 12) throw new IsoFormatError('Rock Ridge CL entry', e.offset, `length ${b.length}, expected 12`);
        childLinkLba = b.u32le(4);
        break;
      case 'PL':
        if (b.length < 12) throw new IsoFormatError('Rock Ridge PL entry', e.offset, `length ${b.length}, expected 12`);
        parentLinkLba = b.u32le(4);
        break;
      default:
        break;
    }
  }
  if (nameParts.length > 0) {
    let total = 0;
    for (const p of nameParts) total += p.length;
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of nameParts) {
      all.set(p, at);
      at += p.length;
    }
    name = utf8.decode(all);
  }
  return {
    present,
    relocated,
    ...(name !== undefined ? { name } : {}),
    ...(mode !== undefined ? { mode } : {}),
    ...(hasSymlink ? { symlink } : {}),
    ...(childLinkLba !== undefined ? { childLinkLba } : {}),
    ...(parentLinkLba !== undefined ? { parentLinkLba } : {}),
  };
}
