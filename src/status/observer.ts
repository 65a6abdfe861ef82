// The tracker as an observer of the serving core's transfers (src/serving/transfers.ts:
// `serving.transfers.observe(trackerObserver(tracker))`). Typed structurally here, so this module
// does not depend on the serving core's files: any object with these fields will do.
//
// The observer sees transfers that began, that is requests whose node and image resolved, and the
// requests for a known node that failed before a body (a base that cannot be opened: 502): the
// image route reports those as failed transfers without a body, and the node shows as error.

import type { TrackerSink } from './relay.js';

export interface ObservedTransfer {
  readonly ref: { readonly source: string; readonly name: string };
  readonly method: string;
  readonly status: number;
  /** False for HEAD and 304. */
  readonly body: boolean;
  /** "full", "0-1023" (inclusive) or "0-1,5-9" (multipart). */
  readonly served: string;
  /** [start, end) of the bytes served, when the writer says (else parsed from `served`). */
  readonly span?: { readonly start: number; readonly end: number };
  readonly expectedBytes: number;
}

export interface ObservedEnd {
  readonly outcome: 'complete' | 'aborted' | 'failed';
  readonly error?: unknown;
}

/** What the server knows of a node's image, for the page (all optional, called once per transfer). */
export type DescribeNode = (
  ref: ObservedTransfer['ref'],
) => { readonly imageSize?: number; readonly base?: string; readonly etag?: string } | undefined;

export interface TrackerObserver {
  start(t: ObservedTransfer): void;
  bytes(t: ObservedTransfer, offset: number, length: number): void;
  end(t: ObservedTransfer, e: ObservedEnd): void;
}

/** [start, end) of what a transfer serves: the first range's start to the last range's end. */
export function servedSpan(t: Pick<ObservedTransfer, 'served' | 'expectedBytes' | 'body' | 'span'>): { start: number; end: number } {
  if (!t.body) return { start: 0, end: 0 };
  if (t.span) return t.span;
  const ranges = [...t.served.matchAll(/(\d+)-(\d+)/g)].map((m) => [Number(m[1]), Number(m[2]) + 1] as const);
  if (ranges.length === 0) return { start: 0, end: t.expectedBytes };
  return { start: Math.min(...ranges.map((r) => r[0])), end: Math.max(...ranges.map((r) => r[1])) };
}

function codeOf(err: unknown): string {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'TRANSFER_FAILED';
}

export function trackerObserver(tracker: TrackerSink, describe?: DescribeNode): TrackerObserver {
  return {
    start(t) {
      const { start, end } = servedSpan(t);
      const d = describe?.(t.ref);
      // A full 200 body is the whole image: its length is the size.
      const imageSize = d?.imageSize ?? (t.body && t.served === 'full' ? t.expectedBytes : undefined);
      tracker.transferStart(
        {
          node: t.ref.name,
          source: t.ref.source,
          method: t.method,
          start,
          end,
          ...(imageSize !== undefined ? { imageSize } : {}),
          ...(d?.base !== undefined ? { base: d.base } : {}),
          ...(d?.etag !== undefined ? { etag: d.etag } : {}),
        },
        t.status,
      );
    },
    bytes(t, offset, length) {
      tracker.bytes(t.ref.name, offset, length);
    },
    end(t, e) {
      // An aborted transfer is a client that went away (BMCs cancel reads): not an error.
      tracker.transferEnd({ node: t.ref.name, status: t.status, ...(e.outcome === 'failed' ? { code: codeOf(e.error) } : {}) });
    },
  };
}
