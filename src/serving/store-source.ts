// The node store behind the admin API as a NodeSource (served under /iso/). A store that can tell
// about changes (NodeStore.watch: the file and memory stores for their own writes, a shared store
// for every replica's) lets the serving core keep its specs in memory between requests.

import type { NodeStore } from '../registry/store.js';
import type { NodeSource } from './node-source.js';

/** The source name of the admin store's nodes. */
export const STORE_SOURCE = 'store';

export function storeSource(store: NodeStore, kind = STORE_SOURCE): NodeSource {
  const source: NodeSource = { kind, lookup: (name) => store.get(name) };
  if (store.watch) {
    const watch = store.watch.bind(store);
    return {
      ...source,
      onChange: (listener) => {
        watch(listener);
      },
    };
  }
  return source;
}
