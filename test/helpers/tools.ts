// Helpers for tests that use real tools (xorriso, mtools, QEMU, curl, ...): find them, run them,
// and make scratch directories that are removed afterwards.

import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);
const found = new Map<string, boolean>();

/** True when `name` is an executable on the PATH (or an absolute path that exists). */
export function hasTool(name: string): boolean {
  let ok = found.get(name);
  if (ok === undefined) {
    ok = spawnSync('sh', ['-c', `command -v "$1" >/dev/null 2>&1`, 'sh', name]).status === 0;
    found.set(name, ok);
  }
  return ok;
}

/** The tools of `names` that are missing, for a skip message. */
export function missingTools(...names: string[]): string[] {
  return names.filter((n) => !hasTool(n));
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command, rejecting with its stderr when it exits non-zero. */
export async function run(
  cmd: string,
  args: readonly string[],
  options: { cwd?: string; input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args as string[], {
      cwd: options.cwd,
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 256 * 1024 * 1024,
      env: options.env ?? process.env,
      encoding: 'utf8',
    });
    return { stdout, stderr };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** A fresh scratch directory; call the returned cleanup in afterAll. */
export async function scratchDir(prefix = 'isoproxy-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (and nothing listens on now). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
