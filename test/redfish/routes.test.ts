// The admin API's vmedia routes, mounted under /api/v1 as the lead does, against the simulator.

import { Hono } from 'hono';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBmcSimulator, type BmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { vmediaRoutes } from '../../src/redfish/routes.js';
import { NotFoundError } from '../../src/errors.js';

const logLines: string[] = [];
let sim: BmcSimulator;
let bmc: { url: string; close(): Promise<void> };
let api: Hono;

beforeAll(async () => {
  sim = createBmcSimulator({ systems: 2, fetch: 'none' });
  bmc = await sim.listen(0, '127.0.0.1');
  api = new Hono();
  api.route(
    '/api/v1',
    vmediaRoutes({
      imageUrl: (node) => {
        if (node === 'ghost') throw new NotFoundError(`no node ${node}`);
        return `http://proxy.example:8080/iso/${node}.iso`;
      },
      logger: pino(
        { level: 'trace' },
        {
          write: (s: string) => {
            logLines.push(s);
          },
        },
      ),
      sleep: async () => {},
    }),
  );
});
afterAll(async () => {
  await bmc.close();
});

const call = (method: string, node: string, body: unknown): Promise<Response> =>
  Promise.resolve(
    api.request(`/api/v1/nodes/${node}/vmedia`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );

describe('vmedia routes', () => {
  it("attach a node's image through its BMC and report what was done", async () => {
    const res = await call('POST', 'node-7', {
      bmc: bmc.url,
      username: 'admin',
      password: 'password',
      systemId: '2',
      bootMode: 'legacy',
      reset: true,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      node: 'node-7',
      system: '2',
      image: 'http://proxy.example:8080/iso/node-7.iso',
      bootTarget: 'Cd',
      resetType: 'On',
      method: 'InsertMedia',
    });
    expect(sim.system('2').vmedia[1]?.image).toBe('http://proxy.example:8080/iso/node-7.iso');
    expect(sim.system('2').resets[0]).toMatchObject({ type: 'On', bootTarget: 'Cd' });
  });

  it('detach ejects and clears the override', async () => {
    const res = await call('DELETE', 'node-7', { bmc: bmc.url, username: 'admin', password: 'password', systemId: '2' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ node: 'node-7', system: '2', ejected: ['/redfish/v1/Systems/2/VirtualMedia/CD1'] });
    expect(sim.system('2').vmedia[1]?.inserted).toBe(false);
  });

  it('serialize concurrent attaches to the same system so the last one wins cleanly', async () => {
    const finished: string[] = [];
    const body = (node: string) =>
      call('POST', node, { bmc: bmc.url, username: 'admin', password: 'password', systemId: '1' }).then((r) => {
        finished.push(node);
        return r;
      });
    const answers = await Promise.all([body('node-a'), body('node-b'), body('node-c')]);
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(sim.system('1').vmedia[1]?.image).toBe(`http://proxy.example:8080/iso/${finished.at(-1)}.iso`);
    const inserts = sim.state.requests.filter((r) => r.path.endsWith('/Systems/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia'));
    expect(inserts.map((r) => r.status)).toEqual([204, 204, 204]);
  });

  it('answer 400 for a malformed request', async () => {
    expect((await call('POST', 'node-7', '{')).status).toBe(400);
    const res = await call('POST', 'node-7', { bmc: 'ftp://x', username: 'a', password: 'b' });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: { code: 'INVALID_REQUEST', message: 'bmc must be an http(s) URL' } });
    expect((await call('POST', 'node-7', { bmc: bmc.url, username: 'a' })).status).toBe(400);
    expect((await call('POST', 'node-7', { bmc: bmc.url, username: 'a', password: 'b', bootMode: 'bios' })).status).toBe(400);
  });

  it('answer 404 for an unknown node', async () => {
    expect((await call('POST', 'ghost', { bmc: bmc.url, username: 'admin', password: 'password', systemId: '1' })).status).toBe(404);
  });

  it('answer 502 naming the BMC step that failed', async () => {
    const res = await call('POST', 'node-1', { bmc: bmc.url, username: 'admin', password: 'hunter2', systemId: '1' });
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({
      error: { code: 'REDFISH_AUTH', bmc: bmc.url, step: 'log in', resource: '/redfish/v1/SessionService/Sessions', status: 401 },
    });
  });

  it('never log the BMC credentials', () => {
    const all = logLines.join('\n');
    expect(all).toContain('virtual media attached');
    expect(all).not.toMatch(/hunter2|"password"|YWRtaW46/);
  });
});
