// undici, loaded on first use. Loading it costs a process about 20 MiB (its modules and what they
// compile), and a cluster's workers never speak HTTP to an upstream, to Ironic or to a BMC unless
// an admin call or a node source asks them to. undici is CommonJS, so it loads synchronously at
// the first Agent or request, and types come from a type-only import.

import { createRequire } from 'node:module';
import type * as Undici from 'undici';

let loaded: typeof Undici | undefined;

export function undici(): typeof Undici {
  loaded ??= createRequire(import.meta.url)('undici') as typeof Undici;
  return loaded;
}

/** Whether undici has been loaded in this process (for tests of what a worker loads). */
export function undiciLoaded(): boolean {
  return loaded !== undefined;
}
