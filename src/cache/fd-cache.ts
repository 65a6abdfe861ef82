// A small LRU of open block files, so the hot path does positioned reads on an already-open
// descriptor instead of open/read/close per chunk. A file evicted from the block cache is
// unlinked at once; readers that hold its descriptor keep reading it (POSIX keeps an unlinked
// file alive while open) and the descriptor is closed when the last of them releases it.

import { open, type FileHandle } from 'node:fs/promises';

interface Entry {
  readonly handle: Promise<FileHandle>;
  /** The handle once open: what acquireNow hands out without a promise. */
  open?: FileHandle;
  refs: number;
  /** No new readers; close when refs reaches 0. */
  doomed: boolean;
}

export interface FdLease {
  readonly handle: FileHandle;
  release(): void;
}

export class FdCache {
  // Map iteration order is insertion order: re-inserting on use makes it an LRU.
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxOpen: number) {}

  async acquire(path: string): Promise<FdLease> {
    let entry = this.entries.get(path);
    if (entry) {
      this.entries.delete(path);
      this.entries.set(path, entry);
    } else {
      const handle = open(path, 'r');
      const created: Entry = { handle, refs: 0, doomed: false };
      entry = created;
      handle.then(
        (h) => {
          created.open = h;
        },
        () => {
          if (this.entries.get(path) === created) this.entries.delete(path);
        },
      );
      this.entries.set(path, created);
      this.trim();
    }
    const e = entry;
    e.refs++;
    let handle: FileHandle;
    try {
      handle = await e.handle;
    } catch (err) {
      e.refs--;
      throw err;
    }
    return lease(e, handle);
  }

  /**
   * The lease `acquire` would give, when the file is already open here: on the hot path (a range
   * of a block read a moment ago) the promise and its microtask hops of `acquire` were a visible
   * share of a small range's cost. Undefined when it is not open (yet): then `acquire`.
   */
  acquireNow(path: string): FdLease | undefined {
    const e = this.entries.get(path);
    if (!e?.open || e.doomed) return undefined;
    this.entries.delete(path);
    this.entries.set(path, e);
    e.refs++;
    return lease(e, e.open);
  }

  /** The file is gone (evicted or corrupt): no new reader gets this descriptor. */
  forget(path: string): void {
    const e = this.entries.get(path);
    if (!e) return;
    this.entries.delete(path);
    e.doomed = true;
    if (e.refs === 0) closeEntry(e);
  }

  get size(): number {
    return this.entries.size;
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.handle.then((h) => h.close()).catch(() => {})));
  }

  private trim(): void {
    for (const [path, e] of this.entries) {
      if (this.entries.size <= this.maxOpen) break;
      this.entries.delete(path);
      e.doomed = true;
      if (e.refs === 0) closeEntry(e);
    }
  }
}

function lease(e: Entry, handle: FileHandle): FdLease {
  let released = false;
  return {
    handle,
    release: () => {
      if (released) return;
      released = true;
      e.refs--;
      if (e.refs === 0 && e.doomed) closeEntry(e);
    },
  };
}

function closeEntry(e: Entry): void {
  e.handle.then((h) => h.close()).catch(() => {});
}
