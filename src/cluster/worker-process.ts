// How a cluster's primary starts its workers' Node processes: the environment and V8 flags that
// bound a serving process's memory. A user's own setting (in execArgv, NODE_OPTIONS or the
// environment) is always left alone.
//
// - glibc's mmap threshold (src/native/sendfile.c says why) goes through the environment, so it
//   holds from the worker's first allocation, addon or not.
// - The young generation: V8 lets each semi-space grow to 16 MiB, and a serving process that
//   allocates in bursts (a wave's registrations, a first sight of a base) keeps that memory
//   committed long after. Workers multiply it. At 2 MiB a worker on 256 KiB ranges runs a scavenge
//   every ~50 requests (about 0.3 ms each here); 200 registrations on 2 workers peaked at 442 MiB
//   (RSS, all processes) with V8's default and 365 MiB with 2 MiB (bench/rss-bench.ts has the
//   whole-wave figures).

import { flagName, SEMI_SPACE_FLAGS, userArgs } from '../heap-growth.js';
import { MMAP_THRESHOLD_BYTES, MMAP_THRESHOLD_ENV } from '../native/sendfile.js';

/** The semi-space size a worker is started with, in MiB. */
export const WORKER_SEMI_SPACE_MIB = 2;

function setsYoungGeneration(args: readonly string[]): boolean {
  return args.some((a) => SEMI_SPACE_FLAGS.includes(flagName(a)));
}

/** The node flags a worker is forked with: the primary's own, and a capped young generation. */
export function workerExecArgv(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  if (setsYoungGeneration(userArgs(execArgv, nodeOptions))) return [...execArgv];
  return [...execArgv, `--max-semi-space-size=${WORKER_SEMI_SPACE_MIB}`];
}

/** What a worker's environment adds to the primary's. */
export function workerEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return env[MMAP_THRESHOLD_ENV] === undefined ? { [MMAP_THRESHOLD_ENV]: String(MMAP_THRESHOLD_BYTES) } : {};
}
