// The admin API's Redfish route, mounted by the app: POST/DELETE /api/v1/nodes/:name/vmedia
// behind the bearer token, pointing a (simulated) BMC at the node's URL on this proxy.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { createApp } from '../../src/http/app.js';
import { MemoryNodeStore } from '../../src/registry/store.js';
import type { ImageResolver } from '../../src/serving/types.js';
import { createServing } from '../../src/serving/serving.js';
import { NotFoundError } from '../../src/errors.js';
import { createBmcSimulator } from '../../src/redfish/bmc-simulator.js';

const TOKEN = 'a-token-of-sixteen-chars';

describe('admin API: virtual media', () => {
  const sim = createBmcSimulator({ systems: 1, fetch: 'none' });
  let bmc: { url: string; close(): Promise<void> };
  const store = new MemoryNodeStore();
  const resolver: ImageResolver = {
    image: async (ref) => {
      throw new NotFoundError(ref.name);
    },
    forget: () => {},
  };
  const serving = createServing({ store, images: resolver, policy: { checkUpstreamAllowed: () => {}, validateEdits: () => {} } });
  const { fetch } = createApp({ serving, logger: pino({ level: 'silent' }), publicUrl: 'http://proxy.example:8080', adminToken: TOKEN });
  const call = (method: string, node: string, body: unknown, token = TOKEN) =>
    fetch(
      new Request(`http://x/api/v1/nodes/${node}/vmedia`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      }),
    );

  beforeAll(async () => {
    bmc = await sim.listen(0, '127.0.0.1');
    const now = new Date().toISOString();
    await store.put({ name: 'node-1', bootIso: 'http://up/x.iso', edits: {}, createdAt: now, updatedAt: now });
  });
  afterAll(async () => {
    await bmc?.close();
  });

  it('refuses a request without the admin token', async () => {
    expect((await call('POST', 'node-1', { bmc: bmc.url, username: 'admin', password: 'password' }, 'wrong-token-wrong-token')).status).toBe(401);
  });

  it('answers 404 for an unknown node without touching the BMC', async () => {
    const res = await call('POST', 'nobody', { bmc: bmc.url, username: 'admin', password: 'password' });
    expect(res.status).toBe(404);
    expect(sim.system('1').vmedia.every((m) => !m.inserted)).toBe(true);
  });

  it("inserts the node's proxy URL and sets a one-time boot from CD, then ejects it", async () => {
    const res = await call('POST', 'node-1', { bmc: bmc.url, username: 'admin', password: 'password', bootMode: 'uefi' });
    expect(res.status, await res.clone().text()).toBe(200);
    const sys = sim.system('1');
    expect(sys.vmedia.find((m) => m.inserted)?.image).toBe('http://proxy.example:8080/iso/node-1.iso');
    expect(sys.boot).toMatchObject({ target: 'Cd', enabled: 'Once' });
    const del = await call('DELETE', 'node-1', { bmc: bmc.url, username: 'admin', password: 'password' });
    expect(del.status).toBe(200);
    expect(sys.vmedia.every((m) => !m.inserted)).toBe(true);
  });
});
