// The embedded node store: every node spec in one JSON file in the data directory, held in memory
// and rewritten whole on each change. A write goes to a temporary file that is fsynced and then
// renamed over the store (and the directory fsynced), so after a crash or `kill -9` the file is
// either the old or the new version, never a torn one. Writes are serialised through one promise
// chain so two PUTs never interleave their renames.
//
// Whole-file rewrites are fine for the sizes this is for (thousands of nodes, a few hundred bytes
// each); a shared store for several replicas implements NodeStore elsewhere.

import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from './errors.js';
import { asNodeSpec, ChangeListeners, pageOf, type NodeChangeListener, type NodeSpec, type NodeStore } from './store.js';

export const STORE_FILE = 'nodes.json';
const FORMAT_VERSION = 1;
/** A store file larger than this is refused rather than parsed. */
const MAX_STORE_BYTES = 256 * 1024 * 1024;

interface StoreFileV1 {
  readonly version: 1;
  readonly nodes: NodeSpec[];
}

function checkSpec(path: string, value: unknown, index: number): NodeSpec {
  const spec = asNodeSpec(value);
  if (!spec) throw new StoreError(path, `entry ${index} is not a node spec`);
  return spec;
}

export class FileNodeStore implements NodeStore {
  readonly path: string;
  readonly #dir: string;
  readonly #nodes: Map<string, NodeSpec>;
  readonly #changes = new ChangeListeners();
  #chain: Promise<void> = Promise.resolve();
  #seq = 0;
  #closed = false;

  private constructor(dir: string, nodes: Map<string, NodeSpec>) {
    this.#dir = dir;
    this.path = join(dir, STORE_FILE);
    this.#nodes = nodes;
  }

  /** Opens (or creates) the store in `dataDir`. */
  static async open(dataDir: string): Promise<FileNodeStore> {
    await mkdir(dataDir, { recursive: true });
    const path = join(dataDir, STORE_FILE);
    const nodes = new Map<string, NodeSpec>();
    let text: string | undefined;
    try {
      const handle = await open(path, 'r');
      try {
        const { size } = await handle.stat();
        if (size > MAX_STORE_BYTES) throw new StoreError(path, `file is ${size} bytes, more than the ${MAX_STORE_BYTES} allowed`);
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw err instanceof StoreError ? err : new StoreError(path, 'cannot read', { cause: err });
    }
    if (text !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (err) {
        throw new StoreError(path, 'is not valid JSON', { cause: err });
      }
      const file = parsed as Partial<StoreFileV1> | null;
      if (typeof file !== 'object' || file === null || file.version !== FORMAT_VERSION || !Array.isArray(file.nodes)) {
        throw new StoreError(path, `is not a version ${FORMAT_VERSION} node store`);
      }
      file.nodes.forEach((n, i) => {
        const spec = checkSpec(path, n, i);
        nodes.set(spec.name, spec);
      });
    }
    return new FileNodeStore(dataDir, nodes);
  }

  async get(name: string): Promise<NodeSpec | undefined> {
    return this.#nodes.get(name);
  }

  async put(spec: NodeSpec): Promise<void> {
    this.#checkOpen();
    this.#nodes.set(spec.name, spec);
    // Readers see the new spec from now on (get answers from memory), so they hear of it now too.
    this.#changes.emit(spec.name);
    await this.#persist();
  }

  async delete(name: string): Promise<boolean> {
    this.#checkOpen();
    const existed = this.#nodes.delete(name);
    if (existed) {
      this.#changes.emit(name);
      await this.#persist();
    }
    return existed;
  }

  watch(listener: NodeChangeListener): () => void {
    return this.#changes.add(listener);
  }

  async list(options: { after?: string; limit: number }): Promise<{ nodes: NodeSpec[]; next?: string }> {
    return pageOf(this.#nodes.values(), options);
  }

  /** Waits for pending writes. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#chain;
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreError(this.path, 'is closed');
  }

  /** Queues a write of the current state; resolves when that state (or a later one) is durable. */
  #persist(): Promise<void> {
    const run = this.#chain.then(() => this.#write());
    // Keep the chain alive after a failed write; the caller of that write sees the failure.
    this.#chain = run.catch(() => {});
    return run;
  }

  async #write(): Promise<void> {
    // Sorted by name so the file is deterministic for the same set of nodes.
    const nodes = [...this.#nodes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const body: StoreFileV1 = { version: FORMAT_VERSION, nodes };
    const tmp = join(this.#dir, `.${STORE_FILE}.${process.pid}.${this.#seq++}.tmp`);
    try {
      const handle = await open(tmp, 'w', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(body, null, 1)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.path);
      await this.#syncDir();
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw new StoreError(this.path, 'cannot write', { cause: err });
    }
  }

  /** fsync of the directory makes the rename itself durable (ext4/xfs need it after a crash). */
  async #syncDir(): Promise<void> {
    let dir;
    try {
      dir = await open(this.#dir, 'r');
      await dir.sync();
    } catch {
      // Some file systems refuse fsync on a directory; the rename is still atomic.
    } finally {
      await dir?.close();
    }
  }
}
