import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attach } from '../../src/redfish/controller.js';
import { createBmcSimulator } from '../../src/redfish/bmc-simulator.js';
import { selfSignedCert } from '../helpers/tls.js';
import { missingTools, scratchDir } from '../helpers/tools.js';

const missing = missingTools('openssl');
const IMAGE = 'https://proxy.example/iso/node-1.iso';

describe.skipIf(missing.length > 0)(`attach over TLS${missing.length > 0 ? ` (skipped: missing ${missing.join(', ')})` : ''}`, () => {
  let cert: Buffer;
  let bmc: { url: string; close(): Promise<void> };
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const scratch = await scratchDir('isoproxy-tls-');
    cleanup = scratch.cleanup;
    const made = await selfSignedCert(scratch.dir);
    cert = made.cert;
    const sim = createBmcSimulator({ fetch: 'none' });
    bmc = await sim.listen(0, '127.0.0.1', { key: made.key, cert });
  });
  afterAll(async () => {
    await bmc?.close();
    await cleanup?.();
  });

  const base = () => ({ bmc: bmc.url, username: 'admin', password: 'password', imageUrl: IMAGE, sleep: async () => {}, retry: { attempts: 1 } });

  it('refuses an unknown certificate by default', async () => {
    await expect(attach(base())).rejects.toMatchObject({
      code: 'REDFISH_UNREACHABLE',
      step: 'read service root',
      message: expect.stringMatching(/self[- ]signed/i),
    });
  });

  it('accepts it when asked to be insecure', async () => {
    const r = await attach({ ...base(), tls: { insecure: true } });
    expect(r.image).toBe(IMAGE);
  });

  it('verifies it against a CA bundle', async () => {
    const r = await attach({ ...base(), tls: { ca: cert } });
    expect(r.bmc).toBe(bmc.url);
  });
});
