// The status view's core: the wave tracker fed by transfer events, and the snapshot it
// answers. No HTTP here; src/ui serves it and src/commands/status.ts prints it.
//
// Wiring in the composition root (serve), once the serving core exists:
//
//   const tracker = new WaveTracker({ stallAfterMs: config.stallAfterMs });
//   serving.transfers.observe(trackerObserver(tracker, (ref) => ({ imageSize, base, etag })));
//   tracker.setProviders({
//     bases: () => [...open bases as BaseInfo...],        // cachedBytes, upstreamBytes, bootBytes
//     cache: () => ({ budgetBytes, usedBytes: s.bytesUsed, hits: s.hits, misses: s.misses,
//                     evictions: s.evictions, degraded: s.degraded }),   // s = cache.stats()
//     upstreamTotal: () => cache.stats().upstreamBytes,
//   });
//   store.onChange((name) => spec ? tracker.declare({ name, source, base, edits, expiresAt }) : tracker.forget(name));
//   app.route('/', createStatusRoutes({ tracker, auth: { adminToken, viewerToken }, nodeDiff }));

export { WaveTracker, type StatusProviders, type WaveTrackerOptions, DEFAULT_STALL_AFTER_MS, DEFAULT_IDLE_AFTER_MS, DEFAULT_MOUNTING_BYTES, DEFAULT_MAX_NODES, DEFAULT_LIMIT, MAX_LIMIT } from './wave-tracker.js';
export { IntervalSet, DEFAULT_MAX_INTERVALS } from './interval-set.js';
export { SecondRing } from './second-ring.js';
export { redactUrl } from './redact.js';
export { trackerObserver, servedSpan, type TrackerObserver, type ObservedTransfer, type ObservedEnd, type DescribeNode } from './observer.js';
export * from './types.js';
