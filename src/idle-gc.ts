// A full garbage collection once a serving process goes quiet after a burst of work.
//
// V8 collects only when JavaScript allocates. After a burst (a wave's registrations, a base's
// first fill, patch sets computed) a process that then only answers from the cache, or waits,
// keeps what the burst left: the young generation grown to 2 x 16 MiB, and block buffers already
// dead but not yet collected (external memory V8 does not count as heap). Measured on a
// `--workers 2` primary after 200 registrations and one whole GET: 102 MiB RSS, of which 31 MiB
// was young generation and 11 MiB dead buffers; one collection took it to 77 MiB.
//
// Quiet means the event loop was busy less than IDLE_UTILIZATION of each check period for at
// least QUIET_MS: V8 shrinks the young generation only in a collection that finds allocation slow
// over its last 5 s, so a collection sooner after a burst would keep it. A collection runs when
// the resident size grew by GROWTH_BYTES since the last one, or while the young generation is
// still grown; at most MAX_IN_A_ROW without new growth, so a process that stays idle is not
// collected over and over. A busy wave keeps the loop over the line; a slow one (a few BMCs)
// may see a collection, a pause of a few milliseconds on an idle core.

import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const IDLE_CHECK_MS = 2000;
export const IDLE_UTILIZATION = 0.02;
export const QUIET_MS = 6000;
export const GROWTH_BYTES = 8 * 1024 * 1024;
/** The young generation's size (both semi-spaces) V8 starts with is 2 MiB; above this it has grown. */
export const YOUNG_GROWN_BYTES = 4 * 1024 * 1024;
export const MAX_IN_A_ROW = 3;

export interface IdleGcProbe {
  /** Event loop utilization (0..1) since the previous call. */
  utilization(): number;
  /** Resident set size in bytes. */
  rss(): number;
  /** The young generation's size in bytes. */
  young(): number;
  /** A full collection. */
  collect(): void;
}

export interface IdleState {
  /** Resident size after the last collection (or the lowest seen since). */
  readonly baseline: number;
  /** Collections since the resident size last grew by GROWTH_BYTES. */
  readonly inARow: number;
  /** How long the process has been quiet (since its last collection, at most). */
  readonly quietMs: number;
}

/** One check, `periodMs` after the previous one: collects when the process is quiet and has something to give back. */
export function idleCheck(probe: IdleGcProbe, state: IdleState, periodMs: number): IdleState & { readonly collected: boolean } {
  const quietMs = probe.utilization() < IDLE_UTILIZATION ? state.quietMs + periodMs : 0;
  const rss = probe.rss();
  const grew = rss >= state.baseline + GROWTH_BYTES;
  const inARow = grew ? 0 : state.inARow;
  const wanted = grew || (probe.young() > YOUNG_GROWN_BYTES && inARow < MAX_IN_A_ROW);
  if (quietMs < QUIET_MS || !wanted) return { collected: false, baseline: Math.min(state.baseline, rss), inARow, quietMs };
  probe.collect();
  return { collected: true, baseline: probe.rss(), inARow: inARow + 1, quietMs: 0 };
}

let exposedGc: (() => void) | undefined;

/** V8's `gc`, made available at run time (as `--expose-gc` would at start) in a context of its own. */
function fullGc(): () => void {
  if (!exposedGc) {
    setFlagsFromString('--expose-gc');
    exposedGc = runInNewContext('gc') as () => void;
  }
  return exposedGc;
}

/** The probe of this process: event loop utilization, RSS, V8's new space, V8's `gc`. */
export function processProbe(): IdleGcProbe {
  let last: EventLoopUtilization | undefined;
  return {
    utilization() {
      const now = performance.eventLoopUtilization();
      const u = last ? performance.eventLoopUtilization(now, last).utilization : 1;
      last = now;
      return u;
    },
    rss: () => process.memoryUsage.rss(),
    young: () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0,
    collect: () => fullGc()(),
  };
}

export interface IdleGcOptions {
  readonly probe?: IdleGcProbe;
  readonly everyMs?: number;
  /** After each collection, with the resident size after it, in bytes. */
  readonly onCollect?: (after: number) => void;
}

/** Starts the checks for this process; returns a stop function. The timer never holds the process. */
export function collectWhenIdle(options: IdleGcOptions = {}): () => void {
  const probe = options.probe ?? processProbe();
  const everyMs = options.everyMs ?? IDLE_CHECK_MS;
  let state: ReturnType<typeof idleCheck> = { baseline: probe.rss(), inARow: 0, quietMs: 0, collected: false };
  probe.utilization();
  const timer = setInterval(() => {
    state = idleCheck(probe, state, everyMs);
    if (state.collected) options.onCollect?.(state.baseline);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
