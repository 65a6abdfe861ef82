// A scale-out deployment in miniature, built from the real pieces: `isoproxy serve` replicas run
// from the built CLI (dist/, so `npm run build` first) with a shared Redis store, and Debian's
// nginx in front, configured by docs/nginx-replicas.conf itself with only its `server` and
// `listen` lines replaced. Each replica's output goes to a file in the scratch directory.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { freePort } from '../helpers/tools.js';

export const REPO = resolve(import.meta.dirname, '../..');
export const CLI = join(REPO, 'bin', 'isoproxy.js');
export const BUILT = existsSync(join(REPO, 'dist', 'src', 'cli.js'));
export const NGINX_CONF = join(REPO, 'docs', 'nginx-replicas.conf');
export const TOKEN = 'replica-token-0123456789abcdef';

export interface ReplicaOptions {
  readonly dir: string;
  readonly index: number;
  readonly port: number;
  /** --store value (redis://...). */
  readonly store: string;
  readonly allowUpstream: string;
  /** What node URLs point at: the load balancer. */
  readonly publicUrl: string;
}

export interface Replica {
  readonly index: number;
  readonly port: number;
  readonly url: string;
  /** host:port as nginx's $upstream_addr shows it. */
  readonly addr: string;
  readonly logFile: string;
  running(): boolean;
  /** Starts the process (again, on the same port, data and cache) and waits for /readyz. */
  start(): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  putNode(name: string, body: unknown): Promise<Response>;
  imageUrl(name: string): string;
  metric(name: string): Promise<number>;
}

async function waitReady(url: string, proc: ChildProcess, logFile: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (proc.exitCode !== null)
      throw new Error(`replica exited with ${proc.exitCode}; see ${logFile}:\n${(await readFile(logFile, 'utf8')).slice(-2000)}`);
    const ok = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`replica ${url} not ready; see ${logFile}`);
}

export async function replica(options: ReplicaOptions): Promise<Replica> {
  const home = join(options.dir, `replica-${options.index}`);
  await mkdir(home, { recursive: true });
  const url = `http://127.0.0.1:${options.port}`;
  const logFile = join(home, 'out.log');
  let proc: ChildProcess | undefined;
  const args = [
    CLI,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--public-url',
    options.publicUrl,
    '--data-dir',
    join(home, 'data'),
    '--cache-dir',
    join(home, 'cache'),
    // nginx is every BMC's address here: the per-address cap would stand in for a crowd.
    '--max-transfers-per-client',
    '100000',
    '--cache-budget',
    '512MiB',
    '--block-size',
    '1MiB',
    '--admin-token',
    TOKEN,
    '--allow-upstream',
    options.allowUpstream,
    '--workers',
    '1',
    '--shutdown-deadline',
    '2s',
    '--store',
    options.store,
  ];
  const self: Replica = {
    index: options.index,
    port: options.port,
    url,
    addr: `127.0.0.1:${options.port}`,
    logFile,
    running: () => proc !== undefined && proc.exitCode === null && proc.signalCode === null,
    async start() {
      const fd = openSync(logFile, 'a');
      try {
        proc = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ISOPROXY_LOG_LEVEL: 'info' } });
      } finally {
        closeSync(fd);
      }
      await waitReady(url, proc, logFile);
    },
    async kill(signal) {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill(signal);
      await exited;
    },
    putNode: (name, body) =>
      fetch(`${url}/api/v1/nodes/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    imageUrl: (name) => `${url}/iso/${name}.iso`,
    async metric(name) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    },
  };
  await self.start();
  return self;
}

export interface BalancerLine {
  readonly method: string;
  readonly uri: string;
  readonly status: number;
  readonly range: string;
  /** When nginx received the request (ms since the epoch). */
  readonly startMs: number;
  /** Every replica nginx tried, in order ("127.0.0.1:1, 127.0.0.1:2" after a failover). */
  readonly upstreams: string[];
  readonly upstreamStatuses: string[];
}

export interface Balancer {
  readonly origin: string;
  log(): Promise<BalancerLine[]>;
  close(): Promise<void>;
}

/** docs/nginx-replicas.conf with its replicas and listen address replaced; throws if the file's shape changed. */
export function renderConf(text: string, listen: string, servers: readonly string[]): string {
  const serverLines = text.match(/^\s*server \S+:\d+ [^;]*;$/gm) ?? [];
  if (serverLines.length !== servers.length)
    throw new Error(`docs/nginx-replicas.conf has ${serverLines.length} server lines, the test runs ${servers.length} replicas`);
  let i = 0;
  let out = text.replace(/^(\s*server )\S+:\d+( [^;]*;)$/gm, (_, head: string, tail: string) => `${head}${servers[i++]}${tail}`);
  if (!/^\s*listen 80;$/m.test(out)) throw new Error('docs/nginx-replicas.conf has no `listen 80;` line');
  out = out.replace(/^(\s*)listen 80;$/m, `$1listen ${listen};`);
  return out;
}

/** nginx with docs/nginx-replicas.conf in its http {} block, and an access log naming the replicas tried. */
export async function balancer(dir: string, servers: readonly string[]): Promise<Balancer> {
  const home = join(dir, 'nginx');
  const tmp = join(home, 'tmp');
  await mkdir(tmp, { recursive: true });
  const port = await freePort();
  const site = join(home, 'isoproxy.conf');
  await writeFile(site, renderConf(await readFile(NGINX_CONF, 'utf8'), `127.0.0.1:${port}`, servers));
  const accessLog = join(home, 'access.log');
  const conf = [
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${join(home, 'nginx.pid')};`,
    `error_log ${join(home, 'error.log')} warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  log_format replicas \'$request_method $uri $status "$http_range" "$upstream_addr" "$upstream_status" $msec $request_time\';',
    `  access_log ${accessLog} replicas;`,
    `  client_body_temp_path ${tmp}; proxy_temp_path ${tmp}; fastcgi_temp_path ${tmp}; uwsgi_temp_path ${tmp}; scgi_temp_path ${tmp};`,
    `  include ${site};`,
    '}',
  ].join('\n');
  const confPath = join(home, 'nginx.conf');
  await writeFile(confPath, conf);
  const proc = spawn('nginx', ['-p', home, '-c', confPath, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}: ${stderr}`);
    // Nothing listens behind it yet: any answer (404 from `location /`) means nginx is up.
    if (
      await fetch(`${origin}/`).then(
        () => true,
        () => false,
      )
    )
      break;
    if (i > 200) throw new Error(`nginx did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return {
    origin,
    async log() {
      const text = await readFile(accessLog, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const m = /^(\S+) (\S+) (\d+) "(.*)" "(.*)" "(.*)" ([0-9.]+) ([0-9.]+)$/.exec(l);
          // nginx separates the servers it tried by ", " (and internal redirects by " : ").
          const list = (s: string | undefined): string[] =>
            (s ?? '')
              .split(/, | : /)
              .map((x) => x.trim())
              .filter((x) => x !== '' && x !== '-');
          const startMs = Math.round((Number(m?.[7]) - Number(m?.[8])) * 1000);
          return {
            method: m?.[1] ?? '',
            uri: m?.[2] ?? '',
            status: Number(m?.[3]),
            range: m?.[4] ?? '',
            startMs,
            upstreams: list(m?.[5]),
            upstreamStatuses: list(m?.[6]),
          };
        });
    },
    async close() {
      if (proc.exitCode !== null) return;
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
