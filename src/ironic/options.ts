// Options of the Ironic node source, from flags, ISOPROXY_IRONIC_* environment variables and the
// serve config file (camelCase keys or flag names), in that order of precedence, as in
// src/config.ts. One table (IRONIC_OPTIONS) drives parsing and the help text.
//
// Credentials never come from flags or the config file: a password or application-credential
// secret is read from a file named by a flag/env/config key, or from one environment variable.
// They are held in a Secret, which prints, logs and serializes as "[redacted]".

import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { IronicConfigError } from './errors.js';
import { IRONIC_DEFAULT_KERNEL_APPEND_PARAMS } from './kernel-params.js';
import { DEFAULT_PROVISION_STATES } from './states.js';
import { IRONIC_OPTIONS, type OptionDef } from './option-table.js';

export { IRONIC_OPTIONS };

/** A credential: only `reveal()` gives the value; logging or JSON shows "[redacted]". */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return '[redacted]';
  }
}

export type IronicAuth =
  | { readonly type: 'noauth' }
  | { readonly type: 'http_basic'; readonly username: string; readonly password: Secret }
  | { readonly type: 'keystone'; readonly authUrl: string; readonly applicationCredentialId: string; readonly applicationCredentialSecret: Secret };

export interface IronicOptions {
  /** Ironic's API endpoint, e.g. http://ironic.example:6385 (no /v1). */
  readonly url: string;
  readonly auth: IronicAuth;
  /** Base image for nodes without instance_info/isoproxy_base_iso. */
  readonly defaultBase?: string;
  /** Stands for Ironic's [redfish]kernel_append_params: used and substituted for %default%. */
  readonly defaultAppend: string;
  /** How long a node's data is used before Ironic is asked again. */
  readonly cacheTtlMs: number;
  /** How long a known node keeps its last good spec while Ironic cannot be asked. */
  readonly staleMaxMs: number;
  /** Per request to Ironic or Keystone. */
  readonly timeoutMs: number;
  /** Retry-After of the 503 for a node Ironic cannot be asked about. */
  readonly retryAfterS: number;
  /** Provision states a node is served in; undefined serves every state. */
  readonly provisionStates: ReadonlySet<string> | undefined;
  /** PEM bundle trusted for Ironic and Keystone over TLS. */
  readonly ca?: Buffer;
  readonly insecure: boolean;
}

const SECRET_NAMES = ['ironic-password', 'ironicPassword', 'ironic-app-cred-secret', 'ironicAppCredSecret'];
export const IRONIC_PASSWORD_ENV = 'ISOPROXY_IRONIC_PASSWORD';
export const IRONIC_APP_CRED_SECRET_ENV = 'ISOPROXY_IRONIC_APP_CRED_SECRET';

/** True when `key` (camelCase or flag name, as in the serve config file) is an Ironic option. */
export function isIronicConfigKey(key: string): boolean {
  return IRONIC_OPTIONS.some((o) => o.key === key || o.flag.slice(2) === key) || SECRET_NAMES.includes(key);
}

/** node:util parseArgs options for every Ironic flag (values are strings; booleans too). */
export const IRONIC_PARSE_ARGS_OPTIONS: Record<string, { type: 'string' | 'boolean' }> = Object.fromEntries(
  IRONIC_OPTIONS.map((o) => [o.flag.slice(2), { type: o.kind === 'boolean' ? 'boolean' : 'string' }]),
);

/**
 * Takes the --ironic-* flags out of argv (`--flag value`, `--flag=value`, bare boolean flags),
 * leaving the rest for the serve config parser. Throws IronicConfigError for an unknown
 * --ironic-* flag, a missing value, and a secret given as a flag.
 */
export function takeIronicFlags(argv: readonly string[]): { flags: Record<string, string | boolean>; rest: string[] } {
  const flags: Record<string, string | boolean> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--ironic-')) {
      rest.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = (eq > 0 ? arg.slice(0, eq) : arg).slice(2);
    if (SECRET_NAMES.includes(name))
      throw new IronicConfigError(
        `--${name} is not accepted: a secret on the command line shows in ps and shell history; use --${name}-file or the ${name === 'ironic-password' ? IRONIC_PASSWORD_ENV : IRONIC_APP_CRED_SECRET_ENV} environment variable`,
      );
    const def = IRONIC_OPTIONS.find((o) => o.flag === `--${name}`);
    if (!def) throw new IronicConfigError(`unknown option --${name}`);
    if (def.kind === 'boolean') {
      flags[name] = eq > 0 ? arg.slice(eq + 1) : true;
      continue;
    }
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new IronicConfigError(`--${name} needs a value`);
    flags[name] = value;
  }
  return { flags, rest };
}

