// The `isoproxy` command as a user meets it: help, unknown commands, and one clear line (exit 1)
// for an expected failure instead of a stack trace.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const exec = promisify(execFile);
async function isoproxy(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['bin/isoproxy.js', ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('isoproxy command', () => {
  it('lists its commands with --help', async () => {
    const r = await isoproxy('--help');
    expect(r.code).toBe(0);
    for (const c of ['serve', 'demo', 'inspect', 'preview', 'materialize', 'attach', 'detach', 'bmc-sim']) expect(r.stdout).toContain(c);
  });
  it('refuses an unknown command with exit 2', async () => {
    const r = await isoproxy('frobnicate');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
  });
  it('reports a port already taken in one line with exit 1, in one process and in a cluster', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    const data = await mkdtemp(join(tmpdir(), 'isoproxy-cli-'));
    try {
      for (const workers of ['1', '2']) {
        const r = await isoproxy('serve', '--port', String(port), '--workers', workers, '--data-dir', data, '--log-level', 'silent');
        expect(r.code).toBe(1);
        expect(r.stderr.trim()).toBe(`isoproxy serve: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
      }
    } finally {
      taken.close();
      await rm(data, { recursive: true, force: true });
    }
  });
  it('reports a bad edit in one line with exit 1', async () => {
    const r = await isoproxy('preview', 'package.json', '--append', 'bad"quote');
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'isoproxy preview: invalid parameter "bad\\"quote": appended parameter contains a double quote at index 3; the kernel treats it as quoting, which edits do not support',
    );
  });
  it('reports a file that is not an ISO in one line with exit 1', async () => {
    const r = await isoproxy('materialize', 'package.json', '/tmp/isoproxy-never-written.iso', '--append', 'a=1');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^isoproxy materialize: .*at byte \d+/);
  });
});
