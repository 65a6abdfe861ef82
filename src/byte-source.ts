// A byte source answers `read(offset, length)` over an immutable sequence of bytes: a local file,
// an upstream over HTTP Range, the block cache in front of an upstream. Readers of ISO metadata
// (src/iso9660, src/fat) take this interface and never know where the bytes come from.

import { open, type FileHandle } from 'node:fs/promises';
import { OutOfBoundsError } from './errors.js';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Exactly `length` bytes at `offset`. Throws OutOfBoundsError when [offset, offset+length)
   * is not inside [0, size): a source never returns short reads.
   */
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
}

export function checkRange(offset: number, length: number, size: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new OutOfBoundsError(offset, length, size);
  }
}

/** A byte source over bytes in memory (tests, fixtures, small images). */
export function memorySource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    async read(offset, length) {
      checkRange(offset, length, bytes.length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

export interface FileSource extends ByteSource {
  close(): Promise<void>;
}

/** A byte source over a local file, opened once. */
export async function openFileSource(path: string): Promise<FileSource> {
  const handle: FileHandle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    return {
      size,
      async read(offset, length) {
        checkRange(offset, length, size);
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(out, done, length - done, offset + done);
          if (bytesRead === 0) throw new OutOfBoundsError(offset + done, length - done, size, 'read (file shrank)');
          done += bytesRead;
        }
        return out;
      },
      close: () => handle.close(),
    };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
