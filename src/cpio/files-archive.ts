// The archive isoproxy appends to a node's initrds: the node's files, with every parent
// directory they need, as one deterministic newc archive (newc.ts). Members are sorted by path
// (bytewise, so a directory always precedes what it holds), directories are 0755 and files
// keep the mode the node gave. Paths are validated before they get here (src/bootconfig/files.ts).
//
// The kernel creates each member in the rootfs as it reads it (init/initramfs.c do_name):
//  - a file that the original initramfs already has is replaced (the old one is unlinked first);
//  - a directory entry for one that exists is not recreated, but it is chown'd to 0:0 and
//    chmod'ed to 0755. So writing /tmp/x makes /tmp 0755, and /root/.ssh/x makes /root 0755:
//    the price of creating missing parents, which the kernel would not do on its own (a file
//    whose directory does not exist is skipped silently).

import { S_IFDIR, S_IFREG, writeNewc, type NewcEntry } from './newc.js';

export interface ArchiveFile {
  /** Absolute, normalized ('/etc/x.conf'). */
  readonly path: string;
  /** Permission bits (0..0o7777). */
  readonly mode: number;
  readonly data: Uint8Array;
}

export const DIRECTORY_MODE = 0o755;

/** Members of the archive for `files`: parent directories and files, sorted by path. */
export function archiveEntries(files: readonly ArchiveFile[]): NewcEntry[] {
  const members = new Map<string, NewcEntry>();
  for (const f of files) {
    const parts = f.path.split('/').filter((s) => s.length > 0);
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!members.has(dir)) members.set(dir, { name: dir, mode: S_IFDIR | DIRECTORY_MODE });
    }
    members.set(parts.join('/'), { name: parts.join('/'), mode: S_IFREG | (f.mode & 0o7777), data: f.data });
  }
  const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
  return [...members.values()].sort((a, b) => Buffer.compare(bytes(a.name), bytes(b.name)));
}

/** The newc archive of `files` (see the module header). */
export function filesArchive(files: readonly ArchiveFile[]): Uint8Array {
  return writeNewc(archiveEntries(files));
}
