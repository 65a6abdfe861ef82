// A real OpenStack Ironic for the Ironic source's tests: Debian's python3-ironic 21.4 as one
// process (API + conductor, `ironic.cmd.singleprocess`), sqlite, no message bus, on a free
// loopback port in a scratch directory (facts in /work/shared/IRONIC-NOTES.md). Auth is noauth,
// http_basic (an htpasswd file with a bcrypt hash, made with python3-bcrypt) or keystone (Debian's
// keystone on sqlite, started by startKeystone, `keystone-manage bootstrap`, then an application
// credential made through Keystone's API). Hardware is the redfish driver with redfish-virtual-media
// boot and the ramdisk deploy; the BMC is isoproxy's own simulator.
//
// Startup costs several seconds of CPU (CI has 2 cores): start one Ironic per test file.
//
// bench/ironic-bench.ts starts its Ironic with this module too, so `npm run build` compiles it
// (and what it imports) into dist/test/: keep it and its imports free of vitest.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { freePort, run } from '../helpers/tools.js';
import { PYTHON } from './python-ironic.js';

export interface Proc {
  readonly child: ChildProcess;
  readonly logPath: string;
  /** SIGSTOP / SIGCONT: a hung service (connections accepted by the kernel, no answers). */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

async function startProc(cmd: string, args: string[], logPath: string, env: NodeJS.ProcessEnv = process.env): Promise<Proc> {
  const out = createWriteStream(logPath, { flags: 'a' });
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.pipe(out);
  child.stderr!.pipe(out);
  let exited = false;
  const done = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  return {
    child,
    logPath,
    pause: () => {
      child.kill('SIGSTOP');
    },
    resume: () => {
      child.kill('SIGCONT');
    },
    async stop() {
      if (exited) return;
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
      out.end();
    },
  };
}

async function waitFor(what: string, proc: Proc, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (proc.child.exitCode !== null)
      throw new Error(`${what} exited (${proc.child.exitCode}); log:\n${(await readFile(proc.logPath, 'utf8')).slice(-4000)}`);
    try {
      if (await probe()) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline)
      throw new Error(`${what} did not start within ${timeoutMs} ms; log:\n${(await readFile(proc.logPath, 'utf8')).slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

// ---------------------------------------------------------------------------------------------
// Keystone

export interface Keystone {
  /** The v3 endpoint, e.g. http://127.0.0.1:PORT/v3 */
  readonly authUrl: string;
  readonly adminPassword: string;
  readonly proc: Proc;
  /** A token for the admin user scoped to the admin project. */
  adminToken(): Promise<string>;
  /** A new application credential of the admin user (admin role on the admin project). */
  createApplicationCredential(name: string): Promise<{ id: string; secret: string }>;
  /** Revokes a token (DELETE /v3/auth/tokens). */
  revokeToken(token: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startKeystone(dir: string): Promise<Keystone> {
  const home = join(dir, 'keystone');
  await mkdir(join(home, 'fernet'), { recursive: true });
  await mkdir(join(home, 'credential'), { recursive: true });
  const port = await freePort();
  const conf = join(home, 'keystone.conf');
  await writeFile(
    conf,
    [
      '[DEFAULT]',
      'use_stderr = true',
      '',
      '[database]',
      `connection = sqlite:///${join(home, 'keystone.db')}`,
      '',
      '[fernet_tokens]',
      `key_repository = ${join(home, 'fernet')}`,
      '',
      '[fernet_receipts]',
      `key_repository = ${join(home, 'fernet')}`,
      '',
      '[credential]',
      `key_repository = ${join(home, 'credential')}`,
      '',
      '[token]',
      'expiration = 3600',
      '',
      // bcrypt at its default 12 rounds costs a second or more per password check on a busy CI box.
      '[identity]',
      'password_hash_rounds = 4',
      '',
      '[cache]',
      'enabled = false',
      '',
    ].join('\n'),
  );
  const manage = (...args: string[]): Promise<unknown> => run('keystone-manage', ['--config-file', conf, ...args], { timeoutMs: 300_000 });
  // Each keystone-manage run costs many seconds of imports on a loaded CI machine, so the fernet
  // repository is written here (what `fernet_setup` writes: key files 0 and 1, each a urlsafe
  // base64 32-byte key) and credential_setup is skipped (application credentials do not use it).
  await writeFile(join(home, 'fernet', '0'), randomBytes(32).toString('base64url') + '=');
  await writeFile(join(home, 'fernet', '1'), randomBytes(32).toString('base64url') + '=');
  await manage('db_sync');
  const adminPassword = 'keystone-admin-pw-for-tests';
  const authUrl = `http://127.0.0.1:${port}/v3`;
  await manage(
    'bootstrap',
    '--bootstrap-password',
    adminPassword,
    '--bootstrap-admin-url',
    authUrl,
    '--bootstrap-public-url',
    authUrl,
    '--bootstrap-internal-url',
    authUrl,
    '--bootstrap-region-id',
    'RegionOne',
  );
  // keystone-wsgi-public (a pbr script) serves the WSGI app with wsgiref; the config comes from
  // OS_KEYSTONE_CONFIG_FILES (keystone/server/wsgi.py).
  const proc = await startProc(PYTHON, ['/usr/bin/keystone-wsgi-public', '--host', '127.0.0.1', '--port', String(port)], join(home, 'keystone.log'), {
    ...process.env,
    OS_KEYSTONE_CONFIG_FILES: conf,
  });
  await waitFor('keystone', proc, async () => (await request(authUrl, { headersTimeout: 10_000 })).statusCode === 200, 120_000).catch(
    async (err: unknown) => {
      await proc.stop();
      throw err;
    },
  );

