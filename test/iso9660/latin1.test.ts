// The one latin1 codec (src/binary.ts) and the ISO 9660 names decoded with it. It exists because
// TextDecoder('latin1') is windows-1252 under WHATWG (0x80 becomes U+20AC, the euro sign) and Node
// builds disagree on 0x80-0x9F; names and config texts must keep every byte as it was.

import { describe, expect, it } from 'vitest';
import { latin1, latin1Bytes } from '../../src/binary.js';
import { memorySource } from '../../src/byte-source.js';
import { buildIndex } from '../../src/iso9660/index.js';
import { writeIso } from '../../src/iso9660/writer.js';

const C1 = Array.from({ length: 0x20 }, (_, i) => 0x80 + i);

describe('latin1 codec', () => {
  it('decodes 0x80-0x9F to U+0080-U+009F and encodes them back to the same bytes', () => {
    const text = latin1(new Uint8Array(C1));
    expect([...text].map((c) => c.codePointAt(0))).toEqual(C1);
    expect([...latin1Bytes(text)]).toEqual(C1);
  });

  it('round-trips all 256 byte values, from a view with an offset into a larger buffer', () => {
    const all = new Uint8Array(260);
    for (let i = 0; i < 256; i++) all[i + 4] = i;
    const view = all.subarray(4);
    const text = latin1(view);
    expect(text).toHaveLength(256);
    expect(latin1Bytes(text)).toEqual(view);
  });

  it('decodes bytes that live in a SharedArrayBuffer (how the remaster engine hands configs to workers)', () => {
    const shared = new Uint8Array(new SharedArrayBuffer(8), 2, 4);
    shared.set([0x41, 0x80, 0x9f, 0xff]);
    expect(latin1(shared)).toBe('A\u0080\u009f\u00ff');
  });

  it('encodes into a fresh array of its own (not a view into Buffer pool memory)', () => {
    const b = latin1Bytes('CD001');
    expect(b).toBeInstanceOf(Uint8Array);
    expect(b.byteOffset).toBe(0);
    expect(b.buffer.byteLength).toBe(5);
  });

  it('keeps the low byte of characters beyond U+00FF, as Buffer does', () => {
    expect([...latin1Bytes('\u20ac\u0141')]).toEqual([0xac, 0x41]);
  });
});

describe('ISO 9660 names', () => {
  it('decode bytes 0x80-0x9F as U+0080-U+009F, not as windows-1252', async () => {
    const image = writeIso({ volumeId: 'C1', files: [{ path: '/abcd.txt', data: new Uint8Array([1]) }], rockRidge: false, joliet: false });
    // Rewrite the identifier "ABCD.TXT;1" in place to 0x80 0x85 0x9F 'D' ".TXT;1".
    const at = Buffer.from(image).indexOf('ABCD.TXT;1', 16 * 2048, 'latin1');
    expect(at).toBeGreaterThan(0);
    image.set([0x80, 0x85, 0x9f], at);
    const index = await buildIndex(memorySource(image));
    expect(index.files.map((f) => f.path)).toEqual(['/\u0080\u0085\u009fD.TXT']);
  });
});
