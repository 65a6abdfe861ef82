// Node specs and the store that keeps them. The embedded default is a file (file-store.ts); a
// shared store for several replicas can implement the same interface.

import type { Edits } from '../bootconfig/types.js';

export interface NodeSpec {
  readonly name: string;
  /** The base image URL (http(s):// or file://), checked against the allowlist at PUT. */
  readonly bootIso: string;
  readonly edits: Edits;
  /** RFC 3339, stored as ISO 8601 UTC; past it the node answers 410. */
  readonly expiresAt?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** Called with the name of a node that was put or deleted; with none when any node may have changed. */
export type NodeChangeListener = (name?: string) => void;

export interface NodeStore {
  get(name: string): Promise<NodeSpec | undefined>;
  put(spec: NodeSpec): Promise<void>;
  delete(name: string): Promise<boolean>;
  /** Nodes in name order (code unit order) after `after`, at most `limit`; `next` when more follow. */
  list(options: { after?: string; limit: number }): Promise<{ nodes: NodeSpec[]; next?: string }>;
  /**
   * Tells `listener` about every change, including those made by other processes sharing the
   * store (a shared store: pub/sub or keyspace notifications). A store that offers this lets the
   * serving core keep specs in memory between requests. Returns the unsubscribe function.
   */
  watch?(listener: NodeChangeListener): () => void;
  close(): Promise<void>;
}

/** The listeners of a store that keeps its nodes in this process (file and memory stores). */
export class ChangeListeners {
  readonly #listeners = new Set<NodeChangeListener>();
  add(listener: NodeChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  emit(name?: string): void {
    for (const l of this.#listeners) l(name);
  }
}

/** Node names: short, URL-safe, no colons or slashes (several BMCs reject those in URLs). */
export const NODE_NAME = /^[A-Za-z0-9._-]{1,128}$/;

export function isValidNodeName(name: string): boolean {
  // "." and ".." are valid by the pattern but are path segments to every URL parser.
  return NODE_NAME.test(name) && name !== '.' && name !== '..';
}

/** True when the spec has an expiry at or before `now`. */
export function isExpired(spec: NodeSpec, now: Date): boolean {
  if (spec.expiresAt === undefined) return false;
  const at = Date.parse(spec.expiresAt);
  return !Number.isNaN(at) && at <= now.getTime();
}

/** Sorted paging over an in-memory map, shared by stores that keep everything in memory. */
export function pageOf(specs: Iterable<NodeSpec>, options: { after?: string; limit: number }): { nodes: NodeSpec[]; next?: string } {
  const limit = Math.max(1, Math.floor(options.limit));
  const sorted = [...specs]
    .filter((s) => options.after === undefined || s.name > options.after)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const nodes = sorted.slice(0, limit);
  const last = nodes[nodes.length - 1];
  return sorted.length > limit && last ? { nodes, next: last.name } : { nodes };
}

/** A store in memory only (tests, the demo). */
export class MemoryNodeStore implements NodeStore {
  readonly #nodes = new Map<string, NodeSpec>();
  readonly #changes = new ChangeListeners();
  async get(name: string): Promise<NodeSpec | undefined> {
    return this.#nodes.get(name);
  }
  async put(spec: NodeSpec): Promise<void> {
    this.#nodes.set(spec.name, spec);
    this.#changes.emit(spec.name);
  }
  async delete(name: string): Promise<boolean> {
    const existed = this.#nodes.delete(name);
    if (existed) this.#changes.emit(name);
    return existed;
  }
  watch(listener: NodeChangeListener): () => void {
    return this.#changes.add(listener);
  }
  async list(options: { after?: string; limit: number }): Promise<{ nodes: NodeSpec[]; next?: string }> {
    return pageOf(this.#nodes.values(), options);
  }
  async close(): Promise<void> {}
}

/**
 * `value` as a node spec when it has a spec's shape, else undefined. For specs read back from
 * storage (a file, Redis) that something else may have written.
 */
export function asNodeSpec(value: unknown): NodeSpec | undefined {
  const v = value as Partial<NodeSpec> | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof v.name !== 'string' ||
    !isValidNodeName(v.name) ||
    typeof v.bootIso !== 'string' ||
    typeof v.edits !== 'object' ||
    v.edits === null ||
    Array.isArray(v.edits) ||
    typeof v.createdAt !== 'string' ||
    typeof v.updatedAt !== 'string' ||
    (v.expiresAt !== undefined && (typeof v.expiresAt !== 'string' || Number.isNaN(Date.parse(v.expiresAt))))
  ) {
    return undefined;
  }
  return v as NodeSpec;
}
