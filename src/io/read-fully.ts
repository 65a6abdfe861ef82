// Reading until a buffer is full. A positioned file read and an async iterable of chunks may both
// return less than asked for; the callers here need all of it or a clear short count, never a
// silently short buffer.

import type { FileHandle } from 'node:fs/promises';

/**
 * Reads `out.length` bytes of `handle` at `position` into `out`. Returns how many bytes were read:
 * less than `out.length` only when the file ends first (the caller decides whether that is an error).
 */
export async function readFully(handle: FileHandle, out: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < out.length) {
    const { bytesRead } = await handle.read(out, done, out.length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/**
 * Collects a stream of chunks into one buffer of `length` bytes. Returns the buffer and how many
 * bytes arrived; chunks past `length` are a caller's bug and throw a RangeError instead of being
 * dropped. With `lazy`, the buffer is allocated on the first chunk (so a read queued behind a busy
 * upstream holds no memory) and is undefined when nothing arrived.
 */
export async function readStreamFully(
  chunks: AsyncIterable<Uint8Array>,
  length: number,
  options: { lazy?: boolean } = {},
): Promise<{ bytes: Uint8Array | undefined; received: number }> {
  let out: Uint8Array | undefined = options.lazy ? undefined : Buffer.allocUnsafe(length);
  let pos = 0;
  for await (const chunk of chunks) {
    if (pos + chunk.length > length) throw new RangeError(`stream gave ${pos + chunk.length} bytes, more than the ${length} asked for`);
    out ??= Buffer.allocUnsafe(length);
    out.set(chunk, pos);
    pos += chunk.length;
  }
  return { bytes: out, received: pos };
}
