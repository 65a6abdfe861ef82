// BMCs that keep boot overrides: sushy-tools' emulator (Ironic's CI BMC) shows Continuous after a
// Once PATCH, ignores Disabled and refuses a Boot PATCH without a target; several real BMCs show
// Continuous too but accept Disabled without acting on it. Attach must succeed there with a
// warning (as Ironic carries on), and detach must take the machine off the virtual CD: back to the
// override from before attach when given, else None, else Hdd.

import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { attach, detach } from '../../src/redfish/controller.js';
import { createBmcSimulator, PROFILES, type BmcSimulator, type ProfileName, type Quirks } from '../../src/redfish/sim/index.js';

const IMAGE = 'http://isoproxy.example:8080/iso/node-1.iso';
let running: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(running.map((r) => r.close()));
  running = [];
});

async function start(profile: ProfileName | Quirks): Promise<{ sim: BmcSimulator; url: string }> {
  const sim = createBmcSimulator({ profile, fetch: 'none' });
  const server = await sim.listen(0, '127.0.0.1');
  running.push(server);
  return { sim, url: server.url };
}

const creds = { username: 'admin', password: 'password', sleep: async (): Promise<void> => {} };
const bootPatches = (sim: BmcSimulator): number[] =>
  sim.state.requests.filter((r) => r.method === 'PATCH' && r.path === '/redfish/v1/Systems/1').map((r) => r.status);

