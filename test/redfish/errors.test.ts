// Every error path of the issue gives a RedfishError naming the BMC, the resource and the step,
// with the BMC's own ExtendedInfo message where it sent one.

import { afterEach, describe, expect, it } from 'vitest';
import { attach, detach } from '../../src/redfish/controller.js';
import { createBmcSimulator, type BmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { PROFILES, type ProfileName, type Quirks } from '../../src/redfish/sim/profiles.js';
import { RedfishError } from '../../src/errors.js';

const IMAGE = 'http://isoproxy.example:8080/iso/node-1.iso';
let running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.map((r) => r.close()));
  running = [];
});

async function start(profile: ProfileName | Quirks = 'standard'): Promise<{ sim: BmcSimulator; url: string }> {
  const sim = createBmcSimulator({ profile, fetch: 'none' });
  const server = await sim.listen(0, '127.0.0.1');
  running.push(server);
  return { sim, url: server.url };
}

async function failure(p: Promise<unknown>): Promise<RedfishError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RedfishError);
  return err as RedfishError;
}

const sleeps: number[] = [];
const opts = (url: string, extra: Record<string, unknown> = {}) => ({
  bmc: url,
  username: 'admin',
  password: 'password',
  imageUrl: IMAGE,
  sleep: async (ms: number) => {
    sleeps.push(ms);
  },
  ...extra,
});

describe('attach fails clearly', () => {
  it('on a wrong password (401 at session login)', async () => {
    const { url } = await start();
    const err = await failure(attach(opts(url, { password: 'wrong' })));
    expect(err).toMatchObject({ code: 'REDFISH_AUTH', bmc: url, resource: '/redfish/v1/SessionService/Sessions', step: 'log in', status: 401 });
    expect(err.message).toContain(`BMC ${url}: log in /redfish/v1/SessionService/Sessions: HTTP 401: Invalid user name or password.`);
  });

  it('on a wrong password with Basic auth only', async () => {
    const { url } = await start({ ...PROFILES.standard, sessions: false });
    const err = await failure(attach(opts(url, { password: 'wrong' })));
    expect(err).toMatchObject({ code: 'REDFISH_AUTH', resource: '/redfish/v1/Systems', step: 'log in', status: 401 });
  });

  it('when the systems collection is missing (404)', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'GET', path: '/redfish/v1/Systems', status: 404, message: 'No Systems here.', times: Infinity });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_NOT_FOUND', bmc: url, resource: '/redfish/v1/Systems', step: 'list systems', status: 404 });
    expect(err.message).toContain('No Systems here.');
  });

  it("when every VirtualMedia collection is missing (404), after trying the manager's", async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'GET', path: /\/VirtualMedia$/, status: 404, times: Infinity });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_NOT_FOUND', resource: '/redfish/v1/Managers/bmc1/VirtualMedia', step: 'list virtual media' });
  });

  it('on an unknown system id, listing the ones there are', async () => {
    const { url } = await start();
    const err = await failure(attach(opts(url, { systemId: 'nope' })));
    expect(err).toMatchObject({ code: 'REDFISH_NOT_FOUND', resource: '/redfish/v1/Systems', step: 'find system' });
    expect(err.message).toContain('(1)');
  });

  it('when the insert keeps failing with 500, after bounded retries', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'POST', path: 'InsertMedia', status: 500, message: 'Virtual media service crashed.', times: Infinity });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({
      code: 'REDFISH_INSERT',
      resource: '/redfish/v1/Systems/1/VirtualMedia/CD1/Actions/VirtualMedia.InsertMedia',
      step: 'insert',
      status: 500,
    });
    expect(err.message).toContain('Virtual media service crashed.');
    expect(sim.state.requests.filter((r) => r.path.endsWith('InsertMedia')).length).toBe(4);
  });

  it('when the BMC cannot be reached', async () => {
    const { url } = await start();
    await running.pop()?.close();
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_UNREACHABLE', resource: '/redfish/v1/', step: 'read service root' });
  });

  it('when an insert answers success but does not stick', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'POST', path: 'InsertMedia', effect: 'ignore', times: Infinity });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_INSERT_NOT_APPLIED', resource: '/redfish/v1/Systems/1/VirtualMedia/CD1', step: 'verify insert' });
    expect(err.message).toContain('Inserted=false');
  });

  it('when the insert task ends in Exception', async () => {
    const { sim, url } = await start('task');
    sim.state.faults.push({ method: 'POST', path: 'InsertMedia', effect: 'task-fail' });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_TASK', resource: '/redfish/v1/TaskService/TaskMonitors/2', step: 'insert (task)' });
    expect(err.message).toContain('task ended Exception: Mounting the image failed.');
  });

  it('when a 202 carries no Location to poll', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'POST', path: 'InsertMedia', status: 202 });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_TASK', step: 'insert', status: 202 });
    expect(err.message).toContain('without a Location');
  });

  it('when the CD boot override is not among the allowed values', async () => {
    const { url } = await start({ ...PROFILES.standard, bootTargets: ['None', 'Pxe', 'Hdd'] });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_OVERRIDE_NOT_ALLOWED', resource: '/redfish/v1/Systems/1', step: 'set boot override' });
    expect(err.message).toContain('allowed: None, Pxe, Hdd');
  });

  it('when the service rejects the override value itself', async () => {
    const { sim, url } = await start();
    const message = 'The value Cd for the property BootSourceOverrideTarget is not in the list of acceptable values.';
    sim.state.faults.push({ method: 'PATCH', path: '/redfish/v1/Systems/1', status: 400, message });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_OVERRIDE', resource: '/redfish/v1/Systems/1', step: 'set boot override', status: 400 });
    expect(err.message).toContain('not in the list of acceptable values');
  });

  it('when an override answers success but does not stick', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'PATCH', path: '/redfish/v1/Systems/1', effect: 'ignore' });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_OVERRIDE_NOT_APPLIED', step: 'verify boot override' });
  });
});

