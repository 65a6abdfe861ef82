// Interop with a real Redfish client: Debian's python3-sushy (Ironic's library) drives the
// simulator through session login, get_system, insert_media, set_system_boot_options,
// reset_system and eject_media. The script stops after each step (prints a JSON line, waits for
// "ok" on stdin) so the test checks the simulator's state between steps.

import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attach, detach } from '../../src/redfish/controller.js';
import { createBmcSimulator, type BmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { PROFILE_NAMES, PROFILES, type ProfileName } from '../../src/redfish/sim/profiles.js';
import { scratchDir } from '../helpers/tools.js';

const PYTHON = '/usr/bin/python3';
const sushyMissing = spawnSync(PYTHON, ['-c', 'import sushy'], { stdio: 'ignore' }).status !== 0;

// biome-ignore lint/complexity/noUselessStringRaw: raw, so a backslash added to the script later reaches its interpreter as written
const SCRIPT = String.raw`
import json, sys
import sushy
from sushy import auth

url, user, password, image, manager = sys.argv[1:6]

def report(step, **data):
    print(json.dumps(dict(step=step, **data)), flush=True)
    if sys.stdin.readline().strip() != 'ok':
        sys.exit(3)

conn = sushy.Sushy(url, auth=auth.SessionAuth(username=user, password=password))
conn.get_system_collection()  # forces the login
report('login', session=conn._auth.get_session_resource_id())

system = conn.get_system('/redfish/v1/Systems/1')
report('get_system', id=system.identity, power=str(system.power_state.value), manufacturer=system.manufacturer)

mgr = conn.get_manager('/redfish/v1/Managers/' + manager)
vm = mgr.virtual_media.get_member('/redfish/v1/Managers/%s/VirtualMedia/CD1' % manager)
vm.insert_media(image, inserted=True, write_protected=True)
vm.refresh()
report('insert_media', inserted=vm.inserted, image=vm.image)

system.set_system_boot_options(sushy.BootSource.CD, enabled=sushy.BootSourceOverrideEnabled.ONCE, mode=sushy.BootSourceOverrideMode.UEFI)
system.refresh()
report('set_system_boot_options', target=str(system.boot.target.value), enabled=str(system.boot.enabled.value))

system.reset_system(sushy.ResetType.ON)
system.refresh()
report('reset_system', power=str(system.power_state.value))

vm.eject_media()
vm.refresh()
report('eject_media', inserted=vm.inserted, image=vm.image)

conn._auth.close()
report('logout')
`;

// Reads the system's boot override the way Ironic's redfish management interface does
// (system.boot through sushy), before attach, after attach and after detach.
// biome-ignore lint/complexity/noUselessStringRaw: raw, so a backslash added to the script later reaches its interpreter as written
const READ_BOOT_SCRIPT = String.raw`
import json, sys
import sushy
from sushy import auth

url, user, password = sys.argv[1:4]

def report(step, **data):
    print(json.dumps(dict(step=step, **data)), flush=True)
    if sys.stdin.readline().strip() != 'ok':
        sys.exit(3)

def boot(system):
    system.refresh()
    return dict(target=system.boot.target.value if system.boot.target else None,
                enabled=system.boot.enabled.value if system.boot.enabled else None)

conn = sushy.Sushy(url, auth=auth.SessionAuth(username=user, password=password))
system = conn.get_system('/redfish/v1/Systems/1')
for step in ('before', 'attached', 'detached'):
    report(step, **boot(system))
conn._auth.close()
report('logout')
`;

type Step = { step: string } & Record<string, unknown>;

/** Runs the script, handing each reported step to `check` before letting it continue. */
async function drive(script: string, args: string[], check: (s: Step) => void | Promise<void>): Promise<string[]> {
  const child = spawn(PYTHON, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const steps: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      const step = JSON.parse(line) as Step;
      steps.push(step.step);
      await check(step);
      child.stdin.write('ok\n');
    }
  } catch (err) {
    child.kill();
    throw err;
  }
  const code = await exited;
  if (code !== 0) throw new Error(`sushy script exited ${code}: ${stderr.slice(-2000)}`);
  return steps;
}

