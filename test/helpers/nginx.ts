// nginx as the upstream (what most deployments put ISOs behind), started with a temporary config
// on a free port, serving files from a directory, with an access log of method, status, Range and
// the connection's request count, so tests can count upstream traffic and keep-alive reuse.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { freePort } from './tools.js';

export interface NginxLogLine {
  readonly method: string;
  readonly status: number;
  /** The Range header ('' when none). */
  readonly range: string;
  /** How many requests the connection had served, this one included (keep-alive reuse when > 1). */
  readonly connectionRequests: number;
}

export interface Nginx {
  readonly origin: string;
  /** Access log lines, complete up to the last finished response. */
  log(): Promise<NginxLogLine[]>;
  close(): Promise<void>;
}

async function waitForPort(port: number, proc: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const s = createConnection({ port, host: '127.0.0.1' }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nginx did not start listening');
}

/** Starts nginx serving `www` (a directory) from a private prefix under `dir`. */
export async function startNginx(dir: string, www: string): Promise<Nginx> {
  const t = join(dir, 'nginx-tmp');
  await mkdir(t, { recursive: true });
  const port = await freePort();
  const accessLog = join(dir, 'nginx-access.log');
  const conf = [
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'nginx-error.log')};`,
    'events { worker_connections 256; }',
    'http {',
    '  log_format ranges \'$request_method $status "$http_range" $connection_requests\';',
    `  access_log ${accessLog} ranges;`,
    `  client_body_temp_path ${t}; proxy_temp_path ${t}; fastcgi_temp_path ${t}; uwsgi_temp_path ${t}; scgi_temp_path ${t};`,
    '  sendfile on;',
    `  server { listen 127.0.0.1:${port}; root ${www}; }`,
    '}',
  ].join('\n');
  const confPath = join(dir, 'nginx.conf');
  await writeFile(confPath, conf);
  const proc = spawn('nginx', ['-p', dir, '-c', confPath, '-g', 'daemon off;'], { stdio: 'ignore' });
  await waitForPort(port, proc);
  return {
    origin: `http://127.0.0.1:${port}`,
    async log() {
      // nginx writes a line after its response: re-read until the file stops changing.
      let text = '';
      for (let i = 0; i < 20; i++) {
        const now = await readFile(accessLog, 'utf8').catch(() => '');
        if (now === text && now !== '') break;
        text = now;
        await new Promise((r) => setTimeout(r, 25));
      }
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const m = /^(\S+) (\d+) "(.*)" (\d+)$/.exec(l);
          return { method: m?.[1] ?? '', status: Number(m?.[2]), range: m?.[3] ?? '', connectionRequests: Number(m?.[4]) };
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
