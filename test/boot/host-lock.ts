// Locks shared by every process on the host, for the boot test's scarce resources (the two QEMU
// slots, the fixture build): vitest runs test files in parallel workers, so an in-process lock is
// not enough. A lock is a file created with O_EXCL holding its owner's pid; a lock whose owner
// died (a killed worker) is reclaimed.

import { readFile, rm, stat, writeFile } from 'node:fs/promises';

/** Whether the pid written in a lock file is a live process. */
function ownerAlive(pidText: string): boolean {
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock whose owner is gone; an empty lock file is one being written, unless it is old. */
async function isStale(path: string): Promise<boolean> {
  try {
    const owner = await readFile(path, 'utf8');
    if (owner !== '') return !ownerAlive(owner);
    return Date.now() - (await stat(path)).mtimeMs > 10_000;
  } catch {
    return false; // gone already: the next attempt takes it
  }
}

/** Takes the lock at `path` if it is free (or its owner is dead); returns its release, else undefined. */
export async function tryLock(path: string): Promise<(() => Promise<void>) | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(path, String(process.pid), { flag: 'wx' });
      return () => rm(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!(await isStale(path))) return undefined;
      await rm(path, { force: true });
    }
  }
  return undefined;
}