describe.skipIf(sushyMissing)(
  `sushy drives the simulator${sushyMissing ? ` (skipped: ${PYTHON} cannot import sushy; install python3-sushy)` : ''}`,
  () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let script: string;
    let readBoot: string;
    beforeAll(async () => {
      ({ dir, cleanup } = await scratchDir('isoproxy-sushy-'));
      script = join(dir, 'drive.py');
      await writeFile(script, SCRIPT);
      readBoot = join(dir, 'read-boot.py');
      await writeFile(readBoot, READ_BOOT_SCRIPT);
    });
    afterAll(async () => {
      await cleanup?.();
    });

    // sushy 4.3 finds VirtualMedia under the Manager, where every profile links it.
    // The sushy-emulator profile keeps overrides Continuous and has its own tests below.
    const onceProfiles = PROFILE_NAMES.filter((p) => !PROFILES[p].stickyContinuous);
    it.each<ProfileName>(onceProfiles)('through login, insert, boot override, reset and eject (%s profile)', async (profile) => {
      const sim: BmcSimulator = createBmcSimulator({ profile, fetch: 'none' });
      const server = await sim.listen(0, '127.0.0.1');
      const image = 'http://isoproxy.example:8080/iso/node-1.iso';
      const sys = sim.system('1');
      const cd = sys.vmedia.find((m) => m.id === 'CD1')!;
      try {
        const steps = await drive(script, [server.url, 'admin', 'password', image, 'bmc1'], (s) => {
          switch (s.step) {
            case 'login':
              expect(sim.state.sessions.size).toBe(1);
              expect(s['session']).toBe('/redfish/v1/SessionService/Sessions/1');
              break;
            case 'get_system':
              expect(s).toMatchObject({ id: '1', power: 'Off', manufacturer: sim.quirks.manufacturer });
              break;
            case 'insert_media':
              expect(cd).toMatchObject({ image, inserted: true, writeProtected: true });
              expect(s).toMatchObject({ inserted: true, image });
              if (profile === 'supermicro') expect(cd.lastInsertBody).toEqual({ Image: image });
              if (profile === 'transfer-protocol') expect(cd.lastInsertBody).toEqual({ Image: image, TransferProtocolType: 'HTTP' });
              break;
            case 'set_system_boot_options':
              expect(sys.boot).toEqual({ target: profile === 'supermicro' ? 'UsbCd' : 'Cd', enabled: 'Once', mode: 'UEFI' });
              break;
            case 'reset_system':
              expect(sys.powerState).toBe('On');
              expect(sys.resets).toEqual([{ type: 'On', bootTarget: profile === 'supermicro' ? 'UsbCd' : 'Cd', image }]);
              break;
            case 'eject_media':
              if (profile !== 'slow-eject') {
                expect(cd).toMatchObject({ image: null, inserted: false });
                expect(s).toMatchObject({ inserted: false, image: null });
              } else {
                expect(cd.ejects).toBe(1);
              }
              break;
            case 'logout':
              expect(sim.state.sessions.size).toBe(0);
              break;
            default:
              throw new Error(`unexpected step ${s.step}`);
          }
        });
        expect(steps).toEqual(['login', 'get_system', 'insert_media', 'set_system_boot_options', 'reset_system', 'eject_media', 'logout']);
      } finally {
        await server.close();
      }
    });

    // sushy-tools' emulator keeps every override Continuous; sushy itself sees the same on our profile.
    it('sets a boot override that the sushy-emulator profile keeps Continuous, as the emulator does', async () => {
      const sim: BmcSimulator = createBmcSimulator({ profile: 'sushy-emulator', fetch: 'none' });
      const server = await sim.listen(0, '127.0.0.1');
      const image = 'http://isoproxy.example:8080/iso/node-1.iso';
      const sys = sim.system('1');
      try {
        const steps = await drive(script, [server.url, 'admin', 'password', image, 'bmc1'], (s) => {
          if (s.step === 'set_system_boot_options') {
            expect(sys.boot).toEqual({ target: 'Cd', enabled: 'Continuous', mode: 'UEFI' });
            expect(s).toMatchObject({ target: 'Cd', enabled: 'Continuous' });
          }
          if (s.step === 'reset_system') {
            expect(sys.resets).toEqual([{ type: 'On', bootTarget: 'Cd', image }]);
            expect(sys.boot.enabled).toBe('Continuous');
          }
        });
        expect(steps).toEqual(['login', 'get_system', 'insert_media', 'set_system_boot_options', 'reset_system', 'eject_media', 'logout']);
      } finally {
        await server.close();
      }
    });

    it('sees our attach keep Cd Continuous on the sushy-emulator profile and our detach move it back to Hdd', async () => {
      const sim: BmcSimulator = createBmcSimulator({ profile: 'sushy-emulator', fetch: 'none' });
      const server = await sim.listen(0, '127.0.0.1');
      const target = { bmc: server.url, username: 'admin', password: 'password', sleep: async (): Promise<void> => {} };
      const seen: Record<string, unknown> = {};
      try {
        const steps = await drive(readBoot, [server.url, 'admin', 'password'], async (s) => {
          seen[s.step] = { target: s['target'], enabled: s['enabled'] };
          if (s.step === 'before') {
            const a = await attach({ ...target, imageUrl: 'http://isoproxy.example:8080/iso/node-1.iso' });
            expect(a.warnings).toHaveLength(1);
          }
          if (s.step === 'attached') {
            const d = await detach(target);
            expect(d.boot).toEqual({ target: 'Hdd', enabled: 'Continuous' });
          }
        });
        expect(steps).toEqual(['before', 'attached', 'detached', 'logout']);
        expect(seen).toMatchObject({
          before: { target: 'Hdd', enabled: 'Continuous' },
          attached: { target: 'Cd', enabled: 'Continuous' },
          detached: { target: 'Hdd', enabled: 'Continuous' },
        });
      } finally {
        await server.close();
      }
    });
  },
);
