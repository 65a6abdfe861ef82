import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { WaveTracker, type StatusSnapshot } from '../../src/status/index.js';
import { createStatusRoutes } from '../../src/ui/index.js';
import { APP_JS } from '../../src/ui/assets/app-js.js';

const ADMIN = 'admin-token-0123456789';
const VIEWER = 'viewer-token-0123456789';

function setup(options: { viewer?: boolean; open?: boolean } = {}) {
  const diffsAsked: string[] = [];
  const tracker = new WaveTracker({ cache: () => ({ budgetBytes: 100, usedBytes: 40, hits: 3, misses: 1, evictions: 0, degraded: false }) });
  tracker.transferStart({ node: 'n1', source: 'store', method: 'GET', start: 0, end: 1000, imageSize: 4000 });
  tracker.bytes('n1', 0, 1000);
  tracker.transferEnd({ node: 'n1', status: 206 });
  const routes = createStatusRoutes({
    view: tracker,
    auth: options.open ? {} : { adminToken: ADMIN, ...(options.viewer ? { viewerToken: VIEWER } : {}) },
    nodeDiff: async (name) => {
      diffsAsked.push(name);
      return name === 'n1' ? '--- a/grub.cfg\n+++ b/grub.cfg\n+ ip=dhcp' : undefined;
    },
    intervalMs: 50,
  });
  // Mounted the way the server mounts it: at the root of the app.
  const app = new Hono();
  app.route('/', routes);
  return { app, tracker, diffsAsked };
}

const bearer = (t: string) => ({ headers: { Authorization: `Bearer ${t}` } });

describe('status routes', () => {
  it('serves the page, its script and its style without a token, with a strict CSP', async () => {
    const { app } = setup();
    const page = await app.request('/ui/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('id="login-form"');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await app.request('/ui/app.js')).headers.get('content-type')).toMatch(/javascript/);
    expect((await app.request('/ui/app.css')).headers.get('content-type')).toMatch(/css/);
  });

  it('redirects /ui to /ui/ with a relative location, so the page works behind a path prefix', async () => {
    const { app } = setup();
    const res = await app.request('/ui');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('ui/');
  });

  it('answers 401 without a token, or with a wrong one', async () => {
    const { app } = setup();
    for (const init of [{}, bearer('wrong-token-0123456789'), { headers: { Authorization: ADMIN } }]) {
      const res = await app.request('/ui/api/status', init);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await res.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
    }
    expect((await app.request('/ui/api/events')).status).toBe(401);
    expect((await app.request('/ui/api/nodes/n1/diff')).status).toBe(401);
  });

  it('answers the snapshot to the admin token, and to the viewer token when one is set', async () => {
    const { app } = setup({ viewer: true });
    for (const t of [ADMIN, VIEWER]) {
      const res = await app.request('/ui/api/status?sort=rate&limit=10', bearer(t));
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const s = (await res.json()) as StatusSnapshot;
      expect(s.nodes.items[0]).toMatchObject({ name: 'n1', distinctBytes: 1000, imageProgress: 0.25 });
      expect(s.cache).toMatchObject({ usedBytes: 40, hitRatio: 0.75 });
    }
    expect((await setup().app.request('/ui/api/status', bearer(VIEWER))).status).toBe(401);
  });

  it('is open when no token is configured (loopback only, like the admin API)', async () => {
    const { app } = setup({ open: true });
    expect((await app.request('/ui/api/status')).status).toBe(200);
  });

  it('refuses an unknown sort, state or an oversized page with 400', async () => {
    const { app } = setup();
    for (const q of ['sort=size', 'order=up', 'state=busy', 'limit=100000', 'offset=-1']) {
      const res = await app.request(`/ui/api/status?${q}`, bearer(ADMIN));
      expect(res.status, q).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INVALID_QUERY');
    }
  });

  it('streams snapshots as server-sent events until the client goes away', async () => {
    const { app, tracker } = setup();
    const ac = new AbortController();
    const res = await app.request('/ui/api/events?limit=5', { ...bearer(ADMIN), signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while ((text.match(/event: status/g) ?? []).length < 2) {
      const r = await reader.read();
      if (r.done) break;
      text += decoder.decode(r.value, { stream: true });
      tracker.bytes('n1', 1000, 1000);
    }
    const frames = text.split('\n\n').filter((f) => f.includes('event: status'));
    expect(frames.length).toBeGreaterThanOrEqual(2);
    const data = JSON.parse(
      frames[0]!
        .split('\n')
        .find((l) => l.startsWith('data: '))!
        .slice(6),
    );
    expect(data.nodes.limit).toBe(5);
    await reader.cancel();
    ac.abort();
  });

  it("answers a node's diff as text only when asked, 404 with a code for an unknown node, 401 without a token", async () => {
    const { app, diffsAsked } = setup({ viewer: true });
    // Snapshots never compute a diff: only the hover's request does.
    await app.request('/ui/api/status', bearer(ADMIN));
    expect(diffsAsked).toEqual([]);
    for (const t of [ADMIN, VIEWER]) {
      const res = await app.request('/ui/api/nodes/n1/diff', bearer(t));
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toContain('+ ip=dhcp');
    }
    const unknown = await app.request('/ui/api/nodes/zz/diff', bearer(ADMIN));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ error: { code: 'NOT_FOUND', message: expect.stringContaining('zz') } });
    for (const init of [{}, bearer('wrong-token-0123456789')]) {
      const res = await app.request('/ui/api/nodes/n1/diff', init);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    }
    expect(diffsAsked).toEqual(['n1', 'n1', 'zz']);
  });

  it('answers 404 with a code when the server has no diff to give', async () => {
    const routes = createStatusRoutes({ view: new WaveTracker(), auth: { adminToken: ADMIN } });
    const res = await routes.request('/ui/api/nodes/n1/diff', bearer(ADMIN));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('ships a script that parses and never interpolates into HTML', () => {
    expect(() => new Function(APP_JS)).not.toThrow();
    expect(APP_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    // The token goes in a header, never in a URL.
    expect(APP_JS).not.toMatch(/[?&]token=/);
  });
});
