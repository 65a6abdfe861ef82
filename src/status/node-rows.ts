// One node as the wave tracker keeps it (NodeRecord), and how a snapshot turns it into a row: its
// state now, its progress and rate, the JSON row, and the filter and sort orders over rows. The
// tracker (wave-tracker.ts) feeds records on the hot path; everything here runs at snapshot time.

import type { IntervalSet } from './interval-set.js';
import { redactUrl } from './redact.js';
import type { SecondRing } from './second-ring.js';
import { NODE_STATES, type NodeRow, type NodeState, type SortKey } from './types.js';

/** Seconds a node's rate looks back. */
export const RATE_SECONDS = 5;

/** What a node's state is measured against (the tracker's settings). */
export interface StateSettings {
  readonly stallAfterMs: number;
  readonly idleAfterMs: number;
  readonly mountingBytes: number;
}

export class NodeRecord {
  source: string | undefined;
  base: string | undefined;
  /** base without credentials or query, computed once per change (filters read it per snapshot). */
  baseShown: string | undefined;
  edits: string | undefined;
  etag: string | undefined;
  expiresAtMs: number | undefined;
  imageSize: number | undefined;
  /** Created by declare() or the first transfer; the eviction order for never-fetched nodes. */
  touchedAt: number;
  intervals: IntervalSet | undefined;
  rate: SecondRing | undefined;
  /** When the current run of bytes began (for the rate of a node that just started). */
  streakAt = 0;
  firstAccessAt: number | undefined;
  /** Last transfer start or end, or byte. */
  lastActivityAt = 0;
  /** Last transfer start, or byte: what a stall is measured from. */
  lastProgressAt = 0;
  lastByteAt = 0;
  open = 0;
  transfers = 0;
  servedBytes = 0;
  lastMethod = '';
  lastStart = 0;
  lastEnd = 0;
  lastStatus: number | undefined;
  lastOkAt: number | undefined;
  error: { status: number; code: string | undefined; at: number } | undefined;
  gone: boolean = false;

  constructor(
    readonly name: string,
    at: number,
  ) {
    this.touchedAt = at;
  }
}

export interface Computed {
  readonly rec: NodeRecord;
  readonly state: NodeState;
  readonly distinct: number;
  readonly bootBytes: number | undefined;
  readonly progress: number;
  readonly rate: number;
}

export function parseExpiry(v: string | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const ms = typeof v === 'number' ? v : Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

export function iso(ms: number | undefined): string | null {
  return ms === undefined || ms === 0 ? null : new Date(ms).toISOString();
}

export function nodeState(rec: NodeRecord, now: number, distinct: number, settings: StateSettings): NodeState {
  if (rec.expiresAtMs !== undefined && now >= rec.expiresAtMs) return 'expired';
  if (rec.gone) return 'expired';
  if (rec.firstAccessAt === undefined) return 'never';
  if (rec.error && (rec.lastOkAt === undefined || rec.error.at >= rec.lastOkAt) && rec.open === 0) return 'error';
  if (rec.open > 0 && now - rec.lastProgressAt >= settings.stallAfterMs) return 'stalled';
  if (rec.open === 0 && now - rec.lastActivityAt >= settings.idleAfterMs) return 'idle';
  return distinct < settings.mountingBytes ? 'mounting' : 'reading';
}

export function computeNode(rec: NodeRecord, now: number, bootBytes: number | undefined, settings: StateSettings): Computed {
  const distinct = rec.intervals?.coveredBytes ?? 0;
  const target = bootBytes ?? rec.imageSize;
  return {
    rec,
    state: nodeState(rec, now, distinct, settings),
    distinct,
    bootBytes,
    progress: target ? Math.min(1, distinct / target) : 0,
    rate: rec.rate && now - rec.lastByteAt < RATE_SECONDS * 1000 ? rec.rate.rate(now, RATE_SECONDS, rec.streakAt) : 0,
  };
}

export function nodeRow(c: Computed): NodeRow {
  const { rec, distinct, bootBytes } = c;
  const size = rec.imageSize;
  const target = bootBytes ?? size;
  return {
    name: rec.name,
    source: rec.source ?? null,
    base: rec.baseShown ?? null,
    edits: rec.edits ?? null,
    etag: rec.etag ?? null,
    state: c.state,
    complete: target !== undefined && target > 0 && distinct >= target,
    distinctBytes: distinct,
    coarsenedBytes: rec.intervals?.coarsenedBytes ?? 0,
    bootBytes: bootBytes ?? null,
    imageSize: size ?? null,
    bootProgress: bootBytes ? Math.min(1, distinct / bootBytes) : null,
    imageProgress: size ? Math.min(1, distinct / size) : null,
    rateBytesPerSecond: Math.round(c.rate),
    servedBytes: rec.servedBytes,
    transfers: rec.transfers,
    openTransfers: rec.open,
    lastAccess: iso(rec.lastActivityAt),
    lastRange: rec.transfers > 0 ? { method: rec.lastMethod, start: rec.lastStart, end: rec.lastEnd } : null,
    lastStatus: rec.lastStatus ?? null,
    error: rec.error && c.state === 'error' ? { status: rec.error.status, code: rec.error.code ?? null, at: iso(rec.error.at)! } : null,
    expiresAt: iso(rec.expiresAtMs),
    coverage: size && rec.intervals ? rec.intervals.intervals().map(([s, e]) => [s / size, e / size] as const) : null,
  };
}

export function setBase(rec: NodeRecord, base: string): void {
  if (rec.base === base) return;
  rec.base = base;
  rec.baseShown = redactUrl(base);
}

export function matches(rec: NodeRecord, state: NodeState, filter: string): boolean {
  return (
    rec.name.toLowerCase().includes(filter) ||
    state === filter ||
    (rec.source?.toLowerCase().includes(filter) ?? false) ||
    (rec.baseShown?.toLowerCase().includes(filter) ?? false)
  );
}

export function comparator(sort: SortKey): (a: Computed, b: Computed) => number {
  const str = (x: string | undefined, y: string | undefined): number => ((x ?? '') < (y ?? '') ? -1 : (x ?? '') > (y ?? '') ? 1 : 0);
  switch (sort) {
    case 'name':
      return (a, b) => str(a.rec.name, b.rec.name);
    case 'state':
      return (a, b) => NODE_STATES.indexOf(a.state) - NODE_STATES.indexOf(b.state);
    case 'progress':
      return (a, b) => a.progress - b.progress;
    case 'rate':
      return (a, b) => a.rate - b.rate;
    case 'lastAccess':
      return (a, b) => a.rec.lastActivityAt - b.rec.lastActivityAt;
    case 'source':
      return (a, b) => str(a.rec.source, b.rec.source);
    case 'base':
      return (a, b) => str(a.rec.base, b.rec.base);
  }
}
