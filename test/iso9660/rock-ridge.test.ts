// Rock Ridge entry parsing on hand-made SUSP entries (RRIP 1.12 layouts).

import { describe, expect, it } from 'vitest';
import { BinaryView } from '../../src/binary.js';
import { IsoFormatError } from '../../src/errors.js';
import { MAX_NAME_BYTES, MAX_SYMLINK_BYTES, parseRockRidge } from '../../src/iso9660/rock-ridge.js';
import type { SuspEntry } from '../../src/iso9660/susp.js';

let at = 1000;
function entry(sig: string, data: number[]): SuspEntry {
  const bytes = new Uint8Array([sig.charCodeAt(0), sig.charCodeAt(1), 4 + data.length, 1, ...data]);
  const e = { signature: sig, version: 1, offset: at, bytes: new BinaryView(bytes, at) };
  at += bytes.length;
  return e;
}
const text = (s: string) => [...Buffer.from(s, 'utf8')];
const both32 = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24, v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

describe('parseRockRidge', () => {
  it('joins NM entries flagged CONTINUE into one name and decodes UTF-8', () => {
    const rr = parseRockRidge([entry('NM', [1, ...text('first-half-')]), entry('NM', [0, ...text('zweite Hälfte')])]);
    expect(rr.name).toBe('first-half-zweite Hälfte');
    expect(rr.present).toBe(true);
  });

  it('reads the PX mode and the CL, PL and RE relocation markers', () => {
    const px = entry('PX', [...both32(0o120777), ...both32(1), ...both32(0), ...both32(0)]);
    expect(parseRockRidge([px]).mode).toBe(0o120777);
    expect(parseRockRidge([entry('CL', both32(1234))]).childLinkLba).toBe(1234);
    expect(parseRockRidge([entry('PL', both32(20))]).parentLinkLba).toBe(20);
    expect(parseRockRidge([entry('RE', [])]).relocated).toBe(true);
  });

  it('builds symlink targets from SL components: root, parent, continued names', () => {
    const sl = entry('SL', [0, 0x08, 0, 0x04, 0, 0x01, 3, ...text('usr'), 0, 3, ...text('lib')]);
    expect(parseRockRidge([sl]).symlink).toBe('/../usrlib');
    const rel = entry('SL', [0, 0, 2, ...text('..'), 0, 4, ...text('file')]);
    expect(parseRockRidge([rel]).symlink).toBe('../file');
  });

  it('rejects SL components and TF stamps that run past their entry, at the entry', () => {
    const sl = entry('SL', [0, 0, 9, ...text('abc')]);
    expect(() => parseRockRidge([sl])).toThrow(IsoFormatError);
    const tf = entry('TF', [0x07, 1, 2, 3]);
    expect(() => parseRockRidge([tf])).toThrow(expect.objectContaining({ structure: 'Rock Ridge TF entry', offset: tf.offset }));
  });

  it('takes a name of NAME_MAX bytes over CONTINUE entries and rejects one byte more, at its entry', () => {
    const parts = (total: number): SuspEntry[] => {
      const out: SuspEntry[] = [];
      for (let left = total; left > 0; left -= 100) out.push(entry('NM', [left > 100 ? 1 : 0, ...text('n'.repeat(Math.min(100, left)))]));
      return out;
    };
    expect(parseRockRidge(parts(MAX_NAME_BYTES)).name).toHaveLength(MAX_NAME_BYTES);
    const long = parts(MAX_NAME_BYTES + 1);
    expect(() => parseRockRidge(long)).toThrow(expect.objectContaining({ structure: 'Rock Ridge NM entry', offset: long.at(-1)!.offset }));
  });

  it('rejects a symbolic link target longer than PATH_MAX', () => {
    const component = [0, 200, ...text('d'.repeat(200))];
    const entries = Array.from({ length: 25 }, () => entry('SL', [1, ...component]));
    expect(() => parseRockRidge(entries)).toThrow(expect.objectContaining({ structure: 'Rock Ridge SL entry' }));
    expect(parseRockRidge(entries.slice(0, 20)).symlink!.length).toBeLessThanOrEqual(MAX_SYMLINK_BYTES);
  });

  it('ignores entries of other extensions', () => {
    expect(parseRockRidge([entry('ZF', [1, 2, 3, 4])]).present).toBe(false);
  });
});
