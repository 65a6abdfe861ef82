// The Ironic source's credentials against real services: Ironic 21.4 with http_basic (an htpasswd
// file), and Ironic 21.4 behind Debian's Keystone (sqlite, `keystone-manage bootstrap`, an
// application credential). Credentials come from a file or the environment, a refused credential
// is a logged configuration error that maps to 503, a Keystone token is issued once and reused,
// renewed when Keystone revokes it, and no secret ever reaches a log line or an error message.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIronicClient } from '../../src/ironic/client.js';
import { IronicAuthError, IronicUnavailableError } from '../../src/ironic/errors.js';
import { createIronicAgent } from '../../src/ironic/http.js';
import { createKeystoneTokenProvider } from '../../src/ironic/keystone.js';
import { parseIronicOptions, type IronicOptionSources } from '../../src/ironic/options.js';
import { createIronicSource, type IronicSource } from '../../src/ironic/source.js';
import { hasTool, scratchDir } from '../helpers/tools.js';
import { startIronic, startKeystone, type Ironic, type Keystone } from './harness.js';
import { logSink, type LogSink } from './log-sink.js';
import { ironicMissing } from './python-ironic.js';

const missing = ironicMissing() ?? (hasTool('keystone-manage') ? undefined : 'keystone is not installed (apt-get install keystone)');
const BASE = 'http://images.test/isos/base.iso';
const allowAll = (): void => {};
const BMC = { url: 'http://127.0.0.1:9', systemId: '1', username: 'admin', password: 'password' };

