// The controller against the simulator in every quirk profile: attach inserts the URL, sets a
// one-time CD boot (UsbCd on Supermicro) and resets; detach ejects and clears the override.

import { afterEach, describe, expect, it } from 'vitest';
import { attach, detach } from '../../src/redfish/controller.js';
import { createBmcSimulator, type BmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { PROFILE_NAMES, PROFILES, type Quirks } from '../../src/redfish/sim/profiles.js';

const noSleep = async (): Promise<void> => {};
const IMAGE = 'http://isoproxy.example:8080/iso/node-1.iso';

let running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.map((r) => r.close()));
  running = [];
});

async function start(profile: Quirks | (typeof PROFILE_NAMES)[number], systems = 1): Promise<{ sim: BmcSimulator; url: string }> {
  const sim = createBmcSimulator({ profile, systems, fetch: 'none' });
  const server = await sim.listen(0, '127.0.0.1');
  running.push(server);
  return { sim, url: server.url };
}

const creds = { username: 'admin', password: 'password', sleep: noSleep };

// Profiles whose BMC keeps overrides Continuous have their own tests (sticky-override.test.ts).
const ONCE_PROFILES = PROFILE_NAMES.filter((p) => !PROFILES[p].stickyContinuous);

describe.each(ONCE_PROFILES)('in the %s profile', (profile) => {
  it('attaches the image, sets a one-time CD boot, resets, then detaches', async () => {
    const { sim, url } = await start(profile);
    const result = await attach({ bmc: url, ...creds, imageUrl: IMAGE, bootMode: 'uefi', reset: true });
    const sys = sim.system('1');
    const cd = sys.vmedia.find((m) => m.id === 'CD1');
    expect(cd?.image).toBe(IMAGE);
    expect(cd?.inserted).toBe(true);
    expect(sys.vmedia.find((m) => m.id === 'USB1')?.inserted).toBe(false);
    const expectedTarget = profile === 'supermicro' ? 'UsbCd' : 'Cd';
    expect(result.bootTarget).toBe(expectedTarget);
    expect(result.method).toBe(profile === 'lenovo' ? 'PATCH' : 'InsertMedia');
    expect(result.resetType).toBe('On');
    // The reset consumed the one-time override and booted the virtual CD.
    expect(sys.resets).toEqual([{ type: 'On', bootTarget: expectedTarget, image: IMAGE }]);
    expect(sys.boot).toEqual({ target: expectedTarget, enabled: 'Disabled', mode: 'UEFI' });
    expect(sys.powerState).toBe('On');
    if (profile === 'supermicro') expect(Object.keys(cd?.lastInsertBody ?? {})).toEqual(['Image']);
    if (profile === 'transfer-protocol') expect(cd?.lastInsertBody).toEqual({ Image: IMAGE, TransferProtocolType: 'HTTP' });
    expect(sim.state.sessions.size).toBe(0);

    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(sys.boot.enabled).toBe('Once');
    const detached = await detach({ bmc: url, ...creds });
    expect(detached.ejected).toHaveLength(1);
    expect(cd?.inserted).toBe(false);
    expect(cd?.image).toBeNull();
    expect(sys.boot.enabled).toBe('Disabled');
    expect(sim.state.sessions.size).toBe(0);
  });
});

