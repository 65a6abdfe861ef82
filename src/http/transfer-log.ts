// The HTTP layer's transfer observer: one log line per image body when it ends, and the request,
// byte, transfer and duration metrics, all fed from the serving core's transfer hub (the same
// path a status page subscribes to). Transfers without a body (HEAD, 304) are logged and counted
// by the request middleware like any other request.

import type { Logger } from 'pino';
import { MetricsRegistry, type Counter, type Gauge, type Histogram } from '../metrics.js';
import { jsonNumber, lineWriter } from '../log-line.js';
import type { TransferEnd, TransferInfo, TransferObserver } from '../serving/transfers.js';
import { STORE_SOURCE } from '../serving/serving.js';
import { errorCode } from './errors.js';

export interface HttpMetrics {
  readonly registry: MetricsRegistry;
  readonly requests: Counter;
  readonly bytesServed: Counter;
  readonly activeTransfers: Gauge;
  readonly transfers: Counter;
  readonly transferSeconds: Histogram;
  /** Image requests answered without waiting for anything (iso-node.ts). */
  readonly answeredAtOnce: Counter;
}

export function createHttpMetrics(registry = new MetricsRegistry()): HttpMetrics {
  return {
    registry,
    requests: registry.counter('isoproxy_http_requests_total', 'HTTP requests by route and status.', ['route', 'status']),
    bytesServed: registry.counter('isoproxy_http_bytes_served_total', 'Image body bytes written to clients.'),
    activeTransfers: registry.gauge('isoproxy_transfers_active', 'Image bodies being written now.'),
    transfers: registry.counter('isoproxy_transfers_total', 'Image body transfers by outcome.', ['outcome']),
    transferSeconds: registry.histogram(
      'isoproxy_transfer_duration_seconds',
      'Duration of image body transfers.',
      [0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300, 1800],
    ),
    answeredAtOnce: registry.counter(
      'isoproxy_image_answers_at_once_total',
      "Image requests answered without waiting: a cached range of a node's image already built.",
    ),
  };
}

/** The route label of image requests in `isoproxy_http_requests_total`, whatever their prefix. */
export const IMAGE_ROUTE = 'iso';

export function transferLog(metrics: HttpMetrics, logger: Logger, active: () => number): TransferObserver {
  // The line of a transfer that ended without an error, written on every request (log-line.ts).
  const info = lineWriter(logger, 'info');
  return {
    start(t) {
      if (t.body) metrics.activeTransfers.set(active());
    },
    end(t, r) {
      if (!t.body) return;
      metrics.activeTransfers.set(active());
      metrics.requests.inc({ route: IMAGE_ROUTE, status: String(t.status) });
      metrics.bytesServed.inc({}, r.bytes);
      metrics.transfers.inc({ outcome: r.outcome });
      metrics.transferSeconds.observe(r.durationMs / 1000);
      const lookups = r.stats ? r.stats.cacheHits + r.stats.cacheMisses : 0;
      const hitRatio = lookups > 0 && r.stats ? Math.round((r.stats.cacheHits / lookups) * 1000) / 1000 : null;
      if (info && r.error === undefined && r.outcome !== 'failed') {
        info(transferFields(t, r, hitRatio), 'transfer');
        return;
      }
      const line = transferRecord(t, r, hitRatio);
      // The request id as a field, not a child logger: one fewer object per transfer, same line.
      if (r.outcome === 'failed') logger.error(line, 'transfer failed');
      else logger.info(line, 'transfer');
    },
  };
}

/** A transfer's record for pino: the lines with an error, and what the hand-built line must equal. */
export function transferRecord(t: TransferInfo, r: TransferEnd, hitRatio: number | null): Record<string, unknown> {
  return {
    reqId: t.id,
    method: t.method,
    node: t.ref.name,
    ...(t.ref.source !== STORE_SOURCE ? { source: t.ref.source } : {}),
    range: t.rangeHeader ?? null,
    served: t.served,
    status: t.status,
    bytes: r.bytes,
    expectedBytes: t.expectedBytes,
    durationMs: r.durationMs,
    outcome: r.outcome,
    ...(r.stats ? { cacheHitRatio: hitRatio, upstreamBytes: r.stats.upstreamBytes } : {}),
    ...(r.error !== undefined ? { err: r.error, code: errorCode(r.error) } : {}),
  };
}

/** The fields of a transfer's line as a JSON fragment: those of `transferRecord` without an error, in its order. */
function transferFields(t: TransferInfo, r: TransferEnd, hitRatio: number | null): string {
  const str = JSON.stringify;
  let s = `,"reqId":${str(t.id)},"method":${str(t.method)},"node":${str(t.ref.name)}`;
  if (t.ref.source !== STORE_SOURCE) s += `,"source":${str(t.ref.source)}`;
  s +=
    `,"range":${t.rangeHeader === undefined ? 'null' : str(t.rangeHeader)},"served":${str(t.served)},"status":${jsonNumber(t.status)}` +
    `,"bytes":${jsonNumber(r.bytes)},"expectedBytes":${jsonNumber(t.expectedBytes)},"durationMs":${jsonNumber(r.durationMs)},"outcome":${str(r.outcome)}`;
  if (r.stats) s += `,"cacheHitRatio":${hitRatio === null ? 'null' : jsonNumber(hitRatio)},"upstreamBytes":${jsonNumber(r.stats.upstreamBytes)}`;
  return s;
}
