// What tests of the sendfile addon start from: the process's sender (the addon must load: the
// test fails, never skips, without it) and a temporary file of random bytes to send from.

import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSender, senderUnavailable, type Sender } from '../../src/native/sendfile.js';

export interface SenderFile {
  readonly sender: Sender;
  /** The file's bytes. */
  readonly data: Buffer;
  readonly file: FileHandle;
  /** Closes the file and removes its directory. */
  cleanup(): Promise<void>;
}

export async function senderWithFile(size: number, prefix: string): Promise<SenderFile> {
  const sender = loadSender();
  if (!sender) throw new Error(`the sendfile addon did not load: ${senderUnavailable()}`);
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const data = randomBytes(size);
  await writeFile(join(dir, 'data'), data);
  const file = await open(join(dir, 'data'), 'r');
  return {
    sender,
    data,
    file,
    async cleanup() {
      await file.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
