// The status view of a cluster. Each serving process sees only the transfers it serves, and the
// connection a browser's /ui request arrives on may land on any of them; so the one tracker is
// the primary's (src/cluster/status-hub.ts), and each worker sends it what its transfers did. A
// worker records what its observer gives into an outbox, flushed every RELAY_INTERVAL_MS (or at
// MAX_BATCH events) as one batch, packed for IPC (relay-wire.ts); the primary unpacks and
// applies each batch once (RelayedTransfers).
//
// A batch is small next to the traffic it describes: sequential bytes of a node coalesce into one
// event, and a node's base URL and ETag travel only when they change. Events apply at the far side
// with the time they happened (starts and ends) or when they arrive (bytes, a few hundred
// milliseconds late: the throughput chart's seconds shift by that much).
//
// A worker that dies leaves its open transfers open in the primary's tracker; when it exits, the
// primary ends them as its clients' transfers ended: aborted (a BMC retries elsewhere).

import { packBatch, type RelayBatch } from './relay-wire.js';
import type { TransferEnd, TransferStart } from './types.js';

/** What the observer feeds: the tracker's three calls. */
export interface TrackerSink {
  /** `status`: what the server answered, for ending the transfer if its process dies. */
  transferStart(e: TransferStart, status?: number): void;
  bytes(node: string, offset: number, length: number): void;
  transferEnd(e: TransferEnd): void;
}

/** A start (with the status answered), a run of bytes, an end. Plain arrays: they cross IPC. */
export type RelayEvent =
  | [kind: 0, start: TransferStart, status: number]
  | [kind: 1, node: string, offset: number, length: number]
  | [kind: 2, end: TransferEnd];

export const RELAY_INTERVAL_MS = 200;
/** Past this many events a batch goes at once: a message stays a few hundred kilobytes at most. */
export const MAX_BATCH = 4096;
/** Nodes whose last sent base and ETag are remembered (past it, they are sent again). */
const MAX_DESCRIBED = 20_000;

/** Applies every call to `local` and records it for the other processes. */
export class StatusOutbox implements TrackerSink {
  private events: RelayEvent[] = [];
  /** Each node's last bytes event in this batch, extended while reads stay sequential. */
  private lastBytes = new Map<string, [1, string, number, number]>();
  private described = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly local: TrackerSink,
    private readonly send: (batch: RelayBatch) => void,
    private readonly now: () => number = Date.now,
    private readonly intervalMs = RELAY_INTERVAL_MS,
  ) {}

  transferStart(e: TransferStart, status = 0): void {
    const full: TransferStart = e.at === undefined ? { ...e, at: this.now() } : e;
    this.local.transferStart(full);
    this.lastBytes.delete(e.node);
    const description = `${e.base ?? ''}\0${e.etag ?? ''}`;
    let sent: TransferStart = full;
    if (this.described.get(e.node) === description) {
      const { base: _b, etag: _e, ...rest } = full;
      sent = rest;
    } else {
      if (this.described.size >= MAX_DESCRIBED) this.described.clear();
      this.described.set(e.node, description);
    }
    this.push([0, sent, status]);
  }

  bytes(node: string, offset: number, length: number): void {
    this.local.bytes(node, offset, length);
    if (!(length > 0)) return;
    const last = this.lastBytes.get(node);
    if (last && last[2] + last[3] === offset) {
      last[3] += length;
      return;
    }
    const ev: [1, string, number, number] = [1, node, offset, length];
    this.lastBytes.set(node, ev);
    this.push(ev);
  }

  transferEnd(e: TransferEnd): void {
    const full: TransferEnd = e.at === undefined ? { ...e, at: this.now() } : e;
    this.local.transferEnd(full);
    this.lastBytes.delete(e.node);
    this.push([2, full]);
  }

  /** Sends what is recorded now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.events.length === 0) return;
    const batch = this.events;
    this.events = [];
    this.lastBytes.clear();
    this.send(packBatch(batch));
  }

  close(): void {
    this.flush();
  }

  private push(ev: RelayEvent): void {
    this.events.push(ev);
    if (this.events.length >= MAX_BATCH) {
      this.flush();
      return;
    }
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      // A pending batch never keeps a draining process alive.
      this.timer.unref();
    }
  }
}

/** The transfers other processes relayed: applied to the tracker, the open ones remembered per process. */
export class RelayedTransfers {
  /** origin -> node -> statuses of its transfers still open. */
  private readonly open = new Map<number, Map<string, number[]>>();
  /** Processes said to be gone (ids are not reused): a batch of theirs arriving late is dropped. */
  private readonly gone = new Set<number>();

  constructor(
    private readonly tracker: TrackerSink,
    private readonly now: () => number = Date.now,
  ) {}

  apply(origin: number, events: readonly RelayEvent[]): void {
    if (this.gone.has(origin)) return;
    let open = this.open.get(origin);
    if (!open) {
      open = new Map();
      this.open.set(origin, open);
    }
    for (const ev of events) {
      if (!Array.isArray(ev)) continue;
      if (ev[0] === 0) {
        const start = ev[1];
        if (typeof start?.node !== 'string') continue;
        this.tracker.transferStart(start);
        const statuses = open.get(start.node);
        if (statuses) statuses.push(ev[2]);
        else open.set(start.node, [ev[2]]);
      } else if (ev[0] === 1) {
        if (typeof ev[1] === 'string' && typeof ev[2] === 'number' && typeof ev[3] === 'number') this.tracker.bytes(ev[1], ev[2], ev[3]);
      } else if (ev[0] === 2) {
        const end = ev[1];
        if (typeof end?.node !== 'string') continue;
        this.tracker.transferEnd(end);
        const statuses = open.get(end.node);
        statuses?.shift();
        if (statuses?.length === 0) open.delete(end.node);
      }
    }
  }

  /** A process is gone: its open transfers end, aborted, with the status each had answered. */
  originGone(origin: number): void {
    const open = this.open.get(origin);
    this.open.delete(origin);
    if (this.gone.size >= 1024) this.gone.clear();
    this.gone.add(origin);
    if (!open) return;
    const at = this.now();
    for (const [node, statuses] of open) for (const status of statuses) this.tracker.transferEnd({ node, status, at });
  }

  /** Transfers still open from other processes (for tests). */
  openCount(): number {
    let n = 0;
    for (const nodes of this.open.values()) for (const s of nodes.values()) n += s.length;
    return n;
  }
}