describe('attach recovers', () => {
  it('from an insert that fails with 500 once', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'POST', path: 'InsertMedia', status: 500 });
    await attach(opts(url));
    expect(sim.state.requests.filter((r) => r.path.endsWith('InsertMedia')).map((r) => r.status)).toEqual([500, 204]);
    expect(sim.system('1').vmedia[1]?.image).toBe(IMAGE);
  });

  it('from a "not ready" answer', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'GET', path: '/redfish/v1/Systems/1', status: 503 });
    await attach(opts(url));
    expect(sim.system('1').vmedia[1]?.inserted).toBe(true);
  });

  it('from a session the BMC dropped, with a new session', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'GET', path: '/redfish/v1/Systems/1', status: 401 });
    await attach(opts(url));
    expect(sim.system('1').vmedia[1]?.image).toBe(IMAGE);
    expect(sim.state.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Sessions')).length).toBe(2);
    expect(sim.state.sessions.size).toBe(0);
  });

  it('by polling task monitors, honouring Retry-After', async () => {
    const { sim, url } = await start('task');
    sleeps.length = 0;
    await attach(opts(url, { reset: true }));
    expect(sleeps.filter((ms) => ms === 1000).length).toBeGreaterThanOrEqual(6);
    expect(sim.system('1').resets).toHaveLength(1);
  });

  it('by waiting for a slow eject to show', async () => {
    const { sim, url } = await start('slow-eject');
    await attach(opts(url));
    await attach(opts(url, { imageUrl: `${IMAGE}?v=2` }));
    expect(sim.system('1').vmedia[1]?.image).toBe(`${IMAGE}?v=2`);
    expect(sim.state.requests.filter((r) => r.path.endsWith('EjectMedia')).map((r) => r.status)).toEqual([415, 204, 415, 204]);
  });

  it('from an eject of empty media that errors', async () => {
    const { sim, url } = await start('supermicro');
    await attach(opts(url));
    expect(sim.state.requests.filter((r) => r.path.endsWith('EjectMedia')).map((r) => r.status)).toEqual([400, 400]);
  });
});

describe('a BMC that answers 500', () => {
  it('to everything fails at the service root with its message, after bounded retries', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ path: /.*/, status: 500, message: 'Redfish service is restarting.', times: Infinity });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_NO_SERVICE', bmc: url, resource: '/redfish/v1/', step: 'read service root', status: 500 });
    expect(err.message).toBe(`BMC ${url}: read service root /redfish/v1/: HTTP 500: Redfish service is restarting.`);
    const roots = sim.state.requests.filter((r) => r.path.replace(/\/$/, '') === '/redfish/v1');
    expect(roots.map((r) => r.status)).toEqual([500, 500, 500, 500]);
  });

  it('with an HTML error page is quoted in the error, tags stripped', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({
      method: 'GET',
      path: '/redfish/v1/Systems',
      status: 500,
      times: Infinity,
      body: '<html><head><title>500</title><style>p{}</style></head><body><h1>Internal Server Error</h1>\n<p>lighttpd</p></body></html>',
    });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_HTTP', resource: '/redfish/v1/Systems', step: 'list systems', status: 500 });
    expect(err.message).toContain('HTTP 500: 500 Internal Server Error lighttpd');
  });

  it('to the boot override loses nothing: the session is closed, the insert stays, and a retry succeeds', async () => {
    const { sim, url } = await start();
    sim.state.faults.push({ method: 'PATCH', path: '/redfish/v1/Systems/1', status: 500, message: 'Boot settings locked.', times: 4 });
    const err = await failure(attach(opts(url)));
    expect(err).toMatchObject({ code: 'REDFISH_OVERRIDE', resource: '/redfish/v1/Systems/1', step: 'set boot override', status: 500 });
    expect(err.message).toContain('Boot settings locked.');
    expect(sim.state.sessions.size).toBe(0);
    const cd = sim.system('1').vmedia[1]!;
    expect(cd).toMatchObject({ inserted: true, image: IMAGE });
    expect(sim.system('1').boot).toEqual({ target: 'None', enabled: 'Disabled', mode: 'UEFI' });
    // The BMC recovered: the same attach again replaces the media and sets the override.
    const r = await attach(opts(url));
    expect(r).toMatchObject({ bootTarget: 'Cd', bootEnabled: 'Once', warnings: [] });
    expect(cd).toMatchObject({ inserted: true, image: IMAGE, inserts: 2, ejects: 1 });
    expect(sim.system('1').boot.enabled).toBe('Once');
  });

  it('to an eject fails detach with REDFISH_EJECT and leaves the override alone', async () => {
    const { sim, url } = await start();
    await attach(opts(url));
    sim.state.faults.push({ method: 'POST', path: 'EjectMedia', status: 500, times: Infinity });
    const err = await failure(detach({ bmc: url, username: 'admin', password: 'password', sleep: async () => {} }));
    expect(err).toMatchObject({
      code: 'REDFISH_EJECT',
      resource: '/redfish/v1/Systems/1/VirtualMedia/CD1/Actions/VirtualMedia.EjectMedia',
      status: 500,
    });
    expect(sim.state.sessions.size).toBe(0);
    expect(sim.system('1').vmedia[1]).toMatchObject({ inserted: true, image: IMAGE });
    expect(sim.system('1').boot.enabled).toBe('Once');
  });
});
