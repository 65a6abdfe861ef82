// Configuration of `isoproxy serve`: command-line flags, ISOPROXY_* environment variables and an
// optional JSON config file (--config / ISOPROXY_CONFIG), in that order of precedence, over the
// defaults. One table (OPTIONS) drives parsing, validation and the --help text, so the three can
// never disagree.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { IsoproxyError } from './errors.js';
import { LOG_FORMATS, type LogFormat } from './log-pretty.js';
import { IronicConfigError } from './ironic/errors.js';
import { ironicOptionsHelp, isIronicConfigKey, parseIronicOptions, takeIronicFlags, type IronicOptions } from './ironic/options.js';
import { OPTIONS, type Key, type OptionDef } from './config-options.js';

export interface Config {
  readonly host: string;
  readonly port: number;
  /** Base URL BMCs use to reach us (for node URLs), e.g. http://10.0.0.5:8080 */
  readonly publicUrl: string;
  readonly dataDir: string;
  readonly cacheDir: string;
  readonly cacheBudgetBytes: number;
  readonly blockSizeBytes: number;
  readonly adminToken?: string;
  /** URL prefixes a node's bootIso may start with (http/https). */
  readonly allowedUpstreams: readonly string[];
  /** Directories file:// URLs may point into. */
  readonly allowedDirs: readonly string[];
  /** Serving processes: 1 serves in this process; more run a cluster (src/cluster) over one cache. */
  readonly workers: number;
  /** Patch-set worker threads per serving process. */
  readonly remasterThreads: number;
  readonly logLevel: string;
  readonly shutdownDeadlineMs: number;
  /** Where node specs live: unset (the file store in dataDir), file:///dir, or redis://host:port/db. */
  readonly store?: string;
  /** Caps on a node's injected files. */
  readonly maxFilesPerNode: number;
  readonly maxFileBytesPerNode: number;
  /** The Ironic node source, served under /ironic/ (absent unless --ironic-url is set). */
  readonly ironic?: IronicOptions;
  /** json, pretty, or auto (pretty on a terminal, JSON otherwise). */
  readonly logFormat: LogFormat;
  /** A second, read-only token for the status page /ui (the admin token works there too). */
  readonly viewerToken?: string;
  /** The status page shows a node stalled when an open transfer moved no byte for this long. */
  readonly stallAfterMs?: number;
  /** A client must send its request headers within this long (slowloris); also the whole-request budget. */
  readonly headersTimeoutMs: number;
  /** Connections open at once; more are refused by the kernel's backlog. */
  readonly maxConnections: number;
  /** Concurrent image transfers one client address may hold; more answer 429 TOO_MANY_TRANSFERS. */
  readonly maxTransfersPerClient: number;
  /** Zero-copy sends of cached blocks (src/native/sendfile.ts): when built, always, or never. */
  readonly sendfile: SendfileMode;
  /** Image requests answered on the raw connection (src/http/direct); default on. */
  readonly directHttp?: boolean;
}

export const SENDFILE_MODES = ['auto', 'on', 'off'] as const;
export type SendfileMode = (typeof SENDFILE_MODES)[number];

export class ConfigError extends IsoproxyError {
  constructor(message: string) {
    super('CONFIG', message);
  }
}

const CONFIG_FLAG = '--config';
const CONFIG_ENV = 'ISOPROXY_CONFIG';

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: './isoproxy-data',
  cacheBudgetBytes: 10 * 2 ** 30,
  blockSizeBytes: 2 * 2 ** 20,
  allowedUpstreams: [] as string[],
  allowedDirs: [] as string[],
  logLevel: 'info',
  shutdownDeadlineMs: 30_000,
  logFormat: 'auto' as LogFormat,
  headersTimeoutMs: 10_000,
  maxConnections: 1024,
  maxTransfersPerClient: 16,
  sendfile: 'auto' as SendfileMode,
};

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);
const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