describe.skipIf(missing !== undefined)(
  `Ironic source credentials against Ironic 21.4 with http_basic and with Keystone${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    let dir: string;
    let cleanup: () => Promise<void>;
    let keystone: Keystone;
    let basic: Ironic;
    let behindKeystone: Ironic;
    const sources: IronicSource[] = [];
    const PASSWORD = 'basic-pw-Zq81x';

    function source(input: IronicOptionSources, sink: LogSink): IronicSource {
      // Generous timeouts: behind Keystone every Ironic call validates a token with a
      // single-threaded Keystone on a loaded CI machine.
      const s = createIronicSource(
        { ...parseIronicOptions({ ...input, flags: { 'ironic-timeout': '60s', ...input.flags } })!, checkUpstreamAllowed: allowAll },
        sink.logger,
      );
      sources.push(s);
      return s;
    }

    beforeAll(async () => {
      ({ dir, cleanup } = await scratchDir('isoproxy-ironic-auth-'));
      const keystoneUp = startKeystone(dir);
      basic = await startIronic(dir, { type: 'http_basic', username: 'isoproxy', password: PASSWORD });
      keystone = await keystoneUp;
      behindKeystone = await startIronic(dir, { type: 'keystone', keystone });
      for (const ironic of [basic, behindKeystone]) {
        await ironic.enroll('auth-1', BMC);
        await ironic.setInfo('auth-1', 'instance_info', { isoproxy_base_iso: BASE, kernel_append_params: 'console=ttyS0' });
      }
    }, 600_000);

    afterAll(async () => {
      for (const s of sources) await s.close();
      await basic?.stop();
      await behindKeystone?.stop();
      await keystone?.stop();
      await cleanup?.();
    });

    it('http_basic: reads the password from a file and finds the node', async () => {
      const file = join(dir, 'ironic-password');
      await writeFile(file, `${PASSWORD}\n`);
      const sink = logSink();
      const s = source(
        {
          flags: {
            'ironic-url': basic.url,
            'ironic-auth': 'http_basic',
            'ironic-username': 'isoproxy',
            'ironic-password-file': file,
            'ironic-provision-states': '*',
          },
        },
        sink,
      );
      expect((await s.lookup('auth-1'))?.edits.append).toEqual(['console=ttyS0']);
      expect(sink.text()).not.toContain(PASSWORD);
    });

    it('http_basic: a wrong password (from the environment) is a logged credentials error and a 503, never echoed', async () => {
      const sink = logSink();
      const s = source(
        {
          flags: { 'ironic-url': basic.url, 'ironic-auth': 'http_basic', 'ironic-username': 'isoproxy' },
          env: { ISOPROXY_IRONIC_PASSWORD: 'wrong-pw-Kx77' },
        },
        sink,
      );
      const err = (await s.lookup('auth-1').catch((e: unknown) => e)) as IronicUnavailableError;
      expect(err).toBeInstanceOf(IronicUnavailableError);
      expect(err.cause).toBeInstanceOf(IronicAuthError);
      expect((err.cause as IronicAuthError).status).toBe(401);
      expect(sink.records).toContainEqual(expect.objectContaining({ level: 50, msg: "Ironic refused isoproxy's credentials" }));
      expect(sink.text()).not.toContain('wrong-pw-Kx77');
      expect(err.message).not.toContain('wrong-pw-Kx77');
    });

    it('keystone: one application-credential token serves many lookups', async () => {
      const cred = await keystone.createApplicationCredential('isoproxy-lookups');
      const sink = logSink();
      const s = source(
        {
          flags: {
            'ironic-url': behindKeystone.url,
            'ironic-auth': 'keystone',
            'ironic-keystone-url': keystone.authUrl,
            'ironic-app-cred-id': cred.id,
            'ironic-cache-ttl': '0',
            'ironic-provision-states': '*',
          },
          env: { ISOPROXY_IRONIC_APP_CRED_SECRET: cred.secret },
        },
        sink,
      );
      for (let i = 0; i < 10; i++) expect((await s.lookup('auth-1'))?.bootIso).toBe(BASE);
      expect(await s.lookup('no-such-node')).toBeUndefined();
      expect(s.stats.ironicRequests).toBe(11);
      expect(s.stats.tokensIssued).toBe(1);
      expect(sink.text()).not.toContain(cred.secret);
    }, 300_000);

    it('keystone: a token Keystone revoked is renewed once, transparently', async () => {
      const cred = await keystone.createApplicationCredential('isoproxy-revoke');
      const options = parseIronicOptions({
        flags: {
          'ironic-url': behindKeystone.url,
          'ironic-auth': 'keystone',
          'ironic-keystone-url': keystone.authUrl,
          'ironic-app-cred-id': cred.id,
        },
        env: { ISOPROXY_IRONIC_APP_CRED_SECRET: cred.secret },
      })!;
      const dispatcher = createIronicAgent({}, 60_000);
      try {
        const tokens = createKeystoneTokenProvider(
          { authUrl: keystone.authUrl, applicationCredentialId: cred.id, applicationCredentialSecret: cred.secret },
          { dispatcher, timeoutMs: 60_000 },
        );
        const client = createIronicClient({ url: options.url, auth: options.auth, timeoutMs: 60_000, dispatcher, tokens });
        expect((await client.getNode('auth-1')).found).toBe(true);
        await keystone.revokeToken(await tokens.token());
        expect((await client.getNode('auth-1')).found).toBe(true);
        expect(tokens.issued).toBe(2);
        expect(client.requests).toBe(3);
      } finally {
        await dispatcher.close();
      }
    }, 300_000);

    it('keystone: renews a token ahead of its expiry while still serving the old one', async () => {
      const cred = await keystone.createApplicationCredential('isoproxy-expiry');
      const dispatcher = createIronicAgent({}, 60_000);
      let clock = Date.now();
      try {
        const tokens = createKeystoneTokenProvider(
          { authUrl: keystone.authUrl, applicationCredentialId: cred.id, applicationCredentialSecret: cred.secret },
          { dispatcher, timeoutMs: 60_000, now: () => clock },
        );
        const first = await tokens.token();
        clock += 3_600_000 - 200_000; // inside the renewal margin (a tenth of the hour), not expired
        expect(await tokens.token()).toBe(first);
        for (let i = 0; i < 40 && tokens.issued < 2; i++) await new Promise((r) => setTimeout(r, 100));
        expect(tokens.issued).toBe(2);
        const second = await tokens.token();
        expect(second).not.toBe(first);
        clock += 7_200_000; // past the second token's expiry: the next caller waits for a new one
        expect(await tokens.token()).not.toBe(second);
        expect(tokens.issued).toBe(3);
      } finally {
        await dispatcher.close();
      }
    }, 300_000);

    it('keystone: a wrong application-credential secret is a credentials error, not echoed', async () => {
      const cred = await keystone.createApplicationCredential('isoproxy-wrong');
      const sink = logSink();
      const s = source(
        {
          flags: {
            'ironic-url': behindKeystone.url,
            'ironic-auth': 'keystone',
            'ironic-keystone-url': keystone.authUrl,
            'ironic-app-cred-id': cred.id,
          },
          env: { ISOPROXY_IRONIC_APP_CRED_SECRET: 'not-the-secret-Pp0' },
        },
        sink,
      );
      const err = (await s.lookup('auth-1').catch((e: unknown) => e)) as IronicUnavailableError;
      expect(err).toBeInstanceOf(IronicUnavailableError);
      expect(err.cause).toBeInstanceOf(IronicAuthError);
      expect(sink.text()).not.toContain('not-the-secret-Pp0');
      expect(sink.text()).not.toContain(cred.secret);
    }, 300_000);
  },
);
