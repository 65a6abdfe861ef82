// `isoproxy serve --workers N` as a real process tree for the cluster tests: the built CLI
// (dist/, so run `npm run build` first) spawned on a free port, its stdout parsed as the one JSON
// log stream (the primary relays its workers' lines), with which worker served each request.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Edits } from '../../src/bootconfig/types.js';
import { freePort } from '../helpers/tools.js';
import { eventually, TOKEN } from '../service/harness.js';

const CLI = join(import.meta.dirname, '../../dist/src/cli.js');

export interface ClusterOptions {
  readonly dir: string;
  readonly allow: readonly string[];
  readonly workers: number;
  /** Default 256MiB. */
  readonly budget?: string;
  readonly extraArgs?: readonly string[];
}

export interface ClusterProxy {
  readonly url: string;
  readonly proc: ChildProcess;
  readonly cacheDir: string;
  /** Every JSON line of stdout so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Lines of stdout that were not JSON (the startup banner); a torn line would land here too. */
  readonly otherLines: string[];
  putNode(name: string, body: { bootIso: string; edits?: Edits }): Promise<Response>;
  imageUrl(name: string): string;
  metrics(): Promise<string>;
  /** pids of the workers started so far (from the primary's "worker started" lines). */
  workerPids(): number[];
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export async function startCluster(options: ClusterOptions): Promise<ClusterProxy> {
  const port = await freePort();
  const dataDir = join(options.dir, 'data');
  const cacheDir = join(options.dir, 'cache');
  await mkdir(dataDir, { recursive: true });
  const args = [
    CLI,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--data-dir',
    dataDir,
    '--cache-dir',
    cacheDir,
    '--admin-token',
    TOKEN,
    '--block-size',
    '1MiB',
    '--cache-budget',
    options.budget ?? '256MiB',
    '--workers',
    String(options.workers),
    '--shutdown-deadline',
    '2s',
    // Every simulated client is 127.0.0.1: the per-address cap would stand in for a crowd of BMCs.
    '--max-transfers-per-client',
    '100000',
    ...options.allow.flatMap((a) => ['--allow-upstream', a]),
    ...(options.extraArgs ?? []),
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const logs: Array<Record<string, unknown>> = [];
  const otherLines: string[] = [];
  let rest = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '') continue;
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        otherLines.push(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  // Every worker listening, so the connections are spread over all of them.
  await eventually(() => logs.filter((l) => l.msg === 'listening').length >= options.workers, `${options.workers} workers to listen`, 3000);
  return {
    url,
    proc,
    cacheDir,
    logs,
    otherLines,
    putNode: (name, body) =>
      fetch(`${url}/api/v1/nodes/${name}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }),
    imageUrl: (name) => `${url}/iso/${name}.iso`,
    metrics: async () => (await fetch(`${url}/metrics`)).text(),
    workerPids: () => logs.filter((l) => l.msg === 'worker started').map((l) => Number(l.pid)),
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      return exited;
    },
  };
}

/** The worker id that logged the transfer of request `reqId`. */
export function servedBy(logs: ReadonlyArray<Record<string, unknown>>, reqId: string): unknown {
  return logs.find((l) => l.reqId === reqId && l.worker !== undefined)?.worker;
}
