// The QEMU runner on its own: a machine with nothing bootable is recognised from the serial log
// and stopped at once, rather than left to its hard timeout.

import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/tools.js';
import { bootOnce, cmdlineFromLog, missingQemuSupport, plainLog } from './qemu.js';

describe('cmdlineFromLog', () => {
  it('takes the printed command line only once its end marker follows', () => {
    expect(cmdlineFromLog('noise\r\nISOPROXY-CMDLINE: a=1 b\r\n')).toBeUndefined();
    expect(cmdlineFromLog('noise\r\nISOPROXY-CMDLINE: a=1 b\r\nISOPROXY-DONE\r\n')).toBe('a=1 b');
  });
});

describe('plainLog', () => {
  it('removes the cursor moves firmware consoles put between the characters of a word', () => {
    expect(plainLog('\x1bc\x1b[?7lgr\x1b[01;01Hub>\x1b[0m\r\n')).toBe('grub>\n');
  });
});

const missing = missingQemuSupport();

describe.skipIf(missing.length > 0)('bootOnce', () => {
  if (missing.length > 0) console.warn(`QEMU runner tests skipped: missing ${missing.join(', ')}`);
  let scratch: { dir: string; cleanup: () => Promise<void> };
  let blank: string;
  beforeAll(async () => {
    scratch = await scratchDir('isoproxy-qemu-test-');
    blank = join(scratch.dir, 'blank.iso');
    await writeFile(blank, new Uint8Array(4 * 1024 * 1024));
  });
  afterAll(async () => scratch?.cleanup());

  it('stops at once when the curl driver refuses a server that does not announce Accept-Ranges', async () => {
    // The proxy must answer HEAD with Accept-Ranges: bytes; QEMU's curl driver checks it first.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': String(4 * 1024 * 1024) });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await bootOnce({ firmware: 'bios', attach: 'cd', isoUrl: `http://127.0.0.1:${port}/x.iso`, timeoutMs: 60_000 });
      expect(result.outcome).toBe('exited');
      expect(result.stderr).toMatch(/range/i);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  for (const firmware of ['bios', 'uefi'] as const) {
    it.concurrent(`reports a blank image under ${firmware} as not bootable instead of waiting for the timeout`, async () => {
      const result = await bootOnce({ firmware, attach: 'cd', isoPath: blank, timeoutMs: 240_000 });
      expect(result.outcome, result.log.slice(-2000) + result.stderr).toBe('not-bootable');
      expect(result.cmdline).toBeUndefined();
    });
  }
});
