// `--workers 1` is today's single process: no cluster, no child processes, one pid answering.

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, scratchDir } from '../helpers/tools.js';
import { eventually } from '../service/harness.js';

let scratch: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  scratch = await scratchDir('isoproxy-single-');
});
afterAll(async () => scratch?.cleanup());

it('serves from one process with no children at --workers 1', async () => {
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [
      join(import.meta.dirname, '../../dist/src/cli.js'),
      'serve',
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      '--data-dir',
      join(scratch.dir, 'data'),
      '--workers',
      '1',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  try {
    await eventually(
      () =>
        fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.ok,
          () => false,
        ),
      'isoproxy to listen',
      1500,
    );
    const children = (await readFile(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8')).trim();
    expect(children).toBe('');
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).not.toMatch(/isoproxy_cluster_workers/);
  } finally {
    proc.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
}, 60_000);
