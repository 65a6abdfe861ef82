// How far V8 lets a serving process's heap grow past what is live, set at run time. V8 reads these
// two flags whenever it sizes a generation, so `v8.setFlagsFromString` works for them after start
// (unlike the semi-space size, which is fixed when the heap is made: src/cluster/worker-process.ts
// starts workers with it instead).
//
// - The old generation, in every serving process. After each full collection V8 lets the old
//   generation grow by a factor it picks from its collection and allocation speeds, up to 4x what
//   was live. A serving process has a small live heap (15-20 MiB), and what it promotes is mostly
//   garbage: the objects of requests that were in flight across a scavenge. In a cold wave every
//   worker's old generation grew to 45-60 MiB between collections. At 50% it stays within 1.5x
//   what was live (V8 still grows by a few MiB at the least). On random 256 KiB ranges this cost
//   no measurable server CPU per request (A/B on this machine, three rounds each).
// - The young generation of a cluster's primary: V8 grows each semi-space to 16 MiB under
//   allocation, and the primary (which the user started, so it cannot be given
//   `--max-semi-space-size`) only fetches, writes and answers IPC; growth factor 1 keeps its
//   young generation at the 1 MiB semi-spaces it starts with.
//
// A flag the user set (in execArgv or NODE_OPTIONS) is left alone.

import { setFlagsFromString } from 'node:v8';

/** Old-generation growth past what a full collection found live, in percent. */
export const HEAP_GROWING_PERCENT = 50;

/** Flags that size the young generation (a worker is started with one unless the user gave one). */
export const SEMI_SPACE_FLAGS = ['--max-semi-space-size', '--semi-space-size', '--max-young-generation-size'];
const YOUNG_GENERATION_FLAGS = [...SEMI_SPACE_FLAGS, '--semi-space-growth-factor'];

/** A flag's name as V8 compares it: before any `=`, with underscores read as dashes. */
export const flagName = (arg: string): string => arg.split('=')[0]!.replace(/_/g, '-');

/** The node flags the user gave this process: its execArgv, then NODE_OPTIONS. */
export const userArgs = (execArgv: readonly string[], nodeOptions: string | undefined): string[] => [
  ...execArgv,
  ...(nodeOptions ?? '').split(/\s+/).filter(Boolean),
];

/** The V8 flags this process sets on itself: for any serving process, or for a cluster's primary. */
export function heapGrowthFlags(role: 'serving' | 'primary', execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const theirs = userArgs(execArgv, nodeOptions).map(flagName);
  if (role === 'serving') return theirs.includes('--heap-growing-percent') ? [] : [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`];
  return theirs.some((f) => YOUNG_GENERATION_FLAGS.includes(f)) ? [] : ['--semi-space-growth-factor=1'];
}

/** The flags this process set on itself, in order (set again after a thread starts). */
const applied: string[] = [];

/** Sets this process's flags for `role`; returns them. */
export function boundHeapGrowth(role: 'serving' | 'primary'): string[] {
  const flags = heapGrowthFlags(role, process.execArgv, process.env.NODE_OPTIONS);
  for (const f of flags) setFlagsFromString(f);
  applied.push(...flags);
  return flags;
}

/**
 * Sets this process's flags again. Node resets V8's flags when a worker thread starts (a patch-set
 * thread, src/remaster/pool.ts): measured on Node 20, `--semi-space-growth-factor=1` set on the
 * main thread no longer held once a Worker came online, and a cluster primary's young generation
 * grew to 2 x 16 MiB in a cold wave after its first patch-set thread; set again after the thread
 * was online, it held. Setting it before then does not help. Call it once a thread is running.
 */
export function reapplyHeapGrowth(): void {
  for (const f of applied) setFlagsFromString(f);
}
