// The page's query (?sort=&order=&filter=&state=&offset=&limit=) as a SnapshotQuery. Unknown
// values are refused with a message rather than ignored, so a typo in a script shows up.

import { NODE_STATES, SORT_KEYS, type NodeState, type SnapshotQuery, type SortKey } from '../status/types.js';
import { MAX_LIMIT } from '../status/wave-tracker.js';

export type ParsedQuery = { readonly ok: true; readonly query: SnapshotQuery } | { readonly ok: false; readonly message: string };

const MAX_FILTER = 200;

function int(v: string | undefined, name: string, max: number): number | string | undefined {
  if (v === undefined || v === '') return undefined;
  if (!/^\d{1,9}$/.test(v)) return `${name} must be a non-negative integer`;
  const n = Number(v);
  return n > max ? `${name} must be at most ${max}` : n;
}

export function parseStatusQuery(params: Record<string, string | undefined>): ParsedQuery {
  const q: { -readonly [K in keyof SnapshotQuery]: SnapshotQuery[K] } = {};
  const { sort, order, filter, state } = params;
  if (sort !== undefined && sort !== '') {
    if (!(SORT_KEYS as readonly string[]).includes(sort)) return { ok: false, message: `sort must be one of ${SORT_KEYS.join(', ')}` };
    q.sort = sort as SortKey;
  }
  if (order !== undefined && order !== '') {
    if (order !== 'asc' && order !== 'desc') return { ok: false, message: 'order must be asc or desc' };
    q.order = order;
  }
  if (filter !== undefined) {
    if (filter.length > MAX_FILTER) return { ok: false, message: `filter must be at most ${MAX_FILTER} characters` };
    q.filter = filter;
  }
  if (state !== undefined && state !== '') {
    const states = state.split(',');
    const bad = states.find((s) => !(NODE_STATES as readonly string[]).includes(s));
    if (bad !== undefined) return { ok: false, message: `state ${JSON.stringify(bad)} is not one of ${NODE_STATES.join(', ')}` };
    q.states = states as NodeState[];
  }
  const offset = int(params.offset, 'offset', 1e9);
  if (typeof offset === 'string') return { ok: false, message: offset };
  if (offset !== undefined) q.offset = offset;
  const limit = int(params.limit, 'limit', MAX_LIMIT);
  if (typeof limit === 'string') return { ok: false, message: limit };
  if (limit !== undefined) q.limit = limit;
  return { ok: true, query: q };
}
