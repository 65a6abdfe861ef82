// `isoproxy status`: the status page's summary in a terminal, for operators on SSH. Fetches
// /ui/api/status from a running server and prints nodes by state, the nodes that need attention
// (stalled, error), the top transfers by rate and the cache. `--json` prints the snapshot as is.
// Exit codes: 0 printed, 1 the server did not answer or refused the token, 2 usage.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { IsoproxyError } from '../errors.js';
import { NODE_STATES, type NodeRow, type StatusSnapshot } from '../status/types.js';

const USAGE = `Usage: isoproxy status [--url URL] [--token-file F] [--json] [--top N]

Shows what a running isoproxy's nodes are doing: how many are in each state, the stalled and
failed ones, the busiest transfers and the cache.

  --url URL          the server (default $ISOPROXY_URL or http://127.0.0.1:8080)
  --token-file F     file holding the admin or viewer token (first line);
                     default $ISOPROXY_ADMIN_TOKEN
  --top N            transfers to list (default 10, at most 500)
  --filter S         only nodes whose name, source, base or state contains S
  --json             print the snapshot as JSON
  -h, --help         show this help`;

export interface StatusDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly fetch?: typeof fetch;
}

const REQUEST_TIMEOUT_MS = 10_000;

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

function pct(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : `${(Math.floor(x * 1000) / 10).toFixed(1)}%`;
}

function age(iso: string | null, now: string): string {
  if (iso === null) return 'never';
  const s = Math.max(0, (Date.parse(now) - Date.parse(iso)) / 1000);
  if (s < 2) return 'now';
  if (s < 120) return `${Math.round(s)}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}

/** Rows as left-aligned columns (numbers right-aligned), two spaces apart. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>, rightAligned: ReadonlySet<number> = new Set()): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

function nodeRows(nodes: readonly NodeRow[], now: string): string[][] {
  return nodes.map((n) => [
    n.name,
    n.state + (n.complete ? ' ✓' : ''),
    pct(n.bootProgress ?? n.imageProgress),
    n.rateBytesPerSecond > 0 ? `${formatBytes(n.rateBytesPerSecond)}/s` : '-',
    age(n.lastAccess, now),
    n.source ?? '-',
    n.error ? `${n.error.status}${n.error.code ? ` ${n.error.code}` : ''}` : '',
  ]);
}

const NODE_HEADER = ['NODE', 'STATE', 'PROGRESS', 'RATE', 'LAST ACCESS', 'SOURCE', 'ERROR'];
const NODE_RIGHT = new Set([2, 3]);

/** The terminal summary of a snapshot (sorted by rate) and of the nodes needing attention. */
export function formatStatus(url: string, top: StatusSnapshot, attention: StatusSnapshot | undefined): string {
  const t = top.totals;
  const out: string[] = [];
  out.push(
    `isoproxy at ${url}: ${t.nodes} nodes, ${t.openTransfers} open transfers, served ${formatBytes(t.servedBytesPerSecond)}/s, upstream ${formatBytes(t.upstreamBytesPerSecond)}/s`,
  );
  out.push(`  ${NODE_STATES.map((s) => `${s} ${t.byState[s]}`).join(' · ')}`);
  if (attention && attention.nodes.items.length > 0) {
    out.push('', `Needs attention (${attention.nodes.total}):`, table(NODE_HEADER, nodeRows(attention.nodes.items, attention.now), NODE_RIGHT));
  }
  const moving = top.nodes.items.filter((n) => n.rateBytesPerSecond > 0 || n.openTransfers > 0);
  out.push('', moving.length > 0 ? 'Top transfers:' : 'Top transfers: none right now');
  if (moving.length > 0) out.push(table(NODE_HEADER, nodeRows(moving, top.now), NODE_RIGHT));
  const c = top.cache;
  if (c) {
    out.push(
      '',
      `Cache: ${formatBytes(c.usedBytes)} of ${formatBytes(c.budgetBytes)} (${pct(c.budgetBytes ? c.usedBytes / c.budgetBytes : null)}), hit ratio ${pct(c.hitRatio)}, ${c.evictions} evictions${c.degraded ? ', DEGRADED: misses are not written to disk' : ''}`,
    );
  }
  for (const b of top.bases) {
    // A base that failed to open has no size nor bytes to show: its code is the news.
    if (b.state === 'failed') out.push(`Base ${b.url}: failed${b.code ? ` ${b.code}` : ''}`);
    else
      out.push(
        `Base ${b.url}: ${b.state}, ${formatBytes(b.cachedBytes ?? 0)} of ${formatBytes(b.size)} cached, ${formatBytes(b.upstreamBytes ?? 0)} from upstream`,
      );
  }
  return `${out.join('\n')}\n`;
}

/** The server did not answer, refused the token or answered something else than a snapshot. */
export class StatusUnavailableError extends IsoproxyError {
  constructor(message: string) {
    super('STATUS_UNAVAILABLE', message);
  }
}

export async function statusCommand(argv: string[], deps: StatusDeps): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        'token-file': { type: 'string' },
        top: { type: 'string' },
        filter: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    deps.err(`isoproxy status: ${err instanceof Error ? err.message : String(err)} (see --help)\n`);
    return 2;
  }
  if (values.help) {
    deps.out(`${USAGE}\n`);
    return 0;
  }
  const top = values.top === undefined ? 10 : Number(values.top);
  if (!Number.isInteger(top) || top < 1 || top > 500) {
    deps.err('isoproxy status: --top must be an integer from 1 to 500\n');
    return 2;
  }
  const url = (values.url ?? deps.env.ISOPROXY_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  let token: string | undefined;
  try {
    token = values['token-file'] !== undefined ? readFileSync(values['token-file'], 'utf8').split(/\r?\n/)[0]?.trim() : deps.env.ISOPROXY_ADMIN_TOKEN;
  } catch (err) {
    deps.err(`isoproxy status: cannot read the token file: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const doFetch = deps.fetch ?? fetch;
  const get = async (query: Record<string, string>): Promise<StatusSnapshot> => {
    const params = new URLSearchParams(query);
    if (values.filter) params.set('filter', values.filter);
    let res: Response;
    try {
      res = await doFetch(`${url}/ui/api/status?${params}`, {
        headers: token ? { Authorization: `Bearer ${token}` } : {},
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : err instanceof Error ? `: ${err.message}` : '';
      throw new StatusUnavailableError(`no answer from ${url}${cause}`);
    }
    if (res.status === 401) throw new StatusUnavailableError(`${url} refused the token: set ISOPROXY_ADMIN_TOKEN or --token-file`);
    if (!res.ok) throw new StatusUnavailableError(`${url}/ui/api/status answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    return (await res.json()) as StatusSnapshot;
  };
  try {
    const byRate = await get({ sort: 'rate', order: 'desc', limit: String(top) });
    if (values.json) {
      deps.out(`${JSON.stringify(byRate, null, 2)}\n`);
      return 0;
    }
    const needs =
      byRate.totals.byState.stalled + byRate.totals.byState.error > 0
        ? await get({ state: 'stalled,error', sort: 'state', limit: String(top) })
        : undefined;
    deps.out(formatStatus(url, byRate, needs));
    return 0;
  } catch (err) {
    if (!(err instanceof StatusUnavailableError)) throw err;
    deps.err(`isoproxy status: ${err.message}\n`);
    return 1;
  }
}

export function run(argv: string[]): Promise<number> {
  return statusCommand(argv, {
    env: process.env,
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
}
