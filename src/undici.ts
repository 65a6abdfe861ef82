// undici, loaded on first use. Loading it cost a cluster worker 4-5 MiB of RSS (its modules and
// what they compile), and workers never speak HTTP to an upstream, to Ironic or to a BMC unless an
// admin call or a node source asks them to. undici is CommonJS, so it loads synchronously at
// the first Agent or request, and types come from a type-only import.

import { createRequire } from 'node:module';
import type * as Undici from 'undici';

let loaded: typeof Undici | undefined;

export function undici(): typeof Undici {
  loaded ??= createRequire(import.meta.url)('undici') as typeof Undici;
  return loaded;
}
