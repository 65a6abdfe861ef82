// Opens a local ISO (path or file:// URL) for the offline commands: byte source, index, base context.

import { fileURLToPath } from 'node:url';
import { openFileSource, type FileSource } from '../byte-source.js';
import { buildIndex } from '../iso9660/index.js';
import type { IsoIndex } from '../iso9660/types.js';
import { prepareBase, type BaseContext } from '../remaster/base-context.js';

export interface LocalBase {
  readonly source: FileSource;
  readonly index: IsoIndex;
  readonly ctx: BaseContext;
}

export async function openLocalBase(pathOrUrl: string): Promise<LocalBase> {
  const path = pathOrUrl.startsWith('file://') ? fileURLToPath(pathOrUrl) : pathOrUrl;
  const source = await openFileSource(path);
  try {
    const index = await buildIndex(source);
    const ctx = await prepareBase(index, source);
    return { source, index, ctx };
  } catch (err) {
    await source.close();
    throw err;
  }
}