export interface IronicOptionSources {
  /** Flags by name without dashes ("ironic-url"), e.g. from takeIronicFlags or parseArgs. */
  readonly flags?: Readonly<Record<string, unknown>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The serve config file's object (other keys are ignored here). */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Where `config` came from, for messages. */
  readonly configName?: string;
}

function parseDurationMs(text: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const scale = m[2] === 'ms' || m[2] === undefined ? 1 : m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 3_600_000;
  // A bare number is milliseconds, as in src/config.ts.
  return Math.round(Number(m[1]) * scale);
}

function readFirstLine(path: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new IronicConfigError(`${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const line = (text.split(/\r?\n/)[0] ?? '').trim();
  if (line === '') throw new IronicConfigError(`${what} ${path} is empty`);
  return line;
}

/**
 * The Ironic source's options, or undefined when no Ironic URL is configured (the source is off).
 * Throws IronicConfigError naming the bad setting; never puts a secret in a message.
 */
export function parseIronicOptions(sources: IronicOptionSources): IronicOptions | undefined {
  const env = sources.env ?? {};
  const flags = sources.flags ?? {};
  const config = sources.config ?? {};
  const configName = sources.configName ?? 'config file';
  for (const name of SECRET_NAMES) {
    if (name in flags) throw new IronicConfigError(`--${name} is not accepted: give secrets in a file or the environment`);
    if (name in config) throw new IronicConfigError(`${configName}: ${name} is not accepted: give secrets in a file (…-file) or the environment`);
  }

  const raw = (def: OptionDef): { value: unknown; source: string } | undefined => {
    const name = def.flag.slice(2);
    if (flags[name] !== undefined) return { value: flags[name], source: `--${name}` };
    const e = env[def.env];
    if (e !== undefined && e !== '') return { value: e, source: `env ${def.env}` };
    // ISOPROXY_IRONIC_DEFAULT_APPEND="" means "no default": an empty value is a value here.
    if (def.key === 'ironicDefaultAppend' && e === '') return { value: '', source: `env ${def.env}` };
    if (config[def.key] !== undefined) return { value: config[def.key], source: `${configName}: ${def.key}` };
    if (config[name] !== undefined) return { value: config[name], source: `${configName}: ${name}` };
    return undefined;
  };
  const get = <T>(key: string, fallback: T, convert: (v: unknown, src: string) => T): T => {
    const def = IRONIC_OPTIONS.find((o) => o.key === key)!;
    const r = raw(def);
    return r === undefined ? fallback : convert(r.value, r.source);
  };
  const str = (v: unknown, src: string): string => {
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string') throw new IronicConfigError(`${src} must be a string`);
    return v;
  };
  const url = (v: unknown, src: string): string => {
    const s = str(v, src).trim();
    let u: URL;
    try {
      u = new URL(s);
    } catch {
      throw new IronicConfigError(`${src} is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new IronicConfigError(`${src} must be http(s), not ${u.protocol}`);
    if (u.username || u.password) throw new IronicConfigError(`${src} must not carry credentials in the URL`);
    if (u.search || u.hash) throw new IronicConfigError(`${src} must not have a query or fragment`);
    return s.replace(/\/+$/, '');
  };
  const duration =
    (min: number, max: number) =>
    (v: unknown, src: string): number => {
      const ms = parseDurationMs(str(v, src));
      if (ms === undefined || ms < min || ms > max)
        throw new IronicConfigError(`${src} must be a duration from ${min} ms to ${max / 1000} s, such as 5s (got ${JSON.stringify(v)})`);
      return ms;
    };

  const ironicUrl = get<string | undefined>('ironicUrl', undefined, url);
  if (ironicUrl === undefined) return undefined;
  // The API root, not the versioned endpoint: we add /v1 ourselves.
  const base = ironicUrl.replace(/\/v1$/, '');

  const authType = get('ironicAuth', 'noauth', (v, src) => {
    const s = str(v, src);
    if (s !== 'noauth' && s !== 'http_basic' && s !== 'keystone')
      throw new IronicConfigError(`${src} must be noauth, http_basic or keystone (got ${JSON.stringify(s)})`);
    return s;
  });
  const secret = (fileKey: string, envName: string, what: string): Secret | undefined => {
    const path = get<string | undefined>(fileKey, undefined, str);
    if (path !== undefined) return new Secret(readFirstLine(path, what));
    const value = env[envName];
    return value !== undefined && value !== '' ? new Secret(value) : undefined;
  };
  let auth: IronicAuth;
  if (authType === 'http_basic') {
    const username = get<string | undefined>('ironicUsername', undefined, str);
    if (!username) throw new IronicConfigError('--ironic-auth http_basic needs --ironic-username (or ISOPROXY_IRONIC_USERNAME)');
    if (username.includes(':')) throw new IronicConfigError('--ironic-username cannot contain ":" (HTTP Basic separates user and password with it)');
    const password = secret('ironicPasswordFile', IRONIC_PASSWORD_ENV, 'ironic password file');
    if (!password) throw new IronicConfigError(`--ironic-auth http_basic needs --ironic-password-file or ${IRONIC_PASSWORD_ENV}`);
    auth = { type: 'http_basic', username, password };
  } else if (authType === 'keystone') {
    const authUrl = get<string | undefined>('ironicKeystoneUrl', undefined, url);
    if (!authUrl) throw new IronicConfigError('--ironic-auth keystone needs --ironic-keystone-url (Keystone v3 auth URL)');
    const applicationCredentialId = get<string | undefined>('ironicAppCredId', undefined, str);
    if (!applicationCredentialId) throw new IronicConfigError('--ironic-auth keystone needs --ironic-app-cred-id');
    const s = secret('ironicAppCredSecretFile', IRONIC_APP_CRED_SECRET_ENV, 'application credential secret file');
    if (!s) throw new IronicConfigError(`--ironic-auth keystone needs --ironic-app-cred-secret-file or ${IRONIC_APP_CRED_SECRET_ENV}`);
    auth = { type: 'keystone', authUrl, applicationCredentialId, applicationCredentialSecret: s };
  } else {
    auth = { type: 'noauth' };
  }

  const caPath = get<string | undefined>('ironicCa', undefined, str);
  let ca: Buffer | undefined;
  if (caPath !== undefined) {
    try {
      ca = readFileSync(caPath);
    } catch (err) {
      throw new IronicConfigError(`--ironic-ca ${caPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  const insecure = get('ironicInsecure', false, (v, src) => {
    if (typeof v === 'boolean') return v;
    const s = str(v, src).toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(s)) return true;
    if (['0', 'false', 'no', 'off'].includes(s)) return false;
    throw new IronicConfigError(`${src} must be true or false`);
  });
  if (insecure && ca) throw new IronicConfigError('give either --ironic-insecure or --ironic-ca, not both');

  const defaultBase = get<string | undefined>('ironicDefaultBase', undefined, (v, src) => {
    const s = str(v, src).trim();
    // file:// bases are allowed (the allowlist decides), as for the admin API.
    if (!/^(https?|file):\/\//.test(s)) throw new IronicConfigError(`${src} must be an http(s):// or file:// URL`);
    return s;
  });
  const defaultAppend = get('ironicDefaultAppend', IRONIC_DEFAULT_KERNEL_APPEND_PARAMS, str);
  const provisionStates = get<ReadonlySet<string> | undefined>('ironicProvisionStates', new Set(DEFAULT_PROVISION_STATES), (v, src) => {
    const items = Array.isArray(v) ? v : typeof v === 'string' ? v.split(',') : undefined;
    if (!items || items.some((s) => typeof s !== 'string')) throw new IronicConfigError(`${src} must be a list of provision states`);
    const states = (items as string[]).map((s) => s.trim()).filter((s) => s !== '');
    if (states.includes('*')) return undefined;
    if (states.length === 0) throw new IronicConfigError(`${src} is empty; give "*" to serve nodes in any state`);
    return new Set(states);
  });

  return {
    url: base,
    auth,
    ...(defaultBase !== undefined ? { defaultBase } : {}),
    defaultAppend,
    cacheTtlMs: get('ironicCacheTtl', 5000, duration(0, 3_600_000)),
    staleMaxMs: get('ironicStaleMax', 600_000, duration(0, 86_400_000)),
    timeoutMs: get('ironicTimeout', 5000, duration(100, 120_000)),
    retryAfterS: get('ironicRetryAfter', 10, (v, src) => {
      const s = str(v, src);
      const n = /^[0-9]{1,5}$/.test(s) ? Number(s) : NaN;
      if (!(n >= 1 && n <= 3600)) throw new IronicConfigError(`${src} must be whole seconds from 1 to 3600`);
      return n;
    }),
    provisionStates,
    ...(ca !== undefined ? { ca } : {}),
    insecure,
  };
}

/** Help rows for `serve --help` and `ironic check --help`. */
export function ironicOptionsHelp(): string {
  const rows = IRONIC_OPTIONS.map(
    (o) => [`${o.flag}${o.kind === 'boolean' ? '' : ' <value>'}`, o.env, `${o.help} (default: ${o.defaultText})`] as const,
  );
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return [
    ...rows.map(([f, e, h]) => `  ${f.padEnd(w0)}  ${e.padEnd(w1)}  ${h}`),
    `  Secrets: ${IRONIC_PASSWORD_ENV} and ${IRONIC_APP_CRED_SECRET_ENV} may hold the value itself; flags never do.`,
  ].join('\n');
}