export function parseBytes(text: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const n = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function parseDuration(text: string): number | undefined {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)?\s*$/.exec(text);
  if (!m) return undefined;
  const scale = m[2] === 's' ? 1000 : m[2] === 'm' ? 60_000 : 1;
  return Math.round(Number(m[1]) * scale);
}

function convert(def: OptionDef, value: unknown, source: string): unknown {
  const bad = (why: string): never => {
    throw new ConfigError(`${source}: ${def.flag.slice(2)} ${why} (got ${JSON.stringify(value)})`);
  };
  if (def.kind === 'list') {
    const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : bad('must be a list');
    return items.map((s) => (typeof s === 'string' ? s.trim() : bad('must be a list of strings'))).filter((s) => s !== '');
  }
  if (typeof value === 'boolean' && def.kind === 'switch') value = value ? 'on' : 'off';
  if (typeof value === 'number' && ['port', 'int', 'count', 'bytes', 'duration'].includes(def.kind)) value = String(value);
  if (typeof value !== 'string') return bad('must be a string');
  switch (def.kind) {
    case 'string':
      return value;
    case 'level':
      return LEVELS.has(value) ? value : bad('is not a log level');
    case 'port': {
      const n = /^[0-9]{1,5}$/.test(value) ? Number(value) : NaN;
      return n >= 0 && n <= 65535 ? n : bad('must be a port number 0-65535');
    }
    case 'int': {
      const n = /^[0-9]{1,4}$/.test(value) ? Number(value) : NaN;
      return n >= 1 && n <= 256 ? n : bad('must be an integer 1-256');
    }
    case 'count': {
      const n = /^[0-9]{1,7}$/.test(value) ? Number(value) : NaN;
      return n >= 1 ? n : bad('must be a positive integer');
    }
    case 'switch':
      return value === 'on' ? true : value === 'off' ? false : bad('must be on or off');
    case 'sendfile':
      return (SENDFILE_MODES as readonly string[]).includes(value) ? value : bad(`must be one of ${SENDFILE_MODES.join(', ')}`);
    case 'logFormat':
      return (LOG_FORMATS as readonly string[]).includes(value) ? value : bad(`must be one of ${LOG_FORMATS.join(', ')}`);
    case 'bytes':
      return parseBytes(value) ?? bad('must be a byte size such as 512MiB');
    case 'duration':
      return parseDuration(value) ?? bad('must be a duration such as 30s');
  }
}

/** Flags as (definition, raw value) pairs; repeated list flags accumulate. */
function parseArgv(argv: readonly string[]): { values: Map<Key, unknown>; configFile?: string } {
  const values = new Map<Key, unknown>();
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') continue;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    let value: string | undefined = eq > 0 ? arg.slice(eq + 1) : undefined;
    const def = OPTIONS.find((o) => o.flag === flag);
    if (!def && flag !== CONFIG_FLAG) throw new ConfigError(`unknown option ${flag} (see --help)`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`${flag} needs a value`);
    }
    if (!def) {
      configFile = value;
      continue;
    }
    if (def.kind === 'list')
      values.set(def.key, [...((values.get(def.key) as string[] | undefined) ?? []), ...(convert(def, value, 'flag') as string[])]);
    else values.set(def.key, convert(def, value, 'flag'));
  }
  return configFile !== undefined ? { values, configFile } : { values };
}

function readConfigFile(path: string): { values: Map<Key, unknown>; raw: Record<string, unknown> } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`config file ${path}: must hold a JSON object`);
  const values = new Map<Key, unknown>();
  for (const [k, v] of Object.entries(parsed)) {
    // The Ironic source reads its own keys from the same file (src/ironic/options.ts).
    if (isIronicConfigKey(k)) continue;
    const def = OPTIONS.find((o) => o.key === k || o.flag.slice(2) === k);
    if (!def) throw new ConfigError(`config file ${path}: unknown key ${JSON.stringify(k)}`);
    values.set(def.key, convert(def, v, `config file ${path}`));
  }
  return { values, raw: parsed as Record<string, unknown> };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function isLoopbackHost(host: string): boolean {
  return isLoopback(host);
}

