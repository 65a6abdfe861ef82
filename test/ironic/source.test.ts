// The Ironic node source against a real Ironic (Debian's 21.4, noauth, one process, sqlite): what
// a node's data maps to, what is refused and logged, how often Ironic is asked (counted in
// Ironic's own access log), what a change in Ironic does after the cache period, what happens
// while Ironic hangs, and a real ramdisk deploy over Redfish virtual media (isoproxy's BMC
// simulator as the BMC) that records the provision state at every request for the image.

import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run as ironicCommand } from '../../src/commands/ironic.js';
import { ensureDemoIso } from '../../src/demo/demo-iso.js';
import { createBmcSimulator, type BmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { IronicNodeRefusedError, IronicUnavailableError } from '../../src/ironic/errors.js';
import { parseIronicOptions } from '../../src/ironic/options.js';
import { createIronicSource, type IronicSource } from '../../src/ironic/source.js';
import { DEFAULT_PROVISION_STATES } from '../../src/ironic/states.js';
import { checkUpstreamAllowed } from '../../src/upstream/open.js';
import { freePort, scratchDir } from '../helpers/tools.js';
import { startIronic, type Ironic } from './harness.js';
import { logSink, type LogSink } from './log-sink.js';
import { startObservingServer, type ObservingServer } from './observing-server.js';
import { ironicMissing } from './python-ironic.js';

const missing = ironicMissing();
const BASE = 'http://images.test/isos/base.iso';
const allow = (url: string): void => checkUpstreamAllowed(url, { allowedPrefixes: ['http://images.test/isos/'], allowedDirs: [] });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(missing !== undefined)(`Ironic node source against Debian's Ironic 21.4, noauth${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let ironic: Ironic;
  let cleanup: () => Promise<void>;
  let scratchPath: string;
  let sim: BmcSimulator;
  let bmc: { url: string; close(): Promise<void> };
  const sources: IronicSource[] = [];

  function source(flags: Record<string, unknown> = {}, sink: LogSink = logSink()): IronicSource {
    const options = parseIronicOptions({ flags: { 'ironic-url': ironic.url, 'ironic-provision-states': '*', ...flags } })!;
    const s = createIronicSource({ ...options, checkUpstreamAllowed: allow }, sink.logger);
    sources.push(s);
    return s;
  }
  const bmcOf = (systemId: string) => ({ url: bmc.url, systemId, username: 'admin', password: 'password' });

  beforeAll(async () => {
    const scratch = await scratchDir('isoproxy-ironic-');
    cleanup = scratch.cleanup;
    scratchPath = scratch.dir;
    sim = createBmcSimulator({ systems: 4, fetch: { mode: 'ranges', rangeSize: 256 * 1024, concurrency: 2 } });
    bmc = await sim.listen(0, '127.0.0.1');
    ironic = await startIronic(scratch.dir, { type: 'noauth' });
  }, 600_000);

  afterAll(async () => {
    for (const s of sources) await s.close();
    await ironic?.stop();
    await bmc?.close();
    await cleanup?.();
  });

  it("maps a node's base, kernel_append_params with %default%, isoproxy_edits and isoproxy_files", async () => {
    const { uuid } = await ironic.enroll('map-1', bmcOf('1'));
    await ironic.setInfo('map-1', 'instance_info', {
      isoproxy_base_iso: BASE,
      kernel_append_params: '%default% console=ttyS0,115200n8 ks="http://h/ks.cfg"',
      isoproxy_edits: { set: { ip: 'dhcp' }, remove: ['quiet'] },
      isoproxy_files: [{ path: '/etc/motd', content: 'hi' }],
    });
    const s = source({ 'ironic-default-append': 'nofb vga=normal' });
    const spec = await s.lookup('map-1');
    expect(spec).toMatchObject({
      name: 'map-1',
      bootIso: BASE,
      edits: {
        append: ['nofb', 'vga=normal', 'console=ttyS0,115200n8', 'ks=http://h/ks.cfg'],
        set: { ip: 'dhcp' },
        remove: ['quiet'],
        files: [{ path: '/etc/motd', content: 'hi' }],
      },
    });
    // The same node by UUID: the same base and edits.
    const byUuid = await s.lookup(uuid);
    expect(byUuid?.bootIso).toBe(BASE);
    expect(byUuid?.edits).toEqual(spec?.edits);
  });

  it('falls back to driver_info, then the default append; an edits JSON string counts too', async () => {
    await ironic.enroll('map-2', bmcOf('1'));
    await ironic.setInfo('map-2', 'driver_info', { kernel_append_params: 'rd.debug %default%' });
    await ironic.setInfo('map-2', 'instance_info', { isoproxy_base_iso: BASE, isoproxy_edits: JSON.stringify({ remove: ['splash'] }) });
    await ironic.enroll('map-3', bmcOf('1'));
    await ironic.setInfo('map-3', 'instance_info', { isoproxy_base_iso: BASE });
    const s = source();
    expect((await s.lookup('map-2'))?.edits).toEqual({ append: ['rd.debug', 'nofb', 'nomodeset', 'vga=normal'], remove: ['splash'] });
    expect((await s.lookup('map-3'))?.edits).toEqual({ append: ['nofb', 'nomodeset', 'vga=normal'] });
    const none = source({ 'ironic-default-append': '' });
    expect((await none.lookup('map-3'))?.edits).toEqual({ append: [] });
  });

  it("refuses a node without a base, logging the reason with the node's UUID; a default base serves it", async () => {
    const { uuid } = await ironic.enroll('nobase', bmcOf('1'));
    const sink = logSink();
    const s = source({}, sink);
    const err = await s.lookup('nobase').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IronicNodeRefusedError);
    expect(err).toMatchObject({ reason: 'no-base', uuid });
    expect(sink.records).toContainEqual(expect.objectContaining({ msg: 'Ironic node refused', node: 'nobase', uuid, reason: 'no-base' }));
    const withDefault = source({ 'ironic-default-base': 'http://images.test/isos/default.iso' });
    expect((await withDefault.lookup('nobase'))?.bootIso).toBe('http://images.test/isos/default.iso');
  });

  it('refuses a base outside the upstream allowlist, without telling the client the URL', async () => {
    const { uuid } = await ironic.enroll('evil', bmcOf('1'));
    await ironic.setInfo('evil', 'instance_info', { isoproxy_base_iso: 'http://images.test/isos-evil/x.iso' });
    const sink = logSink();
    const err = (await source({}, sink)
      .lookup('evil')
      .catch((e: unknown) => e)) as IronicNodeRefusedError;
    expect(err).toBeInstanceOf(IronicNodeRefusedError);
    expect(err.reason).toBe('upstream-forbidden');
    expect(err.message).not.toContain('isos-evil');
    expect(err.detail).toContain('isos-evil');
    expect(sink.records).toContainEqual(expect.objectContaining({ msg: 'Ironic node refused', uuid, reason: 'upstream-forbidden' }));
  });

  it('refuses kernel parameters Ironic itself would refuse, and ones edits cannot carry', async () => {
    await ironic.enroll('badparams', bmcOf('1'));
    await ironic.setInfo('badparams', 'instance_info', { isoproxy_base_iso: BASE, kernel_append_params: 'a:b' });
    await expect(source().lookup('badparams')).rejects.toMatchObject({ reason: 'invalid-edits' });
    await ironic.setInfo('badparams', 'instance_info', { kernel_append_params: 'x', isoproxy_edits: { set: { x: '1' } } });
    await expect(source().lookup('badparams')).rejects.toMatchObject({ reason: 'invalid-edits', detail: expect.stringContaining('also set') });
  });

  it('answers undefined for a node Ironic does not know, and asks nothing for a name Ironic cannot hold', async () => {
    const s = source();
    expect(await s.lookup('no-such-node')).toBeUndefined();
    expect(await s.lookup('00000000-0000-4000-8000-000000000000')).toBeUndefined();
    const before = s.stats.ironicRequests;
    expect(await s.lookup('a b')).toBeUndefined();
    expect(await s.lookup('..')).toBeUndefined();
    expect(s.stats.ironicRequests).toBe(before);
  });

  it('makes one Ironic call for 50 concurrent cold lookups and none more within the cache period', async () => {
    await ironic.enroll('wave-1', bmcOf('2'));
    await ironic.setInfo('wave-1', 'instance_info', { isoproxy_base_iso: BASE, kernel_append_params: 'console=ttyS1' });
    const s = source({ 'ironic-cache-ttl': '10s' });
    const seen = await ironic.nodeGets('wave-1');
    const specs = await Promise.all(Array.from({ length: 50 }, () => s.lookup('wave-1')));
    expect(new Set(specs.map((x) => JSON.stringify(x))).size).toBe(1);
    for (let i = 0; i < 200; i++) await s.lookup('wave-1');
    expect(s.stats.ironicRequests).toBe(1);
    // Ironic writes its access line after answering: on a busy machine, a moment later.
    await vi.waitFor(async () => expect(await ironic.nodeGets('wave-1')).toBe(seen + 1), { timeout: 10_000, interval: 200 });
    await sleep(500);
    expect(await ironic.nodeGets('wave-1')).toBe(seen + 1);
  });

  it('serves a change in Ironic to lookups that start after the cache period, and says so', async () => {
    await ironic.enroll('change', bmcOf('2'));
    await ironic.setInfo('change', 'instance_info', { isoproxy_base_iso: BASE, kernel_append_params: 'console=ttyS0' });
    const s = source({ 'ironic-cache-ttl': '1500ms' });
    const changed: string[] = [];
    s.onChange((name) => changed.push(name));
    const t0 = Date.now();
    expect((await s.lookup('change'))?.edits.append).toEqual(['console=ttyS0']);
    await ironic.setInfo('change', 'instance_info', { kernel_append_params: 'console=ttyS1' });
    if (Date.now() - t0 < 1000) expect((await s.lookup('change'))?.edits.append).toEqual(['console=ttyS0']);
    await sleep(Math.max(0, t0 + 1600 - Date.now()));
    expect((await s.lookup('change'))?.edits.append).toEqual(['console=ttyS1']);
    expect(changed).toEqual(['change']);
  });

  it('refreshes a busy node in the background before its period ends, so lookups do not wait', async () => {
    await ironic.enroll('busy', bmcOf('2'));
    await ironic.setInfo('busy', 'instance_info', { isoproxy_base_iso: BASE });
    const s = source({ 'ironic-cache-ttl': '2s' });
    await s.lookup('busy');
    await sleep(1600); // inside the last quarter (500 ms) of the period: served, refreshed behind
    await s.lookup('busy');
    await sleep(100);
    expect(s.stats.ironicRequests).toBe(2);
    await sleep(600); // past the first period, inside the renewed one: no wait, no call
    const started = performance.now();
    await s.lookup('busy');
    expect(performance.now() - started).toBeLessThan(50);
    expect(s.stats.ironicRequests).toBe(2);
  });

  it("keeps a known node's last spec while Ironic hangs, for a bounded time, and 503s the rest", async () => {
    await ironic.enroll('hang', bmcOf('2'));
    await ironic.setInfo('hang', 'instance_info', { isoproxy_base_iso: BASE, kernel_append_params: 'console=ttyS0' });
    const sink = logSink();
    const s = source({ 'ironic-cache-ttl': '200ms', 'ironic-timeout': '600ms', 'ironic-stale-max': '3s', 'ironic-retry-after': '7' }, sink);
    const good = await s.lookup('hang');
    ironic.proc.pause();
    try {
      await sleep(250);
      expect(await s.lookup('hang')).toEqual(good);
      expect(sink.records).toContainEqual(
        expect.objectContaining({ level: 40, msg: "Ironic unreachable; keeping the node's last answer", node: 'hang' }),
      );
      const err = await s.lookup('never-seen').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IronicUnavailableError);
      expect(err).toMatchObject({ retryAfterS: 7, code: 'IRONIC_UNAVAILABLE' });
      // Within a period after a failure, Ironic is not asked again about that node.
      const asked = s.stats.ironicRequests;
      await expect(s.lookup('never-seen')).rejects.toBeInstanceOf(IronicUnavailableError);
      expect(s.stats.ironicRequests).toBe(asked);
      // After the first failure, a known node's lookups do not wait out the timeout again.
      const started = performance.now();
      expect(await s.lookup('hang')).toEqual(good);
      expect(performance.now() - started).toBeLessThan(100);
      await sleep(3100);
      await expect(s.lookup('hang')).rejects.toBeInstanceOf(IronicUnavailableError);
      expect(s.stats.staleAnswers).toBeGreaterThanOrEqual(2);
    } finally {
      ironic.proc.resume();
    }
    await sleep(250);
    expect(await s.lookup('hang')).toEqual(good);
    expect(sink.records).toContainEqual(expect.objectContaining({ msg: 'Ironic answers again', node: 'hang' }));
  });

  it('`ironic check` prints the URL to set, the base, the edits, why the node is not served yet, warnings and the diff', async () => {
    const iso = await ensureDemoIso(scratchPath);
    const { uuid } = await ironic.enroll('check-1', bmcOf('1'));
    await ironic.setInfo('check-1', 'instance_info', {
      isoproxy_base_iso: pathToFileURL(iso).href,
      kernel_append_params: '%default% console=ttyS1',
      ramdisk_image_download_source: 'local',
    });
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      lines.push(args.join(' '));
    });
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    let code: number;
    try {
      code = await ironicCommand([
        'check',
        'check-1',
        '--ironic-url',
        ironic.url,
        '--public-url',
        'http://10.0.0.5:8080',
        '--allow-dir',
        dirname(iso),
        '--preview',
      ]);
    } finally {
      log.mockRestore();
      write.mockRestore();
    }
    const out = lines.join('\n');
    expect(code).toBe(1); // enrolled, not deploying: refused until deployed
    expect(out).toContain(`check-1 ${uuid}`);
    expect(out).toContain('boot_iso     http://10.0.0.5:8080/ironic/check-1.iso  (39 characters)');
    expect(out).toContain(
      `baremetal node set ${uuid} --instance-info boot_iso=http://10.0.0.5:8080/ironic/check-1.iso --instance-info ramdisk_image_download_source=http`,
    );
    expect(out).toContain('kernel_append_params  "nofb nomodeset vga=normal console=ttyS1"  (from instance_info)');
    expect(out).toMatch(/refused: {3}provision-state: provision state "enroll"/);
    expect(out).toMatch(/warning: instance_info\/ramdisk_image_download_source is "local"/);
    expect(out).toMatch(/^\+.*console=ttyS1/m);
  });

  it('answers 503 material when nothing listens at the Ironic URL', async () => {
    const port = await freePort();
    const options = parseIronicOptions({ flags: { 'ironic-url': `http://127.0.0.1:${port}`, 'ironic-retry-after': '3' } })!;
    const s = createIronicSource({ ...options, checkUpstreamAllowed: allow }, logSink().logger);
    sources.push(s);
    await expect(s.lookup('n1')).rejects.toMatchObject({
      name: 'IronicUnavailableError',
      retryAfterS: 3,
      detail: expect.stringContaining('ECONNREFUSED'),
      message: expect.not.stringContaining('127.0.0.1'),
    });
  });

  it('serves a ramdisk deploy over Redfish virtual media in the default provision states, and refuses the node once undeployed', async () => {
    const states = source({ 'ironic-provision-states': DEFAULT_PROVISION_STATES.join(','), 'ironic-cache-ttl': '1s' });
    const server: ObservingServer = await startObservingServer(states, ironic.url, new Map([[BASE, Buffer.alloc(3 * 1024 * 1024 + 123, 7)]]));
    try {
      const { uuid } = await ironic.enroll('deploy-1', bmcOf('3'));
      const url = `${server.url}/ironic/${uuid}.iso`;
      await ironic.setInfo('deploy-1', 'instance_info', {
        boot_iso: url,
        ramdisk_image_download_source: 'http',
        isoproxy_base_iso: BASE,
        kernel_append_params: '%default% console=ttyS0',
      });
      expect(await ironic.provision('deploy-1', 'manage', ['manageable'])).toBe('manageable');
      expect(await ironic.provision('deploy-1', 'provide', ['available'])).toBe('available');
      expect(await ironic.provision('deploy-1', 'active', ['active', 'deploy failed'])).toBe('active');
      const fetched = await sim.whenFetched('3');
      const show = (): void => {
        const table = server.observations.map(
          (o) =>
            `${o.method.padEnd(4)} ${(o.range ?? '').padEnd(24)} ${o.status} ${o.state.padEnd(24)} ${o.agent.split('/')[0]}${o.reason ? ` (${o.reason})` : ''}`,
        );
        console.log(`requests for ${url}:\n${collapse(table).join('\n')}`);
      };
      show();
      const cd = sim.system('3').vmedia.find((m) => m.mediaTypes.includes('CD'))!;
      expect(cd).toMatchObject({ inserted: true, image: url });
      expect(fetched.state).toBe('done');
      // A reboot of the active ramdisk instance boots the CD again (Ironic set it persistently).
      // Right after the deploy Ironic may still be settling the power state: retry briefly.
      let reboot = await ironic.api('PUT', `/v1/nodes/${uuid}/states/power`, { target: 'rebooting' });
      for (let i = 0; i < 40 && reboot.status !== 202; i++) {
        await sleep(500);
        reboot = await ironic.api('PUT', `/v1/nodes/${uuid}/states/power`, { target: 'rebooting' });
      }
      expect(reboot.status, JSON.stringify(reboot.body)).toBe(202);
      for (let i = 0; i < 60 && !sim.system('3').resets.some((r) => r.image === url); i++) await sleep(250);
      expect(sim.system('3').resets.filter((r) => r.image === url).length).toBeGreaterThanOrEqual(1);
      expect(sim.system('3').boot).toMatchObject({ target: 'Cd', enabled: 'Continuous' });
      await fetch(url, { method: 'HEAD' });
      // Undeploy: Ironic ejects the media; a stray request afterwards is refused.
      expect(await ironic.provision('deploy-1', 'deleted', ['available'])).toBe('available');
      await sleep(1100);
      const after = await fetch(url, { method: 'HEAD' });
      expect(after.status).toBe(404);

      show();
      const bySomeoneElse = server.observations.filter((o) => o.status >= 400 && o !== server.observations[server.observations.length - 1]);
      expect(bySomeoneElse).toEqual([]);
    } finally {
      await server.close();
    }
  }, 240_000);

  it('with ramdisk_image_download_source=local, Ironic itself downloads the image during deploying (served: the default states include it)', async () => {
    const states = source({ 'ironic-provision-states': DEFAULT_PROVISION_STATES.join(','), 'ironic-cache-ttl': '1s' });
    const server: ObservingServer = await startObservingServer(states, ironic.url, new Map([[BASE, Buffer.alloc(1024 * 1024, 9)]]));
    try {
      const { uuid } = await ironic.enroll('deploy-local', bmcOf('4'));
      const url = `${server.url}/ironic/${uuid}.iso`;
      await ironic.setInfo('deploy-local', 'instance_info', { boot_iso: url, ramdisk_image_download_source: 'local', isoproxy_base_iso: BASE });
      await ironic.provision('deploy-local', 'manage', ['manageable']);
      await ironic.provision('deploy-local', 'provide', ['available']);
      expect(await ironic.provision('deploy-local', 'active', ['active', 'deploy failed'])).toBe('active');
      const byIronic = server.observations.filter((o) => o.agent.startsWith('python-requests'));
      console.log(`Ironic's own requests for ${url}:\n${byIronic.map((o) => `${o.method} ${o.status} ${o.state}`).join('\n')}`);
      expect(byIronic.length).toBeGreaterThan(0);
      expect(byIronic.every((o) => o.status === 200 && o.state.startsWith('deploying'))).toBe(true);
      // The BMC was handed Ironic's own copy, not isoproxy's URL: the proxy is bypassed.
      const cd = sim.system('4').vmedia.find((m) => m.mediaTypes.includes('CD'))!;
      expect(cd.image).not.toBe(url);
    } finally {
      await server.close();
    }
  }, 240_000);
});

/** Runs of identical lines as one line with a count (a range read is hundreds of requests). */
function collapse(lines: string[]): string[] {
  const out: string[] = [];
  let last = '';
  let n = 0;
  const key = (l: string): string => l.replace(/bytes=\S+/, 'bytes=…');
  for (const l of [...lines, '\u0000']) {
    if (key(l) === last) {
      n++;
      continue;
    }
    if (n > 0) out.push(n > 1 ? `${last}  ×${n}` : last);
    last = key(l);
    n = 1;
  }
  return out;
}
