// A known node whose image cannot be served is a failed transfer on the hub, so the status page
// shows it as error with the code; an unknown name a client sends is not reported at all.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../src/errors.js';
import { pseudoRandomBytes } from './fake-image.js';
import { startTestServer, TOKEN, type TestServer } from './server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
  server.resolver.add('ok-node', { data: pseudoRandomBytes(4096) });
  server.resolver.add('broken-node', { data: pseudoRandomBytes(4096) });
});
afterAll(async () => server?.close());

// biome-ignore lint/suspicious/noExplicitAny: snapshot rows are checked field by field
async function rows(): Promise<any[]> {
  const r = await fetch(`${server.url}/ui/api/status?limit=100`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  expect(r.status).toBe(200);
  // biome-ignore lint/suspicious/noExplicitAny: as above
  return ((await r.json()) as any).nodes.items;
}

describe('failed image lookups', () => {
  it('show a known node as error with its code, and leave unknown names out', async () => {
    expect((await fetch(`${server.url}/iso/ok-node.iso`)).status).toBe(200);
    server.resolver.failImage = new UpstreamError('UPSTREAM_UNREACHABLE', 'http://images.example/a.iso', 'connection refused');
    try {
      const r = await fetch(`${server.url}/iso/broken-node.iso`);
      expect(r.status).toBe(502);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('UPSTREAM_UNREACHABLE');
    } finally {
      server.resolver.failImage = undefined;
    }
    expect((await fetch(`${server.url}/iso/no-such-node.iso`)).status).toBe(404);
    const all = await rows();
    const broken = all.find((n) => n.name === 'broken-node');
    expect(broken).toMatchObject({ state: 'error', error: { status: 502, code: 'UPSTREAM_UNREACHABLE' } });
    expect(all.find((n) => n.name === 'ok-node')?.state).not.toBe('error');
    expect(all.find((n) => n.name === 'no-such-node')).toBeUndefined();
  });
});
