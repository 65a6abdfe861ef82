// Configuration of `isoproxy serve`: defaults, precedence (flags > env > file > defaults), units,
// the token file, validation errors naming the setting, and --help listing every option.

import { availableParallelism } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configHelp, ConfigError, loadConfig, parseBytes, parseDuration } from '../src/config.js';
import { checkAdminExposure } from '../src/config.js';
import { scratchDir } from './helpers/tools.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await scratchDir('isoproxy-config-'));
});
afterAll(async () => cleanup?.());

describe('loadConfig', () => {
  it('takes --sendfile auto, on or off (and ISOPROXY_SENDFILE), and refuses anything else', () => {
    expect(loadConfig(['--sendfile', 'off'], {}).sendfile).toBe('off');
    expect(loadConfig([], { ISOPROXY_SENDFILE: 'on' }).sendfile).toBe('on');
    expect(() => loadConfig(['--sendfile', 'yes'], {})).toThrow(/sendfile must be one of auto, on, off/);
  });

  it('takes --direct-http on or off (and ISOPROXY_DIRECT_HTTP, and a boolean in the config file)', async () => {
    expect(loadConfig(['--direct-http', 'off'], {}).directHttp).toBe(false);
    expect(loadConfig([], { ISOPROXY_DIRECT_HTTP: 'off' }).directHttp).toBe(false);
    expect(() => loadConfig(['--direct-http', 'no'], {})).toThrow(/direct-http must be on or off/);
    const file = join(dir, 'direct.json');
    await writeFile(file, JSON.stringify({ directHttp: false }));
    expect(loadConfig(['--config', file], {}).directHttp).toBe(false);
  });

  it('has loopback defaults', () => {
    expect(loadConfig([], {})).toEqual({
      host: '127.0.0.1',
      port: 8080,
      publicUrl: 'http://127.0.0.1:8080',
      dataDir: './isoproxy-data',
      cacheDir: 'isoproxy-data/cache',
      cacheBudgetBytes: 10 * 2 ** 30,
      blockSizeBytes: 2 * 2 ** 20,
      allowedUpstreams: [],
      allowedDirs: [],
      workers: availableParallelism(),
      remasterThreads: availableParallelism() > 1 ? 1 : 2,
      logLevel: 'info',
      shutdownDeadlineMs: 30_000,
      logFormat: 'auto',
      headersTimeoutMs: 10_000,
      maxConnections: 1024,
      maxTransfersPerClient: 16,
      sendfile: 'auto',
      directHttp: true,
      maxFilesPerNode: 256,
      maxFileBytesPerNode: 4 * 2 ** 20,
    });
  });

  it('counts serving processes with --workers and patch-set threads with --remaster-threads', () => {
    expect(loadConfig(['--workers', '1'], {})).toMatchObject({ workers: 1, remasterThreads: 2 });
    expect(loadConfig(['--workers', '4'], {})).toMatchObject({ workers: 4, remasterThreads: 1 });
    expect(loadConfig(['--workers', '4', '--remaster-threads', '3'], {})).toMatchObject({ workers: 4, remasterThreads: 3 });
    expect(loadConfig([], { ISOPROXY_WORKERS: '3', ISOPROXY_REMASTER_THREADS: '2' })).toMatchObject({ workers: 3, remasterThreads: 2 });
  });

  it('reads the log format, the status view and the client limits', async () => {
    const file = join(dir, 'viewer');
    await writeFile(file, 'viewer-token-0123456789\n');
    const c = loadConfig(
      [
        '--log-format',
        'pretty',
        '--viewer-token-file',
        file,
        '--stall-after',
        '5s',
        '--headers-timeout',
        '2s',
        '--max-connections',
        '50',
        '--max-transfers-per-client',
        '4',
      ],
      {},
    );
    expect(c).toMatchObject({
      logFormat: 'pretty',
      viewerToken: 'viewer-token-0123456789',
      stallAfterMs: 5000,
      headersTimeoutMs: 2000,
      maxConnections: 50,
      maxTransfersPerClient: 4,
    });
    expect(loadConfig([], { ISOPROXY_LOG_FORMAT: 'json', ISOPROXY_VIEWER_TOKEN: 'viewer-token-abcdefghij' })).toMatchObject({
      logFormat: 'json',
      viewerToken: 'viewer-token-abcdefghij',
    });
    expect(() => loadConfig(['--log-format', 'xml'], {})).toThrow(/log-format must be one of json, pretty, auto/);
    expect(() => loadConfig(['--max-transfers-per-client', '0'], {})).toThrow(/positive integer/);
    expect(() => loadConfig(['--headers-timeout', '10ms'], {})).toThrow(/at least 1s/);
    expect(() => loadConfig(['--viewer-token', 'short'], {})).toThrow(/at least 16/);
  });

  it('takes flags over env over the config file', async () => {
    const file = join(dir, 'c.json');
    await writeFile(
      file,
      JSON.stringify({ port: 1111, host: '10.0.0.1', logLevel: 'warn', 'cache-budget': '1GiB', allowedUpstreams: ['https://a/'] }),
    );
    const c = loadConfig(['--port', '3333', '--config', file], {
      ISOPROXY_PORT: '2222',
      ISOPROXY_LOG_LEVEL: 'debug',
      ISOPROXY_ADMIN_TOKEN: 'x'.repeat(16),
    });
    expect(c.port).toBe(3333);
    expect(c.logLevel).toBe('debug');
    expect(c.host).toBe('10.0.0.1');
    expect(c.cacheBudgetBytes).toBe(2 ** 30);
    expect(c.allowedUpstreams).toEqual(['https://a/']);
    expect(c.publicUrl).toBe('http://10.0.0.1:3333');
  });

  it('accumulates repeated and comma-separated list flags', () => {
    const c = loadConfig(['--allow-upstream', 'https://a/,https://b/', '--allow-upstream=https://c/', '--allow-dir', '/srv/iso'], {});
    expect(c.allowedUpstreams).toEqual(['https://a/', 'https://b/', 'https://c/']);
    expect(c.allowedDirs).toEqual(['/srv/iso']);
  });

  it('reads the admin token from a file', async () => {
    const file = join(dir, 'token');
    await writeFile(file, 'abcdefghijklmnopqrstuvwxyz\n');
    expect(loadConfig(['--admin-token-file', file], {}).adminToken).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(loadConfig([], { ISOPROXY_ADMIN_TOKEN_FILE: file }).adminToken).toBe('abcdefghijklmnopqrstuvwxyz');
  });

  it('parses sizes and durations with units', () => {
    expect(parseBytes('4MiB')).toBe(4 * 2 ** 20);
    expect(parseBytes('1.5G')).toBe(1.5e9);
    expect(parseBytes('12')).toBe(12);
    expect(parseBytes('12 parsecs')).toBeUndefined();
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('250')).toBe(250);
    expect(loadConfig(['--block-size', '4MiB', '--shutdown-deadline', '5s'], {})).toMatchObject({
      blockSizeBytes: 4 * 2 ** 20,
      shutdownDeadlineMs: 5000,
    });
  });

  it.each([
    [['--port', '70000']],
    [['--port']],
    [['--bogus', '1']],
    [['--block-size', '3MiB']],
    [['--block-size', '64KiB']],
    [['--cache-budget', '1KiB']],
    [['--log-level', 'loud']],
    [['--workers', '0']],
    [['--admin-token', 'short']],
    [['--public-url', 'ftp://x']],
    [['--config', '/nonexistent/isoproxy.json']],
  ])('rejects %j with a ConfigError', (argv) => {
    expect(() => loadConfig(argv, {})).toThrow(ConfigError);
  });

  it('names the offending environment variable', () => {
    expect(() => loadConfig([], { ISOPROXY_PORT: 'eighty' })).toThrow(/ISOPROXY_PORT/);
  });
});

