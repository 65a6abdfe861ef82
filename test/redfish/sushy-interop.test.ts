// Interop with a real Redfish client: Debian's python3-sushy (Ironic's library) drives the
// simulator through session login, get_system, insert_media, set_system_boot_options,
// reset_system and eject_media. The script stops after each step (prints a JSON line, waits for
// "ok" on stdin) so the test checks the simulator's state between steps.

import { spawn, spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBmcSimulator, type BmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { PROFILE_NAMES, type ProfileName } from '../../src/redfish/sim/profiles.js';
import { scratchDir } from '../helpers/tools.js';

const PYTHON = '/usr/bin/python3';
const sushyMissing = spawnSync(PYTHON, ['-c', 'import sushy'], { stdio: 'ignore' }).status !== 0;

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

type Step = { step: string } & Record<string, unknown>;

/** Runs the script, handing each reported step to `check` before letting it continue. */
async function drive(script: string, args: string[], check: (s: Step) => void): Promise<string[]> {
  const child = spawn(PYTHON, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const steps: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      const step = JSON.parse(line) as Step;
      steps.push(step.step);
      check(step);
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

describe.skipIf(sushyMissing)(`sushy drives the simulator${sushyMissing ? ` (skipped: ${PYTHON} cannot import sushy; install python3-sushy)` : ''}`, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let script: string;
  beforeAll(async () => {
    ({ dir, cleanup } = await scratchDir('isoproxy-sushy-'));
    script = join(dir, 'drive.py');
    await writeFile(script, SCRIPT);
  });
  afterAll(async () => { await cleanup?.(); });

  // sushy 4.3 finds VirtualMedia under the Manager, where every profile links it.
  it.each<ProfileName>(PROFILE_NAMES)('through login, insert, boot override, reset and eject (%s profile)', async (profile) => {
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
});