  let cachedToken: { token: string; at: number } | undefined;
  async function adminToken(): Promise<string> {
    // Keystone's tokens live an hour; the tests take minutes.
    if (cachedToken && Date.now() - cachedToken.at < 1_800_000) return cachedToken.token;
    const res = await request(`${authUrl}/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: 'admin', domain: { id: 'default' }, password: adminPassword } } },
          scope: { project: { name: 'admin', domain: { id: 'default' } } },
        },
      }),
    });
    const body = await res.body.text();
    if (res.statusCode !== 201) throw new Error(`keystone password auth: ${res.statusCode} ${body}`);
    cachedToken = { token: String(res.headers['x-subject-token']), at: Date.now() };
    return cachedToken.token;
  }
  return {
    authUrl,
    adminPassword,
    proc,
    adminToken,
    async createApplicationCredential(name) {
      const token = await adminToken();
      const me = await request(`${authUrl}/auth/tokens`, { headers: { 'x-auth-token': token, 'x-subject-token': token } });
      const user = ((await me.body.json()) as { token: { user: { id: string } } }).token.user.id;
      const res = await request(`${authUrl}/users/${user}/application_credentials`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-auth-token': token },
        body: JSON.stringify({ application_credential: { name } }),
      });
      const body = (await res.body.json()) as { application_credential: { id: string; secret: string } };
      if (res.statusCode !== 201) throw new Error(`create application credential: ${res.statusCode} ${JSON.stringify(body)}`);
      return { id: body.application_credential.id, secret: body.application_credential.secret };
    },
    async revokeToken(subject) {
      const token = await adminToken();
      const res = await request(`${authUrl}/auth/tokens`, { method: 'DELETE', headers: { 'x-auth-token': token, 'x-subject-token': subject } });
      await res.body.dump();
      if (res.statusCode !== 204) throw new Error(`revoke token: ${res.statusCode}`);
    },
    stop: () => proc.stop(),
  };
}

// ---------------------------------------------------------------------------------------------
// Ironic

export type IronicAuthMode =
  | { readonly type: 'noauth' }
  | { readonly type: 'http_basic'; readonly username: string; readonly password: string }
  | { readonly type: 'keystone'; readonly keystone: Keystone };

export interface Ironic {
  /** API root, e.g. http://127.0.0.1:PORT (no /v1). */
  readonly url: string;
  readonly dir: string;
  readonly proc: Proc;
  /** Calls Ironic's REST API as an operator (admin credentials of the auth mode). */
  // biome-ignore lint/suspicious/noExplicitAny: JSON bodies, checked field by field
  api(method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** Requests to GET /v1/nodes/<ident> seen in Ironic's own access log, by ident. */
  nodeGets(ident: string): Promise<number>;
  /** Creates a redfish node with ramdisk deploy and redfish-virtual-media boot. */
  enroll(name: string, bmc: { url: string; systemId: string; username: string; password: string }): Promise<{ uuid: string }>;
  /** JSON-patch `add` of instance_info / driver_info keys (null value: remove). */
  setInfo(ident: string, where: 'instance_info' | 'driver_info', values: Record<string, unknown>): Promise<void>;
  /** `manage`, `provide`, `deploy`, `undeploy`, `rebuild` ... and wait for a stable state. */
  provision(ident: string, target: string, until: readonly string[], timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

async function htpasswd(path: string, user: string, password: string): Promise<void> {
  // oslo.middleware's basic auth accepts bcrypt hashes only.
  const { stdout } = await run(PYTHON, ['-c', 'import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(4)).decode())', password]);
  await writeFile(path, `${user}:${stdout.trim()}\n`);
}

export interface IronicOptions {
  /** `[DEFAULT] debug`; default true, as the tests have it. The bench turns it off to keep Ironic's logging out of its timings. */
  readonly debug?: boolean;
}

export async function startIronic(dir: string, auth: IronicAuthMode, options: IronicOptions = {}): Promise<Ironic> {
  const home = join(dir, `ironic-${auth.type}`);
  for (const d of ['tmp', 'locks', 'master_iso', 'images', 'instances', 'http']) await mkdir(join(home, d), { recursive: true });
  const port = await freePort();
  const conf = join(home, 'ironic.conf');
  const lines = [
    '[DEFAULT]',
    `auth_strategy = ${auth.type}`,
    'rpc_transport = none',
    'use_stderr = true',
    `debug = ${options.debug ?? true}`,
    'host = isoproxy-test',
    `tempdir = ${join(home, 'tmp')}`,
    'enabled_hardware_types = redfish',
    'enabled_boot_interfaces = redfish-virtual-media',
    'enabled_deploy_interfaces = ramdisk',
    'enabled_power_interfaces = redfish',
    'enabled_management_interfaces = redfish',
    'enabled_network_interfaces = noop',
    'enabled_bios_interfaces = no-bios',
    'enabled_console_interfaces = no-console',
    'enabled_inspect_interfaces = no-inspect',
    'enabled_raid_interfaces = no-raid',
    'enabled_rescue_interfaces = no-rescue',
    'enabled_storage_interfaces = noop',
    'enabled_vendor_interfaces = no-vendor',
    ...(auth.type === 'http_basic' ? [`http_basic_auth_user_file = ${join(home, 'htpasswd')}`] : []),
    '',
    '[api]',
    'host_ip = 127.0.0.1',
    `port = ${port}`,
    'api_workers = 1',
    '',
    '[database]',
    `connection = sqlite:///${join(home, 'ironic.db')}`,
    '',
    '[conductor]',
    'automated_clean = false',
    'deploy_callback_timeout = 120',
    'power_state_sync_max_retries = 0',
    `api_url = http://127.0.0.1:${port}`,
    '',
    '[dhcp]',
    'dhcp_provider = none',
    '',
    '[redfish]',
    'use_swift = false',
    '',
    '[deploy]',
    `http_root = ${join(home, 'http')}`,
    'http_url = http://127.0.0.1:9/',
    `iso_master_path = ${join(home, 'master_iso')}`,
    '',
    '[pxe]',
    `images_path = ${join(home, 'images')}`,
    `instance_master_path = ${join(home, 'instances')}`,
    '',
    '[oslo_concurrency]',
    `lock_path = ${join(home, 'locks')}`,
    '',
  ];
  if (auth.type === 'keystone') {
    lines.push(
      '[keystone_authtoken]',
      `www_authenticate_uri = ${auth.keystone.authUrl}`,
      `auth_url = ${auth.keystone.authUrl}`,
      'auth_type = password',
      'username = admin',
      `password = ${auth.keystone.adminPassword}`,
      'project_name = admin',
      'user_domain_id = default',
      'project_domain_id = default',
      // keystonemiddleware otherwise trusts a validated token for 300 s, revoked or not; the
      // tests revoke one and expect Ironic to notice.
      'token_cache_time = -1',
      '',
    );
  }
  await writeFile(conf, lines.join('\n'));
  if (auth.type === 'http_basic') await htpasswd(join(home, 'htpasswd'), auth.username, auth.password);
  // Neither module has a __main__ guard in 21.4 (Debian ships no ironic-* scripts with
  // python3-ironic): call their main() the way the console scripts would.
  await run(PYTHON, ['-c', 'import sys; from ironic.cmd.dbsync import main; sys.exit(main())', '--config-file', conf, 'create_schema'], {
    timeoutMs: 300_000,
  });
  const proc = await startProc(
    PYTHON,
    ['-c', 'import sys; from ironic.cmd.singleprocess import main; sys.exit(main())', '--config-file', conf],
    join(home, 'ironic.log'),
  );
  const url = `http://127.0.0.1:${port}`;

  const headers = async (): Promise<Record<string, string>> => {
    const h: Record<string, string> = { 'x-openstack-ironic-api-version': 'latest', 'content-type': 'application/json' };
    if (auth.type === 'http_basic') h['authorization'] = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    if (auth.type === 'keystone') h['x-auth-token'] = await auth.keystone.adminToken();
    return h;
  };
  // The root answers without auth; /v1/drivers shows the conductor registered its hardware type.
  await waitFor(
    'ironic',
    proc,
    async () => {
      // Behind Keystone each call also validates the token with Keystone (single-threaded here).
      const res = await request(`${url}/v1/drivers`, { headers: await headers(), headersTimeout: 30_000 });
      const body = (await res.body.json()) as { drivers?: { name: string }[] };
      return res.statusCode === 200 && (body.drivers ?? []).some((d) => d.name === 'redfish');
    },
    240_000,
  ).catch(async (err: unknown) => {
    await proc.stop();
    throw err;
  });

  const api: Ironic['api'] = async (method, path, body) => {
    const res = await request(`${url}${path}`, { method, headers: await headers(), ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : undefined };
  };

  return {
    url,
    dir: home,
    proc,
    api,
    async nodeGets(ident) {
      const log = await readFile(proc.logPath, 'utf8');
      const re = new RegExp(`"GET /v1/nodes/${ident.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\?fields=`, 'g');
      return (log.match(re) ?? []).length;
    },
    async enroll(name, bmc) {
      const res = await api('POST', '/v1/nodes', {
        name,
        driver: 'redfish',
        boot_interface: 'redfish-virtual-media',
        deploy_interface: 'ramdisk',
        network_interface: 'noop',
        driver_info: {
          redfish_address: bmc.url,
          redfish_system_id: `/redfish/v1/Systems/${bmc.systemId}`,
          redfish_username: bmc.username,
          redfish_password: bmc.password,
        },
      });
      if (res.status !== 201) throw new Error(`enroll ${name}: ${res.status} ${JSON.stringify(res.body)}`);
      return { uuid: res.body.uuid as string };
    },
    async setInfo(ident, where, values) {
      const patch = Object.entries(values).map(([k, v]) =>
        v === null ? { op: 'remove', path: `/${where}/${k}` } : { op: 'add', path: `/${where}/${k}`, value: v },
      );
      const res = await api('PATCH', `/v1/nodes/${ident}`, patch);
      if (res.status !== 200) throw new Error(`patch ${ident}: ${res.status} ${JSON.stringify(res.body)}`);
    },
    async provision(ident, target, until, timeoutMs = 120_000) {
      let res = await api('PUT', `/v1/nodes/${ident}/states/provision`, { target });
      // 409 "locked by host": a power action (a reboot) still holds the node; retry.
      for (let i = 0; i < 60 && res.status === 409; i++) {
        await new Promise((r) => setTimeout(r, 500));
        res = await api('PUT', `/v1/nodes/${ident}/states/provision`, { target });
      }
      if (res.status !== 202) throw new Error(`provision ${target} ${ident}: ${res.status} ${JSON.stringify(res.body)}`);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const node = await api('GET', `/v1/nodes/${ident}`);
        const state = node.body.provision_state as string;
        if (until.includes(state) && node.body.target_provision_state === null) return state;
        if (Date.now() > deadline) throw new Error(`node ${ident} stuck in ${state} (last_error ${node.body.last_error})`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    stop: () => proc.stop(),
  };
}
