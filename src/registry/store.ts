// Node specs and the store that keeps them. The embedded default is a file (file-store.ts); a
// shared store for several replicas can implement the same interface.

import type { Edits } from '../bootconfig/types.js';

export interface NodeSpec {
  readonly name: string;
  /** The base image URL (http(s):// or file://), checked against the allowlist at PUT. */
  readonly bootIso: string;
  readonly edits: Edits;
  /** ISO 8601; past it the node answers 410. */
  readonly expiresAt?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface NodeStore {
  get(name: string): Promise<NodeSpec | undefined>;
  put(spec: NodeSpec): Promise<void>;
  delete(name: string): Promise<boolean>;
  list(options: { after?: string; limit: number }): Promise<{ nodes: NodeSpec[]; next?: string }>;
  close(): Promise<void>;
}
