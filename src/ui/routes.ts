// The status view as a hono sub-app, to be mounted at the root of the server's app:
//
//   GET /ui                          redirects to /ui/ (so every URL in the page can be relative)
//   GET /ui/, /ui/app.js, /ui/app.css  the page: plain HTML, CSS and JS from strings, no token
//                                    needed (they hold no data), no CDN, no build step
//   GET /ui/api/status               one snapshot as JSON                       (Bearer token)
//   GET /ui/api/events               server-sent events, a snapshot every intervalMs (Bearer token)
//   GET /ui/api/nodes/:name/diff     the node's boot-config diff, as text, for the edits hover: what
//                                    `isoproxy preview` prints, computed when asked, never per snapshot
//                                    (Bearer token; 404 NOT_FOUND for a node no source knows)
//
// The page never puts the token in a URL: it keeps it in sessionStorage and reads the event stream
// with fetch() and an Authorization header (EventSource cannot send one), falling back to polling.
// Both API routes take ?sort=&order=&filter=&state=&offset=&limit= (see query.ts).

import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { SnapshotQuery, StatusSnapshot, StatusView } from '../status/types.js';
import { statusAuth, type StatusAuth } from './auth.js';
import { APP_CSS } from './assets/app-css.js';
import { APP_JS } from './assets/app-js.js';
import { INDEX_HTML } from './assets/index-html.js';
import { parseStatusQuery } from './query.js';

export interface StatusRoutesOptions {
  /** A WaveTracker, or a cluster primary's tracker reached over IPC. */
  readonly view: Pick<StatusView, 'snapshot'>;
  readonly auth: StatusAuth;
  /** The full diff of a node's boot configs (what `isoproxy preview` prints); undefined when unknown. */
  readonly nodeDiff?: (name: string, signal: AbortSignal) => Promise<string | undefined>;
  /** How often the event stream sends a snapshot. Default 1000 ms. */
  readonly intervalMs?: number;
  /** Event streams open at once; more are refused with 503. Default 32. */
  readonly maxStreams?: number;
  /** Ends every event stream when aborted (graceful shutdown). */
  readonly signal?: AbortSignal;
  /** Where the view lives. Default '/ui'. */
  readonly basePath?: string;
}

/** Longest diff sent for the hover. */
const MAX_DIFF_CHARS = 256 * 1024;

const PAGE_HEADERS = {
  'Cache-Control': 'no-cache',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // The page loads only its own script and style and talks only to its own API.
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
};

export function createStatusRoutes(options: StatusRoutesOptions): Hono {
  const base = (options.basePath ?? '/ui').replace(/\/+$/, '');
  const intervalMs = options.intervalMs ?? 1000;
  const maxStreams = options.maxStreams ?? 32;
  const app = new Hono();
  let streams = 0;

  // Viewers asking for the same page within half an interval share one snapshot: at 10,000 nodes
  // a snapshot is a few tens of milliseconds of CPU (the primary's, in a cluster).
  const memo = new Map<string, { at: number; snapshot: Promise<StatusSnapshot> }>();
  const snapshot = (key: string, query: SnapshotQuery): Promise<StatusSnapshot> => {
    const t = performance.now();
    const hit = memo.get(key);
    if (hit && t - hit.at < intervalMs / 2) return hit.snapshot;
    if (memo.size > 64) memo.clear();
    const s = Promise.resolve().then(() => options.view.snapshot(query));
    memo.set(key, { at: t, snapshot: s });
    // A failed snapshot (a primary going away) is not handed to the next viewer.
    s.catch(() => memo.delete(key));
    return s;
  };

  app.get(base, (c) => c.redirect(`${base.slice(base.lastIndexOf('/') + 1)}/`, 302));
  app.get(`${base}/`, (c) => c.html(INDEX_HTML, 200, PAGE_HEADERS));
  app.get(`${base}/app.js`, (c) => c.body(APP_JS, 200, { ...PAGE_HEADERS, 'Content-Type': 'text/javascript; charset=utf-8' }));
  app.get(`${base}/app.css`, (c) => c.body(APP_CSS, 200, { ...PAGE_HEADERS, 'Content-Type': 'text/css; charset=utf-8' }));

  app.use(`${base}/api/*`, statusAuth(options.auth));
  app.use(`${base}/api/*`, async function noStore(c, next) {
    await next();
    c.header('Cache-Control', 'no-store');
  });

  app.get(`${base}/api/status`, async (c) => {
    const parsed = parseStatusQuery(c.req.query());
    if (!parsed.ok) return c.json({ error: { code: 'INVALID_QUERY', message: parsed.message } }, 400);
    return c.json(await snapshot(new URL(c.req.url).search, parsed.query));
  });

  app.get(`${base}/api/events`, (c) => {
    const parsed = parseStatusQuery(c.req.query());
    if (!parsed.ok) return c.json({ error: { code: 'INVALID_QUERY', message: parsed.message } }, 400);
    if (streams >= maxStreams)
      return c.json(
        { error: { code: 'TOO_MANY_STREAMS', message: `at most ${maxStreams} status streams at once; poll /ui/api/status instead` } },
        503,
        { 'Retry-After': '5' },
      );
    const key = new URL(c.req.url).search;
    streams++;
    c.header('Cache-Control', 'no-store');
    c.header('X-Accel-Buffering', 'no');
    return streamSSE(c, async (stream) => {
      let open = true;
      let wake: (() => void) | undefined;
      const stop = (): void => {
        open = false;
        wake?.();
      };
      stream.onAbort(stop);
      options.signal?.addEventListener('abort', stop, { once: true });
      try {
        while (open && !options.signal?.aborted) {
          await stream.writeSSE({ event: 'status', data: JSON.stringify(await snapshot(key, parsed.query)) });
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, intervalMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
        }
      } finally {
        streams--;
        options.signal?.removeEventListener('abort', stop);
      }
    });
  });

  app.get(`${base}/api/nodes/:name/diff`, async (c) => {
    const name = c.req.param('name');
    const diff = options.nodeDiff ? await options.nodeDiff(name, c.req.raw.signal) : undefined;
    if (diff === undefined) return c.json({ error: { code: 'NOT_FOUND', message: `no diff for node ${JSON.stringify(name)}` } }, 404);
    const text = diff.length > MAX_DIFF_CHARS ? `${diff.slice(0, MAX_DIFF_CHARS)}\n… (truncated)` : diff;
    return c.text(text, 200, { 'X-Content-Type-Options': 'nosniff' });
  });

  return app;
}