/** Refuses an open admin API anywhere but loopback. */
export function checkAdminExposure(config: Config): void {
  if (config.adminToken === undefined && !isLoopbackHost(config.host)) {
    throw new ConfigError(
      `refusing to listen on ${config.host} without an admin token: ` +
        'set --admin-token, --admin-token-file or ISOPROXY_ADMIN_TOKEN, or bind to 127.0.0.1',
    );
  }
}

/**
 * The configuration from flags (highest), ISOPROXY_* env vars, the config file (`file`, else
 * --config, else ISOPROXY_CONFIG) and defaults. Throws ConfigError naming the bad setting.
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = {}, file?: string): Config {
  const { flags: ironicFlags, rest } = takeIronicFlags(argv);
  const flags = parseArgv(rest);
  const configPath = file ?? flags.configFile ?? env[CONFIG_ENV];
  const configFile = configPath ? readConfigFile(configPath) : undefined;
  const fromFile = configFile?.values ?? new Map<Key, unknown>();
  let ironic: IronicOptions | undefined;
  try {
    ironic = parseIronicOptions({
      flags: ironicFlags,
      env,
      ...(configFile ? { config: configFile.raw, configName: `config file ${configPath}` } : {}),
    });
  } catch (err) {
    if (err instanceof IronicConfigError) throw new ConfigError(err.message);
    throw err;
  }
  const fromEnv = new Map<Key, unknown>();
  for (const def of OPTIONS) {
    const v = env[def.env];
    if (v !== undefined && v !== '') fromEnv.set(def.key, convert(def, v, `env ${def.env}`));
  }
  const pick = <T>(key: Key, fallback: T): T =>
    (flags.values.has(key) ? flags.values.get(key) : fromEnv.has(key) ? fromEnv.get(key) : fromFile.has(key) ? fromFile.get(key) : fallback) as T;

  const host = pick('host', DEFAULTS.host);
  const port = pick('port', DEFAULTS.port);
  const dataDir = pick('dataDir', DEFAULTS.dataDir);
  const blockSizeBytes = pick('blockSizeBytes', DEFAULTS.blockSizeBytes);
  if (blockSizeBytes < 2 ** 20 || blockSizeBytes > 4 * 2 ** 20 || (blockSizeBytes & (blockSizeBytes - 1)) !== 0) {
    throw new ConfigError(`block-size must be a power of two from 1MiB to 4MiB (got ${blockSizeBytes})`);
  }
  const cacheBudgetBytes = pick('cacheBudgetBytes', DEFAULTS.cacheBudgetBytes);
  if (cacheBudgetBytes < blockSizeBytes) throw new ConfigError(`cache-budget (${cacheBudgetBytes}) must hold at least one block (${blockSizeBytes})`);

  let adminToken = pick<string | undefined>('adminToken', undefined);
  const tokenFile = pick<string | undefined>('adminTokenFile', undefined);
  if (adminToken === undefined && tokenFile !== undefined) {
    try {
      adminToken = readFileSync(tokenFile, 'utf8').split(/\r?\n/)[0]?.trim();
    } catch (err) {
      throw new ConfigError(`admin-token-file ${tokenFile}: ${(err as Error).message}`);
    }
    if (!adminToken) throw new ConfigError(`admin-token-file ${tokenFile} is empty`);
  }
  if (adminToken !== undefined && adminToken.length < 16) throw new ConfigError('admin-token must be at least 16 characters');

  let viewerToken = pick<string | undefined>('viewerToken', undefined);
  const viewerFile = pick<string | undefined>('viewerTokenFile', undefined);
  if (viewerToken === undefined && viewerFile !== undefined) {
    try {
      viewerToken = readFileSync(viewerFile, 'utf8').split(/\r?\n/)[0]?.trim();
    } catch (err) {
      throw new ConfigError(`viewer-token-file ${viewerFile}: ${(err as Error).message}`);
    }
    if (!viewerToken) throw new ConfigError(`viewer-token-file ${viewerFile} is empty`);
  }
  if (viewerToken !== undefined && viewerToken.length < 16) throw new ConfigError('viewer-token must be at least 16 characters');
  if (viewerToken !== undefined && viewerToken === adminToken) throw new ConfigError('viewer-token must differ from the admin token');

  const store = pick<string | undefined>('store', undefined);
  const stallAfterMs = pick<number | undefined>('stallAfterMs', undefined);
  if (stallAfterMs !== undefined && stallAfterMs < 1000) throw new ConfigError(`stall-after must be at least 1s (got ${stallAfterMs} ms)`);
  const headersTimeoutMs = pick('headersTimeoutMs', DEFAULTS.headersTimeoutMs);
  if (headersTimeoutMs < 1000) throw new ConfigError(`headers-timeout must be at least 1s (got ${headersTimeoutMs} ms)`);

  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const publicUrl = pick('publicUrl', `http://${urlHost}:${port}`).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(publicUrl)) throw new ConfigError(`public-url must be an http(s) URL without query (got ${publicUrl})`);

  const workers = pick('workers', Math.max(1, Math.min(256, availableParallelism())));
  return {
    host,
    port,
    publicUrl,
    dataDir,
    ...(ironic ? { ironic } : {}),
    cacheDir: pick('cacheDir', join(dataDir, 'cache')),
    cacheBudgetBytes,
    blockSizeBytes,
    ...(adminToken !== undefined ? { adminToken } : {}),
    allowedUpstreams: pick('allowedUpstreams', DEFAULTS.allowedUpstreams),
    allowedDirs: pick('allowedDirs', DEFAULTS.allowedDirs),
    workers,
    remasterThreads: pick('remasterThreads', workers > 1 ? 1 : 2),
    logLevel: pick('logLevel', DEFAULTS.logLevel),
    maxFilesPerNode: pick('maxFilesPerNode', 256),
    maxFileBytesPerNode: pick('maxFileBytesPerNode', 4 * 2 ** 20),
    shutdownDeadlineMs: pick('shutdownDeadlineMs', DEFAULTS.shutdownDeadlineMs),
    ...(store !== undefined ? { store } : {}),
    logFormat: pick('logFormat', DEFAULTS.logFormat),
    ...(viewerToken !== undefined ? { viewerToken } : {}),
    ...(stallAfterMs !== undefined ? { stallAfterMs } : {}),
    headersTimeoutMs,
    maxConnections: pick('maxConnections', DEFAULTS.maxConnections),
    maxTransfersPerClient: pick('maxTransfersPerClient', DEFAULTS.maxTransfersPerClient),
    sendfile: pick('sendfile', DEFAULTS.sendfile),
    directHttp: pick('directHttp', true),
  };
}

/** The --help text: every option with its env var and default. */
export function configHelp(): string {
  const rows: Array<readonly [string, string, string, string]> = OPTIONS.map((o) => [`${o.flag} <value>`, o.env, o.defaultText, o.help] as const);
  rows.unshift([
    `${CONFIG_FLAG} <file>`,
    CONFIG_ENV,
    '(none)',
    'JSON file with any of these options (keys as camelCase config names or flag names)',
  ] as const);
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return [
    'Usage: isoproxy serve [options]',
    '',
    'Serves /iso/<node>.iso to BMCs and the admin API /api/v1 to conductors.',
    'Precedence: flags, then ISOPROXY_* environment variables, then the config file, then defaults.',
    '',
    'Options:',
    ...rows.map(([f, e, d, h]) => `  ${f.padEnd(w0)}  ${e.padEnd(w1)}  ${h} (default: ${d})`),
    '',
    "Ironic node source (serves /ironic/<node-uuid-or-name>.iso from Ironic's own node data; see docs/ironic.md):",
    ironicOptionsHelp(),
    '  --help',
  ].join('\n');
}
