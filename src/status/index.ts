// The status view's core: the wave tracker fed by transfer events, and the snapshot it
// answers. No HTTP here; src/ui serves it and src/commands/status.ts prints it.
//
// Wired into `isoproxy serve` by wiring.ts (wireStatus): the tracker observes the transfer hub,
// declares the store's nodes, and reads the open bases and the block cache at snapshot time.

export {
  WaveTracker,
  type StatusProviders,
  type WaveTrackerOptions,
  DEFAULT_STALL_AFTER_MS,
  DEFAULT_IDLE_AFTER_MS,
  DEFAULT_MOUNTING_BYTES,
  DEFAULT_MAX_NODES,
  DEFAULT_LIMIT,
  MAX_LIMIT,
} from './wave-tracker.js';
export { IntervalSet, DEFAULT_MAX_INTERVALS } from './interval-set.js';
export { SecondRing } from './second-ring.js';
export { redactUrl } from './redact.js';
export { trackerObserver, servedSpan, type TrackerObserver, type ObservedTransfer, type ObservedEnd, type DescribeNode } from './observer.js';
export * from './types.js';
