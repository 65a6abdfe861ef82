// Where a node's spec comes from. The serving core asks a source for a node by name and never
// assumes it gets the same object twice: memoized work is keyed by the spec's content (base URL
// and normalized edits), not by object identity. Sources today: the node store behind the admin
// API (`/iso/<node>.iso`); coming: Ironic's node data (`/ironic/<node>.iso`) and a shared store.

import type { NodeSpec } from '../registry/store.js';

export interface NodeSource {
  /** Names the source in logs, metrics and the status page ("store", "ironic", ...). */
  readonly kind: string;
  /**
   * The node's spec, or undefined when the source does not know the node (404). A source that
   * cannot answer right now throws a typed IsoproxyError (for example 503 with Retry-After);
   * a node the source knows but refuses to serve throws NotFoundError with the reason.
   */
  lookup(name: string, signal?: AbortSignal): Promise<NodeSpec | undefined>;
  /**
   * Called with a listener that the source calls when a node's spec may have changed; with no
   * name when any node may have (a reconnect that may have lost notifications). A source that
   * offers this promises to call it: the serving core then keeps looked-up specs in memory until
   * told otherwise. A source without it is asked on every request.
   */
  onChange?(listener: (name?: string) => void): void;
  close?(): Promise<void>;
}
