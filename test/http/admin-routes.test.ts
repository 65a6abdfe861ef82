// The admin API /api/v1 through a real listening server: authentication, node lifecycle, paging,
// validation of bootIso and edits, ETags in responses, and expiry.

import { MAX_BODY_BYTES } from '../../src/http/json-body.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { pseudoRandomBytes } from './fake-image.js';
import { startTestServer, TOKEN, type TestServer } from './server.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked field by field
const json = async (r: Response): Promise<any> => r.json();

let server: TestServer;
let clock = new Date('2026-03-01T00:00:00.000Z');

beforeAll(async () => {
  server = await startTestServer({ now: () => clock });
  server.resolver.add('n1', { data: pseudoRandomBytes(4096) });
});
afterAll(async () => server?.close());

function api(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token !== null) headers.set('Authorization', `Bearer ${init.token ?? TOKEN}`);
  if (init.body !== undefined) headers.set('Content-Type', 'application/json');
  return fetch(`${server.url}/api/v1${path}`, { ...init, headers });
}

const put = (name: string, body: unknown): Promise<Response> => api(`/nodes/${name}`, { method: 'PUT', body: JSON.stringify(body) });

describe('admin API', () => {
  it('refuses requests without the bearer token or with a wrong one (401)', async () => {
    for (const token of [null, 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const r = await api('/nodes', { token });
      expect(r.status, String(token)).toBe(401);
      expect(r.headers.get('www-authenticate')).toContain('Bearer');
      expect((await json(r)).error.code).toBe('UNAUTHORIZED');
    }
    expect((await api('/nodes')).status).toBe(200);
  });

  it('creates a node with PUT and returns its URL and current ETag', async () => {
    const r = await put('n1', { bootIso: 'http://images.example/base.iso', edits: { append: ['console=ttyS0'], set: { ip: 'dhcp' } } });
    expect(r.status).toBe(201);
    const body = await json(r);
    expect(body).toMatchObject({
      name: 'n1',
      bootIso: 'http://images.example/base.iso',
      edits: { append: ['console=ttyS0'], set: { ip: 'dhcp' } },
      url: `${server.url}/iso/n1.iso`,
      etag: '"base1-n1"',
      expired: false,
      createdAt: '2026-03-01T00:00:00.000Z',
      updatedAt: '2026-03-01T00:00:00.000Z',
    });
    expect(server.resolver.forgotten).toContain('n1');
  });

  it('replaces a node with PUT (200), keeping createdAt', async () => {
    clock = new Date('2026-03-02T00:00:00.000Z');
    const r = await put('n1', { bootIso: 'http://images.example/base.iso', edits: { append: ['quiet'] } });
    expect(r.status).toBe(200);
    const body = await json(r);
    expect(body.createdAt).toBe('2026-03-01T00:00:00.000Z');
    expect(body.updatedAt).toBe('2026-03-02T00:00:00.000Z');
    expect((await json(await api('/nodes/n1'))).edits).toEqual({ append: ['quiet'] });
  });

  it('rejects a bootIso outside the upstream allowlist at PUT (400)', async () => {
    const r = await put('evil', { bootIso: 'http://elsewhere.example/x.iso', edits: {} });
    expect(r.status).toBe(400);
    expect((await json(r)).error.code).toBe('UPSTREAM_NOT_ALLOWED');
    expect((await api('/nodes/evil')).status).toBe(404);
  });

  it('rejects invalid edits, bodies and names (400)', async () => {
    const bad = await put('n2', { bootIso: 'http://images.example/b.iso', edits: { append: ['two words'] } });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe('INVALID_EDIT');
    expect((await put('n2', { bootIso: 'http://images.example/b.iso', edits: { append: 'x' } })).status).toBe(400);
    expect((await put('n2', { bootIso: 'http://images.example/b.iso', edits: { frobnicate: [] } })).status).toBe(400);
    expect((await put('n2', { edits: {} })).status).toBe(400);
    expect((await put('n2', { bootIso: 'http://images.example/b.iso', expiresAt: 'soon' })).status).toBe(400);
    expect((await api('/nodes/n2', { method: 'PUT', body: '{not json' })).status).toBe(400);
    // Past the body cap (MAX_BODY_BYTES: room for a node's 4 MiB of files, base64-encoded).
    const huge = JSON.stringify({ bootIso: 'http://images.example/b.iso', edits: { append: ['a'.repeat(MAX_BODY_BYTES + 1)] } });
    expect((await api('/nodes/n2', { method: 'PUT', body: huge })).status).toBe(400);
    expect((await put('a:b', { bootIso: 'http://images.example/b.iso' })).status).toBe(400);
    expect((await put('x'.repeat(129), { bootIso: 'http://images.example/b.iso' })).status).toBe(400);
  });

  it('gives a null ETag with the reason when the image cannot be resolved', async () => {
    server.resolver.failImage = new UpstreamError('UPSTREAM_STATUS', 'http://images.example/c.iso', 'status 500', 500);
    try {
      const r = await put('n3', { bootIso: 'http://images.example/c.iso', edits: {} });
      expect(r.status).toBe(201);
      const body = await json(r);
      expect(body.etag).toBeNull();
      expect(body.etagError.code).toBe('UPSTREAM_STATUS');
    } finally {
      delete server.resolver.failImage;
    }
  });

  it('lists nodes in name order with paging', async () => {
    for (const n of ['p-c', 'p-a', 'p-b', 'p-d']) expect((await put(n, { bootIso: 'http://images.example/b.iso', edits: {} })).status).toBe(201);
    const names: string[] = [];
    let after: string | undefined;
    let pages = 0;
    do {
      const r = await api(`/nodes?limit=2${after ? `&after=${after}` : ''}`);
      const body = await json(r);
      names.push(...body.nodes.map((n: { name: string; url: string }) => n.name));
      expect(body.nodes.every((n: { url: string }) => n.url.endsWith(`.iso`))).toBe(true);
      after = body.next;
      pages++;
    } while (after !== undefined && pages < 10);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['n1', 'n3', 'p-a', 'p-b', 'p-c', 'p-d']));
    expect((await api('/nodes?limit=0')).status).toBe(400);
    expect((await api('/nodes?limit=abc')).status).toBe(400);
  });

  it('deletes a node (204), then answers 404', async () => {
    expect((await api('/nodes/p-d', { method: 'DELETE' })).status).toBe(204);
    expect((await api('/nodes/p-d')).status).toBe(404);
    expect((await api('/nodes/p-d', { method: 'DELETE' })).status).toBe(404);
    expect(server.resolver.forgotten).toContain('p-d');
  });

  it('marks a node past expiresAt as expired, drops its plan, and its image answers 410', async () => {
    server.resolver.add('once', { data: pseudoRandomBytes(100) });
    const r = await put('once', { bootIso: 'http://images.example/b.iso', edits: {}, expiresAt: '2026-03-02T01:00:00Z' });
    expect(r.status).toBe(201);
    expect((await json(r)).expiresAt).toBe('2026-03-02T01:00:00.000Z');
    expect((await fetch(`${server.url}/iso/once.iso`)).status).toBe(200);
    clock = new Date('2026-03-02T01:00:00.000Z');
    server.resolver.forgotten.length = 0;
    const g = await json(await api('/nodes/once'));
    expect(g.expired).toBe(true);
    expect(g.etag).toBeNull();
    expect(g.etagError.code).toBe('NODE_EXPIRED');
    const iso = await fetch(`${server.url}/iso/once.iso`);
    expect(iso.status).toBe(410);
    expect(server.resolver.forgotten).toContain('once');
  });
});