describe('against the sushy-emulator profile', () => {
  it('attach succeeds with a warning, logged and in its result, and the machine boots the CD', async () => {
    const { sim, url } = await start('sushy-emulator');
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      {
        write: (s: string) => {
          lines.push(s);
        },
      },
    );
    const r = await attach({ bmc: url, ...creds, logger, imageUrl: IMAGE, reset: true });
    expect(r).toMatchObject({ bootTarget: 'Cd', bootEnabled: 'Continuous', previousBoot: { target: 'Hdd', enabled: 'Continuous' }, resetType: 'On' });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain('Continuous after a Once override');
    expect(r.warnings[0]).toContain('it was Hdd/Continuous');
    expect(lines.map((l) => JSON.parse(l) as { msg: string }).map((l) => l.msg)).toContain('boot override kept Continuous');
    const sys = sim.system('1');
    expect(sys.resets).toEqual([{ type: 'On', bootTarget: 'Cd', image: IMAGE }]);
    // The emulator does not consume the override at the reset.
    expect(sys.boot).toEqual({ target: 'Cd', enabled: 'Continuous', mode: 'UEFI' });
    expect(sim.state.sessions.size).toBe(0);
  });

  it('detach ejects and points the override off the CD, to Hdd where None is not allowed', async () => {
    const { sim, url } = await start('sushy-emulator');
    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    sim.state.requests.length = 0;
    const d = await detach({ bmc: url, ...creds });
    expect(d.ejected).toEqual(['/redfish/v1/Systems/1/VirtualMedia/CD1']);
    expect(d.boot).toEqual({ target: 'Hdd', enabled: 'Continuous' });
    expect(d.warnings).toHaveLength(1);
    expect(d.warnings[0]).toContain('refused BootSourceOverrideEnabled Disabled (HTTP 400)');
    // Disabled alone is refused (the emulator wants a target), then the target is moved.
    expect(bootPatches(sim)).toEqual([400, 204]);
    expect(sim.system('1').boot).toEqual({ target: 'Hdd', enabled: 'Continuous', mode: 'UEFI' });
    expect(sim.system('1').vmedia[1]).toMatchObject({ inserted: false, image: null });
    expect(sim.state.sessions.size).toBe(0);
  });

  it('detach puts back the override from before attach when given it', async () => {
    const { sim, url } = await start('sushy-emulator');
    sim.system('1').boot = { target: 'Pxe', enabled: 'Continuous', mode: 'UEFI' };
    const a = await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(a.previousBoot).toEqual({ target: 'Pxe', enabled: 'Continuous' });
    sim.state.requests.length = 0;
    const d = await detach({ bmc: url, ...creds, restoreBoot: a.previousBoot });
    expect(d).toMatchObject({ boot: { target: 'Pxe', enabled: 'Continuous' }, warnings: [] });
    expect(bootPatches(sim)).toEqual([204]);
    expect(sim.system('1').boot.target).toBe('Pxe');
  });

  it("detach never puts back an override that pointed at the CD (a second attach's previous state)", async () => {
    const { sim, url } = await start('sushy-emulator');
    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    const second = await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(second.previousBoot).toEqual({ target: 'Cd', enabled: 'Continuous' });
    const d = await detach({ bmc: url, ...creds, restoreBoot: second.previousBoot });
    expect(d.boot).toEqual({ target: 'Hdd', enabled: 'Continuous' });
    expect(sim.system('1').boot.target).toBe('Hdd');
  });

  it('detach of a machine that was never attached leaves its disk override alone, without a warning', async () => {
    const { sim, url } = await start('sushy-emulator');
    const d = await detach({ bmc: url, ...creds });
    expect(d).toMatchObject({ ejected: [], boot: { target: 'Hdd', enabled: 'Continuous' }, warnings: [] });
    expect(bootPatches(sim)).toEqual([400]);
  });

  it('a reset after detach boots the disk, not the empty CD', async () => {
    const { sim, url } = await start('sushy-emulator');
    await attach({ bmc: url, ...creds, imageUrl: IMAGE, reset: true });
    await detach({ bmc: url, ...creds });
    await attach({ bmc: url, ...creds, imageUrl: `${IMAGE}?v=2` });
    await detach({ bmc: url, ...creds });
    sim.system('1').powerState = 'Off';
    const res = await fetch(`${url}/redfish/v1/Systems/1/Actions/ComputerSystem.Reset`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('admin:password').toString('base64')}` },
      body: JSON.stringify({ ResetType: 'On' }),
    });
    expect(res.status).toBe(204);
    expect(sim.system('1').resets.at(-1)).toEqual({ type: 'On', bootTarget: 'Hdd', image: null });
  });
});

describe('against a BMC that shows Continuous and accepts Disabled without acting on it', () => {
  const keeps: Quirks = { ...PROFILES.standard, name: 'keeps-overrides', stickyContinuous: true };

  it('attach warns, and detach moves the target to None', async () => {
    const { sim, url } = await start(keeps);
    const a = await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(a).toMatchObject({ bootEnabled: 'Continuous', previousBoot: { target: 'None', enabled: 'Disabled' } });
    sim.state.requests.length = 0;
    const d = await detach({ bmc: url, ...creds });
    expect(d.boot).toEqual({ target: 'None', enabled: 'Continuous' });
    expect(d.warnings[0]).toContain('still shows Cd/Continuous after Disabled');
    expect(bootPatches(sim)).toEqual([204, 204]);
  });

  it('detach fails clearly when no target off the CD is allowed', async () => {
    const { url } = await start({ ...keeps, bootTargets: ['Cd', 'Pxe'] });
    await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    const err = await detach({ bmc: url, ...creds }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'REDFISH_OVERRIDE_NOT_APPLIED', resource: '/redfish/v1/Systems/1', step: 'restore boot override' });
    expect((err as Error).message).toContain('allows no target off the CD (allowed: Cd, Pxe)');
  });
});

describe('against a BMC that honours Once', () => {
  it('attach reports no warning and detach clears the override', async () => {
    const { sim, url } = await start('standard');
    const a = await attach({ bmc: url, ...creds, imageUrl: IMAGE });
    expect(a).toMatchObject({ bootEnabled: 'Once', previousBoot: { target: 'None', enabled: 'Disabled' }, warnings: [] });
    const d = await detach({ bmc: url, ...creds });
    expect(d).toMatchObject({ boot: { target: 'Cd', enabled: 'Disabled' }, warnings: [] });
    expect(sim.system('1').boot.enabled).toBe('Disabled');
  });
});
