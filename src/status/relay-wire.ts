// A relay batch as it crosses IPC: every number of its events in one Float64Array, every string
// once in a table. Sent as events (arrays holding objects), a batch cost the structured clone
// about 2.4 us per request on small ranges (serialized in the worker, deserialized object by
// object in the primary, then collected), and the primary applies every worker's batches: at
// two workers on random 256 KiB ranges it spent 12% of a core on them. A typed array crosses as
// its bytes (0.06 us per request).
//
// Layout, one event after another (a string is its index in `strings`; -1 or NaN: absent):
//   start: 0, node, source, method, start, end, at, imageSize, base, etag, status
//   bytes: 1, node, offset, length
//   end:   2, node, status, at, code
// The primary unpacks what came from its workers, and still checks it: a batch that does not
// parse ends where it stops parsing, an event with a bad field is skipped.

import type { RelayEvent } from './relay.js';
import type { TransferEnd, TransferStart } from './types.js';

export interface RelayBatch {
  readonly strings: readonly string[];
  readonly numbers: Float64Array;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const START = 0;
const BYTES = 1;
const END = 2;
const SLOTS = [11, 4, 5] as const;

export function packBatch(events: readonly RelayEvent[]): RelayBatch {
  const strings: string[] = [];
  const ids = new Map<string, number>();
  const id = (s: string | undefined): number => {
    if (s === undefined) return -1;
    let i = ids.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      ids.set(s, i);
    }
    return i;
  };
  let size = 0;
  for (const ev of events) size += SLOTS[ev[0]];
  const n = new Float64Array(size);
  let p = 0;
  for (const ev of events) {
    if (ev[0] === START) {
      const s = ev[1];
      n[p] = START;
      n[p + 1] = id(s.node);
      n[p + 2] = id(s.source);
      n[p + 3] = id(s.method);
      n[p + 4] = s.start;
      n[p + 5] = s.end;
      n[p + 6] = s.at ?? Number.NaN;
      n[p + 7] = s.imageSize ?? Number.NaN;
      n[p + 8] = id(s.base);
      n[p + 9] = id(s.etag);
      n[p + 10] = ev[2];
    } else if (ev[0] === BYTES) {
      n[p] = BYTES;
      n[p + 1] = id(ev[1]);
      n[p + 2] = ev[2];
      n[p + 3] = ev[3];
    } else {
      const e = ev[1];
      n[p] = END;
      n[p + 1] = id(e.node);
      n[p + 2] = e.status;
      n[p + 3] = e.at ?? Number.NaN;
      n[p + 4] = id(e.code);
    }
    p += SLOTS[ev[0]];
  }
  return { strings, numbers: n };
}

/** The events of a batch; what does not parse is left out (see the head of this file). */
export function unpackBatch(batch: unknown): RelayEvent[] {
  if (typeof batch !== 'object' || batch === null) return [];
  const { strings, numbers: n } = batch as Partial<RelayBatch>;
  if (!Array.isArray(strings) || !(n instanceof Float64Array)) return [];
  // undefined: absent (-1); null: not a string of the table (the event is skipped).
  const str = (x: number): string | undefined | null => {
    if (x === -1) return undefined;
    const s = Number.isInteger(x) && x >= 0 && x < strings.length ? strings[x] : undefined;
    return typeof s === 'string' ? s : null;
  };
  const num = (x: number): boolean => Number.isFinite(x);
  const opt = (x: number): number | undefined => (Number.isFinite(x) ? x : undefined);
  const out: RelayEvent[] = [];
  let p = 0;
  while (p < n.length) {
    const kind = n[p]!;
    if (kind !== START && kind !== BYTES && kind !== END) break;
    const slots = SLOTS[kind];
    if (p + slots > n.length) break;
    const node = str(n[p + 1]!);
    if (typeof node === 'string') {
      if (kind === START) {
        const source = str(n[p + 2]!);
        const method = str(n[p + 3]!);
        const base = str(n[p + 8]!);
        const etag = str(n[p + 9]!);
        const at = opt(n[p + 6]!);
        const imageSize = opt(n[p + 7]!);
        if (
          typeof source === 'string' &&
          typeof method === 'string' &&
          base !== null &&
          etag !== null &&
          num(n[p + 4]!) &&
          num(n[p + 5]!) &&
          num(n[p + 10]!)
        ) {
          // Fields set one by one: spreading optional ones in was most of what unpacking cost.
          const start: Mutable<TransferStart> = { node, source, method, start: n[p + 4]!, end: n[p + 5]! };
          if (at !== undefined) start.at = at;
          if (imageSize !== undefined) start.imageSize = imageSize;
          if (base !== undefined) start.base = base;
          if (etag !== undefined) start.etag = etag;
          out.push([0, start, n[p + 10]!]);
        }
      } else if (kind === BYTES) {
        if (num(n[p + 2]!) && num(n[p + 3]!)) out.push([1, node, n[p + 2]!, n[p + 3]!]);
      } else {
        const code = str(n[p + 4]!);
        const at = opt(n[p + 3]!);
        if (code !== null && num(n[p + 2]!)) {
          const end: Mutable<TransferEnd> = { node, status: n[p + 2]! };
          if (code !== undefined) end.code = code;
          if (at !== undefined) end.at = at;
          out.push([2, end]);
        }
      }
    }
    p += slots;
  }
  return out;
}