describe('serve --help and admin exposure', () => {
  it('lists every option with its env var and default', () => {
    const help = configHelp();
    for (const s of [
      '--host',
      '--port',
      '--public-url',
      '--data-dir',
      '--cache-dir',
      '--cache-budget',
      '--block-size',
      '--admin-token ',
      '--admin-token-file',
      '--allow-upstream',
      '--allow-dir',
      '--workers',
      '--remaster-threads',
      '--log-level',
      '--shutdown-deadline',
      '--config',
      'ISOPROXY_HOST',
      'ISOPROXY_ADMIN_TOKEN_FILE',
      'ISOPROXY_CONFIG',
      '(default: 8080)',
      '(default: 10GiB)',
    ]) {
      expect(help).toContain(s);
    }
  });

  it('refuses to expose the admin API without a token beyond loopback', () => {
    expect(() => checkAdminExposure(loadConfig(['--host', '0.0.0.0'], {}))).toThrow(/admin token/);
    expect(() => checkAdminExposure(loadConfig(['--host', '0.0.0.0', '--admin-token', 'x'.repeat(20)], {}))).not.toThrow();
    expect(() => checkAdminExposure(loadConfig(['--host', '127.0.0.1'], {}))).not.toThrow();
    expect(() => checkAdminExposure(loadConfig(['--host', '::1'], {}))).not.toThrow();
  });
});
