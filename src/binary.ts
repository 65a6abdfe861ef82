// Bounds-checked reads and writes over Uint8Array for the binary parsers (iso9660, fat).
// Node's Buffer.subarray/toString clamp out-of-range reads silently; these throw instead.
// `base` is the absolute offset of `bytes[0]` in the image, so errors carry absolute offsets.

import { OutOfBoundsError } from './errors.js';

export class BinaryView {
  readonly bytes: Uint8Array;
  /** Absolute offset of bytes[0] in the enclosing image (for error messages). */
  readonly base: number;

  // Integers are put together from bytes rather than read through a DataView: a view is made for
  // every directory record and SUSP entry of an image, and a DataView each doubled what that cost.
  constructor(bytes: Uint8Array, base = 0) {
    this.bytes = bytes;
    this.base = base;
  }

  get length(): number {
    return this.bytes.length;
  }

  check(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.bytes.length) {
      throw new OutOfBoundsError(this.base + offset, length, this.base + this.bytes.length);
    }
  }

  u8(offset: number): number {
    this.check(offset, 1);
    return this.bytes[offset]!;
  }
  u16le(offset: number): number {
    this.check(offset, 2);
    const b = this.bytes;
    return b[offset]! | (b[offset + 1]! << 8);
  }
  u16be(offset: number): number {
    this.check(offset, 2);
    const b = this.bytes;
    return (b[offset]! << 8) | b[offset + 1]!;
  }
  u32le(offset: number): number {
    this.check(offset, 4);
    return u32leAt(this.bytes, offset);
  }
  u32be(offset: number): number {
    this.check(offset, 4);
    const b = this.bytes;
    return ((b[offset]! << 24) | (b[offset + 1]! << 16) | (b[offset + 2]! << 8) | b[offset + 3]!) >>> 0;
  }
  /** 64-bit little-endian as a number; throws beyond 2^53. */
  u64le(offset: number): number {
    this.check(offset, 8);
    const high = this.u32le(offset + 4);
    if (high >= 2 ** 21) throw new OutOfBoundsError(this.base + offset, 8, this.base + this.bytes.length, '64-bit value');
    return high * 2 ** 32 + this.u32le(offset);
  }
  /** A sub-view sharing memory, bounds-checked. */
  sub(offset: number, length: number): BinaryView {
    this.check(offset, length);
    return new BinaryView(this.bytes.subarray(offset, offset + length), this.base + offset);
  }
  slice(offset: number, length: number): Uint8Array {
    this.check(offset, length);
    return this.bytes.subarray(offset, offset + length);
  }
  ascii(offset: number, length: number): string {
    return latin1(this.slice(offset, length));
  }
}

/** Little-endian 32-bit at `offset`, for a caller that has checked the four bytes are there. */
export function u32leAt(b: Uint8Array, offset: number): number {
  return (b[offset]! | (b[offset + 1]! << 8) | (b[offset + 2]! << 16) | (b[offset + 3]! << 24)) >>> 0;
}

/** Whether two byte arrays hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// The one latin1 codec of the code base. Buffer's 'latin1' is true ISO-8859-1: byte b is U+00bb
// both ways, so any bytes survive a decode/encode round trip. TextDecoder('latin1') is not: WHATWG
// makes that label windows-1252 (0x80 becomes U+20AC), and Node builds with and without full ICU
// disagree on 0x80-0x9F. Encoding keeps the low byte of each UTF-16 unit, as Buffer does.

/** Bytes to text, one character per byte (U+0000-U+00FF). */
export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** Text to bytes, one byte per UTF-16 unit (its low 8 bits), into a fresh array the caller owns. */
export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(text, 0, 'latin1');
  return out;
}

export function writeU16le(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value & 0xff;
  out[offset + 1] = (value >>> 8) & 0xff;
}
export function writeU16be(out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >>> 8) & 0xff;
  out[offset + 1] = value & 0xff;
}
export function writeU32le(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value & 0xff;
  out[offset + 1] = (value >>> 8) & 0xff;
  out[offset + 2] = (value >>> 16) & 0xff;
  out[offset + 3] = (value >>> 24) & 0xff;
}
export function writeU32be(out: Uint8Array, offset: number, value: number): void {
  out[offset] = (value >>> 24) & 0xff;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}
/** ECMA-119 7.3.3 both-byte-order 32-bit: little-endian then big-endian. */
export function writeBoth32(out: Uint8Array, offset: number, value: number): void {
  writeU32le(out, offset, value);
  writeU32be(out, offset + 4, value);
}
/** ECMA-119 7.2.3 both-byte-order 16-bit. */
export function writeBoth16(out: Uint8Array, offset: number, value: number): void {
  writeU16le(out, offset, value);
  writeU16be(out, offset + 2, value);
}
