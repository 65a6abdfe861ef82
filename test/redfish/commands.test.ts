// The `attach`, `detach` and `bmc-sim` commands: help, one-line usage errors with exit code 2,
// BMC failures with exit code 1, and a real attach/detach against a simulator started by bmc-sim.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { run as attachRun } from '../../src/commands/attach.js';
import { run as detachRun } from '../../src/commands/detach.js';
import { run as simRun, start as simStart } from '../../src/commands/bmc-sim.js';
import { scratchDir } from '../helpers/tools.js';

let dir: string;
let cleanup: () => Promise<void>;
let pwFile: string;
let out: string[];
let err: string[];

beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir('isoproxy-cli-'));
  pwFile = join(dir, 'pw');
  await writeFile(pwFile, 'password\n');
});
afterAll(async () => {
  await cleanup?.();
});

function capture(): void {
  out = [];
  err = [];
  vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => {
    out.push(a.join(' '));
  });
  vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => {
    err.push(a.join(' '));
  });
}
afterEach(() => {
  vi.restoreAllMocks();
});

describe('isoproxy attach and detach', () => {
  it('print their help and exit 0', async () => {
    capture();
    expect(await attachRun(['--help'])).toBe(0);
    expect(await detachRun(['-h'])).toBe(0);
    expect(out.join('\n')).toContain('--password-file F');
    expect(out.join('\n')).toContain('Usage: isoproxy detach');
  });

  it('reject bad usage with one line and exit 2', async () => {
    capture();
    expect(await attachRun(['--bogus'])).toBe(2);
    expect(await attachRun(['--username', 'u', '--password-file', pwFile, '--node', 'n'])).toBe(2);
    expect(await attachRun(['--bmc', 'http://b', '--username', 'u', '--password-file', join(dir, 'nope'), '--node', 'n'])).toBe(2);
    expect(await attachRun(['--bmc', 'http://b', '--username', 'u', '--password-file', pwFile, '--node', 'n', '--boot-mode', 'bios'])).toBe(2);
    expect(await attachRun(['--bmc', 'http://b', '--username', 'u', '--password-file', pwFile, '--node', 'n', '--insecure', '--ca', pwFile])).toBe(2);
    expect(err).toHaveLength(5);
    expect(err.every((l) => !l.includes('\n') && l.startsWith('isoproxy attach: '))).toBe(true);
    expect(err[1]).toBe('isoproxy attach: --bmc is required (see --help)');
    expect(err[2]).toContain('cannot read --password-file');
  });

  it('attach a node through a simulator started by bmc-sim, then detach it', async () => {
    capture();
    const server = await simStart(['--port', '0', '--systems', '1', '--fetch', 'none', '--profile', 'lenovo']);
    try {
      const base = ['--bmc', server!.url, '--username', 'admin', '--password-file', pwFile];
      expect(await attachRun([...base, '--node', 'node-4', '--proxy', 'http://10.0.0.1:8080/', '--boot-mode', 'uefi', '--reset'])).toBe(0);
      expect(out.at(-1)).toBe(
        `attached http://10.0.0.1:8080/iso/node-4.iso to system 1 on ${server!.url} ` +
          '(/redfish/v1/Managers/bmc1/VirtualMedia/CD1 by PATCH); boot once from Cd; reset On',
      );
      type State = { profile: string; systems: { vmedia: { id: string; image: string | null }[] }[] };
      const state = (await (await fetch(`${server!.url}/bmc-sim/state`)).json()) as State;
      expect(state.profile).toBe('lenovo');
      expect(state.systems[0]?.vmedia.find((m) => m.id === 'CD1')?.image).toBe('http://10.0.0.1:8080/iso/node-4.iso');
      expect(await detachRun([...base, '--node', 'node-4'])).toBe(0);
      expect(out.at(-1)).toBe(
        `detached system 1 on ${server!.url} (node node-4): ejected /redfish/v1/Managers/bmc1/VirtualMedia/CD1; boot override cleared`,
      );
    } finally {
      await server?.close();
    }
  });

  it('attach with a warning through a BMC that keeps the override, and detach puts back what attach printed', async () => {
    capture();
    const server = await simStart(['--port', '0', '--systems', '1', '--fetch', 'none', '--profile', 'sushy-emulator']);
    try {
      const base = ['--bmc', server!.url, '--username', 'admin', '--password-file', pwFile];
      expect(await attachRun([...base, '--node', 'node-5', '--proxy', 'http://10.0.0.1:8080'])).toBe(0);
      expect(out.at(-1)).toBe(
        `attached http://10.0.0.1:8080/iso/node-5.iso to system 1 on ${server!.url} ` +
          '(/redfish/v1/Systems/1/VirtualMedia/CD1 by InsertMedia); boot from Cd, kept Continuous by the BMC until detach (--restore-boot Hdd/Continuous)',
      );
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^isoproxy attach: warning: the BMC shows BootSourceOverrideEnabled Continuous after a Once override/);
      expect(await detachRun([...base, '--restore-boot', 'Hdd/Continuous'])).toBe(0);
      expect(out.at(-1)).toBe(
        `detached system 1 on ${server!.url}: ejected /redfish/v1/Systems/1/VirtualMedia/CD1; boot override set to Hdd/Continuous`,
      );
      expect(err).toHaveLength(1);
      expect(await detachRun([...base, '--restore-boot', 'Hdd'])).toBe(2);
      expect(err.at(-1)).toBe('isoproxy detach: --restore-boot must be TARGET/ENABLED (e.g. Hdd/Continuous), not "Hdd" (see --help)');
    } finally {
      await server?.close();
    }
  });

  it("exit 1 with REDFISH_TIMEOUT's message when the BMC never answers, within --operation-timeout", async () => {
    capture();
    const server = await simStart(['--port', '0', '--fetch', 'none', '--hang']);
    try {
      const base = ['--bmc', server!.url, '--username', 'admin', '--password-file', pwFile, '--timeout', '30', '--operation-timeout', '0.3'];
      expect(await attachRun([...base, '--url', 'http://x/iso/a.iso'])).toBe(1);
      expect(err.at(-1)).toBe(
        `isoproxy attach: BMC ${server!.url}: read service root /redfish/v1/: ` + "the BMC did not finish within the operation's budget of 300 ms",
      );
      expect(await detachRun([...base.slice(0, -1), 'soon'])).toBe(2);
      expect(err.at(-1)).toBe('isoproxy detach: --operation-timeout must be a number of seconds in (0, 3600], not "soon" (see --help)');
    } finally {
      await server?.close();
    }
  });

  it('exit 1 with the failing step when the BMC refuses', async () => {
    capture();
    const server = await simStart(['--port', '0', '--fetch', 'none', '--password', 'other']);
    try {
      expect(
        await attachRun(['--bmc', server!.url, '--username', 'admin', '--password-file', pwFile, '--url', 'http://x/iso/a.iso', '--system', '1']),
      ).toBe(1);
      expect(err.at(-1)).toBe(
        `isoproxy attach: BMC ${server!.url}: log in /redfish/v1/SessionService/Sessions: HTTP 401: Invalid user name or password.`,
      );
    } finally {
      await server?.close();
    }
  });
});

describe('isoproxy bmc-sim', () => {
  it('prints its help and rejects bad options with exit 2', async () => {
    capture();
    expect(await simRun(['--help'])).toBe(0);
    expect(out.join('\n')).toContain('slow-eject');
    expect(await simRun(['--profile', 'dell'])).toBe(2);
    expect(await simRun(['--systems', '0'])).toBe(2);
    expect(await simRun(['--fetch', 'sometimes'])).toBe(2);
    expect(err).toEqual([
      'isoproxy bmc-sim: --profile must be one of standard, lenovo, supermicro, transfer-protocol, task, if-match, slow-eject, sushy-emulator, ' +
        'not "dell" (see --help)',
      'isoproxy bmc-sim: --systems must be an integer in 1..1024, not "0" (see --help)',
      'isoproxy bmc-sim: --fetch must be ranges, whole or none, not "sometimes" (see --help)',
    ]);
  });
});
