// The end-to-end Ironic flow, shared by one test file per auth mode (noauth, http_basic,
// keystone): the real `isoproxy serve` composition root (startServer over loadConfig with
// --ironic-url ...) in front of a real HTTP upstream serving an xorriso-built base ISO, a real
// Debian Ironic 21.4 doing a ramdisk deploy over Redfish virtual media, and isoproxy's own BMC
// simulator as the BMC. Everything a node needs is written in Ironic only (no admin PUT).
//
// What it checks: Ironic inserted the isoproxy URL; the simulated BMC read it
// by ranges; the bytes equal `isoproxy materialize` with the append Ironic would apply
// (%default% expanded with --ironic-default-append, src/ironic/kernel-params.ts); a change of
// kernel_append_params in Ironic reaches fetches after the cache TTL under a new ETag; a node
// without a base and a node outside the provision states are refused with 404, while Ironic's own
// HEAD validation of boot_iso during `deploy` passes (the node reaches active).

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { expect } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startServer, type RunningServer } from '../../src/http/server.js';
import { createBmcSimulator, type BmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { expectedImage, downloadByRanges, sha256 } from '../service/harness.js';
import { sizedIso } from '../service/images.js';
import { startUpstream, type TestUpstream } from '../service/upstream.js';
import type { Ironic } from './harness.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What `isoproxy serve` needs to reach this Ironic: --ironic-* flags, secrets written to files. */
export type ProxyAuth =
  | { readonly type: 'noauth' }
  | { readonly type: 'http_basic'; readonly username: string; readonly password: string }
  | { readonly type: 'keystone'; readonly authUrl: string; readonly appCredId: string; readonly appCredSecret: string };

export interface FlowWorld {
  readonly dir: string;
  readonly ironic: Ironic;
  readonly auth: ProxyAuth;
}

export interface DeployFlow {
  readonly proxy: RunningServer;
  readonly logs: Array<Record<string, unknown>>;
  readonly sim: BmcSimulator;
  readonly bmcUrl: string;
  readonly upstream: TestUpstream;
  readonly iso: string;
  close(): Promise<void>;
}

export const DEFAULT_APPEND = 'nofb nomodeset vga=normal';

async function authFlags(dir: string, auth: ProxyAuth): Promise<string[]> {
  switch (auth.type) {
    case 'noauth':
      return [];
    case 'http_basic': {
      const file = join(dir, 'ironic-password');
      await writeFile(file, `${auth.password}\n`, { mode: 0o600 });
      return ['--ironic-auth', 'http_basic', '--ironic-username', auth.username, '--ironic-password-file', file];
    }
    case 'keystone': {
      const file = join(dir, 'app-cred-secret');
      await writeFile(file, `${auth.appCredSecret}\n`, { mode: 0o600 });
      return [
        '--ironic-auth',
        'keystone',
        '--ironic-keystone-url',
        auth.authUrl,
        '--ironic-app-cred-id',
        auth.appCredId,
        '--ironic-app-cred-secret-file',
        file,
      ];
    }
  }
}

/** Starts the upstream, the BMC simulator and isoproxy (in-process, the `serve` composition root). */
export async function startDeployFlow(world: FlowWorld, extraFlags: readonly string[] = []): Promise<DeployFlow> {
  // A 6 MiB filler: the image spans several 1 MiB cache blocks and a BMC read is many ranges.
  const iso = await sizedIso(world.dir, 'ironic-base', 6);
  const upstream = await startUpstream({ '/isos/base.iso': await readFile(iso) });
  // The simulator looks for the appended parameters in the image it reads (checks.expectFound).
  const sim = createBmcSimulator({ systems: 4, fetch: { mode: 'ranges', rangeSize: 256 * 1024, concurrency: 2 }, expect: ['console=ttyS0'] });
  const bmc = await sim.listen(0, '127.0.0.1');
  const config = loadConfig([
    '--port',
    '0',
    '--data-dir',
    join(world.dir, 'data'),
    '--cache-dir',
    join(world.dir, 'cache'),
    '--block-size',
    '1MiB',
    '--cache-budget',
    '256MiB',
    '--workers',
    '1',
    '--shutdown-deadline',
    '2s',
    '--allow-upstream',
    upstream.url('/isos/'),
    '--ironic-url',
    world.ironic.url,
    '--ironic-cache-ttl',
    '1s',
    // Behind Keystone every Ironic call validates a token with a single-threaded Keystone.
    '--ironic-timeout',
    '60s',
    ...(await authFlags(world.dir, world.auth)),
    ...extraFlags,
  ]);
  const logs: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'info' },
    {
      write: (line: string) => {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  const proxy = await startServer(config, { logger });
  return {
    proxy,
    logs,
    sim,
    bmcUrl: bmc.url,
    upstream,
    iso,
    async close() {
      await proxy.close();
      await sim.close();
      await bmc.close();
      await upstream.close();
    },
  };
}

const bmcOf = (flow: DeployFlow, systemId: string) => ({ url: flow.bmcUrl, systemId, username: 'admin', password: 'password' });

/**
 * The flow against one Ironic, as three steps run in order by one test file (one
 * `it` each, so a failure names the step): deploy, change, refusals. `label` keeps names apart.
 */
export interface DeploySteps {
  /** b + c: enroll, deploy, and check what the BMC was given and read. */
  deploy(): Promise<void>;
  /** d: a new kernel_append_params in Ironic, served after the TTL under a new ETag. */
  change(): Promise<void>;
  /** e: no base → 404; after undeploy (outside the states) → 404; Ironic asked per period. */
  refusals(): Promise<void>;
  close(): Promise<void>;
}

export async function deploySteps(world: FlowWorld, label: string): Promise<DeploySteps> {
  const flow = await startDeployFlow(world);
  const { ironic } = world;
  const base = flow.upstream.url('/isos/base.iso');
  const name = `${label}-node`;
  let uuid = '';
  let url = '';
  let etag1: string | null = null;
  let ranged = 0;
  return {
    async deploy() {
      ({ uuid } = await ironic.enroll(name, bmcOf(flow, '1')));
      url = `${flow.proxy.publicUrl}/ironic/${uuid}.iso`;
      await ironic.setInfo(name, 'instance_info', {
        boot_iso: url,
        ramdisk_image_download_source: 'http',
        isoproxy_base_iso: base,
        kernel_append_params: '%default% console=ttyS0',
      });
      expect(await ironic.provision(name, 'manage', ['manageable'])).toBe('manageable');
      expect(await ironic.provision(name, 'provide', ['available'])).toBe('available');
      // Reaching `active` means Ironic's own HEAD validation of boot_iso got its 200 (deploying).
      expect(await ironic.provision(name, 'active', ['active', 'deploy failed'], 180_000)).toBe('active');

      const cd = flow.sim.system('1').vmedia.find((m) => m.mediaTypes.includes('CD'))!;
      expect(cd).toMatchObject({ inserted: true, image: url });
      const fetched = await flow.sim.whenFetched('1');
      expect(fetched.error).toBeNull();
      expect(fetched).toMatchObject({ state: 'done', verified: true });
      expect(fetched.checks?.expectFound['console=ttyS0']).toBe(true);
      const expected = await expectedImage(
        flow.iso,
        { append: [...DEFAULT_APPEND.split(' '), 'console=ttyS0'] },
        join(world.dir, `${label}-expected.iso`),
      );
      expect(fetched.totalBytes).toBe(expected.length);
      expect(fetched.bytesRead).toBe(expected.length);
      expect(fetched.requests).toBeGreaterThan(Math.floor(expected.length / (256 * 1024)));
      const transfers = flow.logs.filter((l) => l['msg'] === 'transfer' && l['source'] === 'ironic' && l['node'] === uuid);
      const ranges = transfers.filter((l) => l['status'] === 206);
      ranged = ranges.length;
      expect(ranged).toBeGreaterThan(5);
      expect(ranges.reduce((n, l) => n + Number(l['bytes']), 0)).toBeGreaterThanOrEqual(expected.length);
      // The same bytes, read again by ranges by the test, equal `isoproxy materialize`.
      const got = await downloadByRanges(url, expected.length, 1024 * 1024 + 17);
      expect(sha256(got)).toBe(sha256(expected));
      etag1 = (await fetch(url, { method: 'HEAD' })).headers.get('etag');
      expect(etag1).toBeTruthy();
    },

    async change() {
      await ironic.setInfo(name, 'instance_info', { kernel_append_params: '%default% console=ttyS1' });
      await sleep(1300);
      const head2 = await fetch(url, { method: 'HEAD' });
      expect(head2.status).toBe(200);
      expect(head2.headers.get('etag')).not.toBe(etag1);
      const expected2 = await expectedImage(
        flow.iso,
        { append: [...DEFAULT_APPEND.split(' '), 'console=ttyS1'] },
        join(world.dir, `${label}-expected2.iso`),
      );
      const got2 = Buffer.from(await (await fetch(url)).arrayBuffer());
      expect(sha256(got2)).toBe(sha256(expected2));
    },

    async refusals() {
      const nobase = `${label}-nobase`;
      const nb = await ironic.enroll(nobase, bmcOf(flow, '2'));
      const nbUrl = `${flow.proxy.publicUrl}/ironic/${nb.uuid}.iso`;
      await ironic.setInfo(nobase, 'instance_info', { boot_iso: nbUrl, ramdisk_image_download_source: 'http' });
      expect((await fetch(nbUrl, { method: 'HEAD' })).status).toBe(404);
      expect((await fetch(`${flow.proxy.publicUrl}/ironic/${nobase}.iso`)).status).toBe(404);
      await waitLog(flow, (l) => l['msg'] === 'Ironic node refused' && l['uuid'] === nb.uuid && l['reason'] === 'no-base');

      // A node with a base but outside the states (`available`): refused.
      const idle = `${label}-idle`;
      const idleNode = await ironic.enroll(idle, bmcOf(flow, '3'));
      await ironic.setInfo(idle, 'instance_info', { isoproxy_base_iso: base });
      expect(await ironic.provision(idle, 'manage', ['manageable'])).toBe('manageable');
      expect((await fetch(`${flow.proxy.publicUrl}/ironic/${idleNode.uuid}.iso`, { method: 'HEAD' })).status).toBe(404);
      await waitLog(flow, (l) => l['msg'] === 'Ironic node refused' && l['uuid'] === idleNode.uuid && l['reason'] === 'provision-state');

      // Undeploy: Ironic clears instance_info (the base goes with it) and the node is `available`,
      // outside the default states: the deployed node's URL is refused now. The log names the most
      // fundamental reason, which is the missing base.
      expect(await ironic.provision(name, 'deleted', ['available'], 180_000)).toBe('available');
      await sleep(1300);
      expect((await fetch(url, { method: 'HEAD' })).status).toBe(404);
      await waitLog(
        flow,
        (l) => l['msg'] === 'Ironic node refused' && l['uuid'] === uuid && (l['reason'] === 'no-base' || l['reason'] === 'provision-state'),
      );

      // Ironic was asked about the node about once per cache period, not once per range.
      const gets = await ironic.nodeGets(uuid);
      console.log(`${label}: ${ranged} range requests by the BMC, ${gets} GET /v1/nodes/${uuid} in Ironic's log over the whole flow`);
      expect(gets).toBeLessThan(ranged);
    },

    close: () => flow.close(),
  };
}

async function waitLog(flow: DeployFlow, match: (l: Record<string, unknown>) => boolean): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (flow.logs.some(match)) return;
    await sleep(50);
  }
  throw new Error(
    `no such log line; saw:\n${flow.logs
      .filter((l) => String(l['msg']).startsWith('Ironic'))
      .map((l) => JSON.stringify(l))
      .join('\n')}`,
  );
}