describe('attach', () => {
  it('replaces media that is already inserted, even the same URL', async () => {
    const { sim, url } = await start('standard');
    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    const cd = sim.system('1').vmedia.find((m) => m.id === 'CD1');
    expect(cd?.ejects).toBe(1);
    expect(cd?.inserts).toBe(2);
  });

  it('picks the system by id among several and leaves the others alone', async () => {
    const { sim, url } = await start('standard', 3);
    const r = await attach({ bmc: url, ...creds, imageUrl: IMAGE, systemId: '2' });
    expect(r.system).toBe('2');
    expect(sim.system('2').vmedia[1]?.image).toBe(IMAGE);
    expect(sim.system('1').vmedia[1]?.image).toBeNull();
    expect(sim.system('3').vmedia[1]?.image).toBeNull();
  });

  it('refuses to guess among several systems', async () => {
    const { url } = await start('standard', 2);
    await expect(attach({ bmc: url, ...creds, imageUrl: IMAGE })).rejects.toMatchObject({ code: 'REDFISH_AMBIGUOUS', step: 'find system' });
  });

  it('force-restarts a machine that is on', async () => {
    const { sim, url } = await start('standard');
    sim.system('1').powerState = 'On';
    const r = await attach({ bmc: url, ...creds, imageUrl: IMAGE, reset: true });
    expect(r.resetType).toBe('ForceRestart');
    expect(sim.system('1').resets).toEqual([{ type: 'ForceRestart', bootTarget: 'Cd', image: IMAGE }]);
  });

  it('falls back to Basic auth when the service offers no sessions', async () => {
    const { sim, url } = await start({ ...PROFILES.standard, sessions: false });
    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(sim.state.basicAuthRequests).toBeGreaterThan(0);
    expect(sim.system('1').vmedia[1]?.image).toBe(IMAGE);
  });

  it('learns TransferProtocolType from the error message when there is no ActionInfo', async () => {
    const { sim, url } = await start({ ...PROFILES['transfer-protocol'], actionInfo: false });
    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(sim.system('1').vmedia[1]?.lastInsertBody).toEqual({ Image: IMAGE, TransferProtocolType: 'HTTP' });
    const inserts = sim.state.requests.filter((r) => r.path.endsWith('InsertMedia'));
    expect(inserts.map((r) => r.status)).toEqual([400, 204]);
  });

  it('sends TransferProtocolType at once when the action annotates its allowable values', async () => {
    const { sim, url } = await start({ ...PROFILES['transfer-protocol'], actionInfo: false, annotateInsertParameters: true });
    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    const inserts = sim.state.requests.filter((r) => r.path.endsWith('InsertMedia'));
    expect(inserts.map((r) => r.status)).toEqual([204]);
    expect(sim.system('1').vmedia[1]?.lastInsertBody).toEqual({ Image: IMAGE, TransferProtocolType: 'HTTP' });
  });

  it('finds media under the manager when the system does not link it', async () => {
    const { sim, url } = await start('supermicro');
    const r = await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(r.virtualMedia).toBe('/redfish/v1/Managers/bmc1/VirtualMedia/CD1');
    expect(sim.state.requests.some((x) => x.path.startsWith('/redfish/v1/Systems/1/VirtualMedia'))).toBe(false);
  });

  it("prefers the system's own VirtualMedia when it has one", async () => {
    const { url } = await start('standard');
    const r = await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(r.virtualMedia).toBe('/redfish/v1/Systems/1/VirtualMedia/CD1');
  });

  it('survives a weak ETag the service does not accept back, and a missing If-Match being required', async () => {
    const { sim, url } = await start('if-match');
    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    const patches = sim.state.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.status)).toEqual([412, 204]);
  });

  it('uses the settings object for the override where the system stages Boot there', async () => {
    const { url } = await start('lenovo');
    const r = await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(r.bootResource).toBe('/redfish/v1/Systems/1/Settings');
  });

  it('moves to the next CD slot when one refuses the insert with 400', async () => {
    const { sim, url } = await start('standard');
    sim.system('1').vmedia.push({ ...structuredClone(sim.system('1').vmedia[1]!), id: 'CD2' });
    sim.state.faults.push({ method: 'POST', path: '/CD1/Actions/VirtualMedia.InsertMedia', status: 400, message: 'Slot reserved.' });
    const r = await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(r.virtualMedia).toBe('/redfish/v1/Systems/1/VirtualMedia/CD2');
    expect(sim.system('1').vmedia.find((m) => m.id === 'CD2')?.image).toBe(IMAGE);
  });

  it('never logs credentials', async () => {
    const { url } = await start('standard');
    const lines: string[] = [];
    const { pino } = await import('pino');
    const logger = pino(
      { level: 'trace' },
      {
        write: (s: string) => {
          lines.push(s);
        },
      },
    );
    await attach({ bmc: url, username: 'admin', password: 'password', sleep: noSleep, logger, imageUrl: IMAGE });
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.join('\n')).not.toMatch(/password|YWRtaW46cGFzc3dvcmQ/);
  });
});

describe('slot choice', () => {
  it('skips a CD slot that can neither InsertMedia nor PATCH', async () => {
    const { sim, url } = await start('standard');
    const sys = sim.system('1');
    sys.vmedia.unshift({ ...structuredClone(sys.vmedia[1]!), id: 'CD0', locked: true });
    const r = await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(r.virtualMedia).toBe('/redfish/v1/Systems/1/VirtualMedia/CD1');
    expect(sys.vmedia[0]?.inserted).toBe(false);
  });

  it('fails naming the collection when no slot can take a CD', async () => {
    const { sim, url } = await start('standard');
    for (const m of sim.system('1').vmedia) m.locked = true;
    await expect(attach({ bmc: url, ...creds, imageUrl: IMAGE })).rejects.toMatchObject({
      code: 'REDFISH_NO_MEDIA',
      step: 'find virtual media',
      resource: '/redfish/v1/Systems/1/VirtualMedia, /redfish/v1/Managers/bmc1/VirtualMedia',
    });
  });
});
