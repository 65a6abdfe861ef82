// Writing a built image to disk, for the demo and for tests that hand an image to external tools
// (xorriso, isoinfo, QEMU). The writer (src/iso9660/writer.ts) only produces bytes.

import { rename, rm, writeFile } from 'node:fs/promises';
import { writeIso, type IsoSpec } from '../iso9660/writer.js';

let tmpCounter = 0;

/**
 * Writes `bytes` to `path` atomically: a temporary file in the same directory, then rename, so a
 * reader never sees a half-written image (and two writers of the same bytes do not conflict).
 */
export async function writeImageAtomically(bytes: Uint8Array, path: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${++tmpCounter}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** writeIso, then writeImageAtomically. */
export async function writeIsoToFile(spec: IsoSpec, path: string): Promise<void> {
  await writeImageAtomically(writeIso(spec), path);
}
