// Debian's redis-server for tests, started by the test on a free port with its data in a scratch
// directory. The append-only file is fsynced on every write, so a restart (even after SIGKILL)
// comes back with every acknowledged write: a "Redis restarted mid-wave" test checks the store's
// reconnect, not Redis's durability settings.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { freePort, hasTool } from './tools.js';

export interface TestRedis {
  readonly port: number;
  /** redis://127.0.0.1:<port>/<db> (no password: pass it through the store's password option). */
  url(db?: number): string;
  /** Stops (SIGTERM, or SIGKILL when `hard`) and waits for the process to exit. */
  stop(hard?: boolean): Promise<void>;
  /** Starts again on the same port with the same data. */
  start(): Promise<void>;
  /** stop then start. */
  restart(hard?: boolean): Promise<void>;
  close(): Promise<void>;
}

export const hasRedis = (): boolean => hasTool('redis-server');

/** Answers PING with +PONG (or NOAUTH when a password is set): loaded and serving. */
async function pings(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    let text = '';
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(500, () => done(false));
    s.on('connect', () => s.write('PING\r\n'));
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (text.includes('\r\n')) done(text.startsWith('+PONG') || text.startsWith('-NOAUTH'));
    });
    s.on('error', () => done(false));
  });
}

export async function startRedis(dir: string, options: { password?: string } = {}): Promise<TestRedis> {
  const data = join(dir, 'redis');
  await mkdir(data, { recursive: true });
  const port = await freePort();
  let proc: ChildProcess | undefined;
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    data,
    '--daemonize',
    'no',
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--logfile',
    join(data, 'redis.log'),
    ...(options.password !== undefined ? ['--requirepass', options.password] : []),
  ];

  const start = async (): Promise<void> => {
    const p = spawn('redis-server', args, { stdio: 'ignore' });
    proc = p;
    for (let i = 0; i < 200; i++) {
      if (p.exitCode !== null) throw new Error(`redis-server exited with ${p.exitCode} (see ${join(data, 'redis.log')})`);
      if (await pings(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error('redis-server did not answer PING');
  };
  const stop = async (hard = false): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(hard ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    url: (db = 0) => `redis://127.0.0.1:${port}/${db}`,
    stop,
    start,
    restart: async (hard = false) => {
      await stop(hard);
      await start();
    },
    close: () => stop(true),
  };
}
