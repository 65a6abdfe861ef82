// `npm start`'s demo as a new user meets it: it writes the demo ISO, serves the demo node, and a
// simulated BMC attached by the Redfish controller downloads the image and finds the edits.

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoDataDir } from '../../src/commands/demo.js';
import { scratchDir } from '../helpers/tools.js';

describe('isoproxy demo', () => {
  let scratch: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-demo-cmd-');
  });
  afterAll(async () => {
    await scratch?.cleanup();
  });

  it('serves the demo node and a simulated BMC verifies the image it downloads', async () => {
    const child = spawn(process.execPath, ['bin/isoproxy.js', 'demo', '--port', '0', '--log-level', 'warn'], {
      env: { ...process.env, ISOPROXY_DATA_DIR: scratch.dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`demo did not finish its BMC check:\n${out}`)), 60_000);
        const check = setInterval(() => {
          // The demo's last BMC line: verified, not verified, or the step that failed.
          if (/found the node's parameters|could not verify|simulated BMC: /.test(out)) {
            clearInterval(check);
            clearTimeout(timer);
            resolve();
          }
        }, 100);
        child.once('exit', (code) => {
          clearInterval(check);
          clearTimeout(timer);
          reject(new Error(`demo exited ${code}:\n${out}`));
        });
      });
      expect(out).toMatch(/found the node's parameters in the image/);
      const url = /curl -o demo-node\.iso (\S+)/.exec(out)![1]!;
      const res = await fetch(url);
      expect(res.status).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(Number(res.headers.get('content-length')));
      expect(body.toString('latin1')).toContain('ipa-api-url=http://192.0.2.10:6385');
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('keeps its ISO and store where --data-dir says, else ISOPROXY_DATA_DIR, else ./.data', () => {
    expect(demoDataDir(['--port', '0', '--data-dir', '/srv/a'], { ISOPROXY_DATA_DIR: '/srv/env' })).toBe('/srv/a');
    expect(demoDataDir(['--data-dir=/srv/b', '--data-dir', '/srv/c'], {})).toBe('/srv/c');
    expect(demoDataDir(['--port', '0'], { ISOPROXY_DATA_DIR: '/srv/env' })).toBe('/srv/env');
    expect(demoDataDir([], {})).toBe(resolve('.data'));
  });
});
