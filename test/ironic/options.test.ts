// The Ironic source's options: precedence (flags, env, config file), validation with messages
// that name the setting, and credentials that never come from a flag and never print.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { IronicConfigError } from '../../src/ironic/errors.js';
import { isIronicConfigKey, parseIronicOptions, type Secret, takeIronicFlags } from '../../src/ironic/options.js';
import { DEFAULT_PROVISION_STATES } from '../../src/ironic/states.js';

const dir = mkdtempSync(join(tmpdir(), 'isoproxy-ironic-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('parseIronicOptions', () => {
  it('is off without an Ironic URL', () => {
    expect(parseIronicOptions({ env: {}, flags: {} })).toBeUndefined();
  });

  it('has documented defaults', () => {
    expect(parseIronicOptions({ flags: { 'ironic-url': 'http://ironic:6385/v1/' } })).toEqual({
      url: 'http://ironic:6385',
      auth: { type: 'noauth' },
      defaultAppend: 'nofb nomodeset vga=normal',
      cacheTtlMs: 5000,
      staleMaxMs: 600_000,
      timeoutMs: 5000,
      retryAfterS: 10,
      provisionStates: new Set(DEFAULT_PROVISION_STATES),
      insecure: false,
    });
  });

  it('takes flags over env over the config file', () => {
    const o = parseIronicOptions({
      flags: { 'ironic-cache-ttl': '2s' },
      env: { ISOPROXY_IRONIC_URL: 'http://env:6385', ISOPROXY_IRONIC_CACHE_TTL: '9s', ISOPROXY_IRONIC_STALE_MAX: '1m' },
      config: { ironicUrl: 'http://file:6385', 'ironic-stale-max': '2m', ironicRetryAfter: 3, ironicProvisionStates: ['active'] },
    })!;
    expect(o).toMatchObject({ url: 'http://env:6385', cacheTtlMs: 2000, staleMaxMs: 60_000, retryAfterS: 3, provisionStates: new Set(['active']) });
  });

  it('serves every state with "*", and an empty default append with ""', () => {
    const o = parseIronicOptions({
      flags: { 'ironic-url': 'http://i:6385', 'ironic-provision-states': '*' },
      env: { ISOPROXY_IRONIC_DEFAULT_APPEND: '' },
    })!;
    expect(o.provisionStates).toBeUndefined();
    expect(o.defaultAppend).toBe('');
  });

  it.each([
    [{ 'ironic-url': 'ftp://x' }, /must be http\(s\)/],
    [{ 'ironic-url': 'http://u:p@x' }, /must not carry credentials/],
    [{ 'ironic-url': 'http://x', 'ironic-auth': 'token' }, /noauth, http_basic or keystone/],
    [{ 'ironic-url': 'http://x', 'ironic-auth': 'http_basic' }, /needs --ironic-username/],
    [{ 'ironic-url': 'http://x', 'ironic-auth': 'http_basic', 'ironic-username': 'u' }, /needs --ironic-password-file or ISOPROXY_IRONIC_PASSWORD/],
    [{ 'ironic-url': 'http://x', 'ironic-auth': 'keystone' }, /needs --ironic-keystone-url/],
    [{ 'ironic-url': 'http://x', 'ironic-cache-ttl': 'soon' }, /--ironic-cache-ttl must be a duration/],
    [{ 'ironic-url': 'http://x', 'ironic-provision-states': ' , ' }, /is empty/],
    [{ 'ironic-url': 'http://x', 'ironic-default-base': 'base.iso' }, /http\(s\):\/\/ or file:\/\//],
    [{ 'ironic-url': 'http://x', 'ironic-password': 'pw' }, /not accepted/],
  ])('refuses %j', (flags, message) => {
    expect(() => parseIronicOptions({ flags })).toThrow(IronicConfigError);
    expect(() => parseIronicOptions({ flags })).toThrow(message);
  });

  it('reads secrets from files or the environment, and never prints them', () => {
    const basic = parseIronicOptions({
      flags: {
        'ironic-url': 'http://x',
        'ironic-auth': 'http_basic',
        'ironic-username': 'u',
        'ironic-password-file': file('pw', 'file-secret-1\nignored\n'),
      },
    })!;
    expect(basic.auth).toMatchObject({ type: 'http_basic', username: 'u' });
    const pw = (basic.auth as { password: Secret }).password;
    expect(pw.reveal()).toBe('file-secret-1');
    expect(JSON.stringify(basic)).not.toContain('file-secret-1');
    expect(inspect(basic, { depth: 5 })).not.toContain('file-secret-1');
    expect(`${pw}`).toBe('[redacted]');
    const ks = parseIronicOptions({
      flags: { 'ironic-url': 'http://x', 'ironic-auth': 'keystone', 'ironic-keystone-url': 'http://k:5000/v3', 'ironic-app-cred-id': 'abc' },
      env: { ISOPROXY_IRONIC_APP_CRED_SECRET: 'env-secret-2' },
    })!;
    expect((ks.auth as { applicationCredentialSecret: Secret }).applicationCredentialSecret.reveal()).toBe('env-secret-2');
    expect(JSON.stringify(ks)).not.toContain('env-secret-2');
  });

  it('refuses a secret in the config file and an empty password file', () => {
    expect(() => parseIronicOptions({ config: { ironicUrl: 'http://x', ironicPassword: 'pw' } })).toThrow(/not accepted/);
    expect(() =>
      parseIronicOptions({
        flags: { 'ironic-url': 'http://x', 'ironic-auth': 'http_basic', 'ironic-username': 'u', 'ironic-password-file': file('empty', '\n') },
      }),
    ).toThrow(/is empty/);
  });
});

describe('takeIronicFlags', () => {
  it('takes --ironic-* flags out of argv and leaves the rest', () => {
    expect(
      takeIronicFlags([
        '--port',
        '80',
        '--ironic-url',
        'http://i:6385',
        '--ironic-insecure',
        '--ironic-cache-ttl=3s',
        '--allow-upstream',
        'http://a/',
      ]),
    ).toEqual({
      flags: { 'ironic-url': 'http://i:6385', 'ironic-insecure': true, 'ironic-cache-ttl': '3s' },
      rest: ['--port', '80', '--allow-upstream', 'http://a/'],
    });
  });
  it('refuses a secret as a flag, pointing at the file and env alternatives', () => {
    expect(() => takeIronicFlags(['--ironic-password', 'pw'])).toThrow(/--ironic-password-file or the ISOPROXY_IRONIC_PASSWORD/);
    expect(() => takeIronicFlags(['--ironic-app-cred-secret=pw'])).toThrow(/ISOPROXY_IRONIC_APP_CRED_SECRET/);
    expect(() => takeIronicFlags(['--ironic-frob', 'x'])).toThrow(/unknown option --ironic-frob/);
  });
  it('knows its config keys, so serve can leave them to parseIronicOptions', () => {
    expect(isIronicConfigKey('ironicUrl')).toBe(true);
    expect(isIronicConfigKey('ironic-default-base')).toBe(true);
    expect(isIronicConfigKey('port')).toBe(false);
  });
});
