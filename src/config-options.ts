// The options of `isoproxy serve`, as one table: each option's config key, flag, environment
// variable, kind and help. config.ts reads flags, environment and config file through it;
// `serve --help` prints it.

import type { Config } from './config.js';

export type Kind = 'string' | 'port' | 'int' | 'count' | 'bytes' | 'duration' | 'list' | 'level' | 'logFormat' | 'sendfile' | 'switch';
export type Key = Exclude<keyof Config, never> | 'adminTokenFile' | 'viewerTokenFile';

export interface OptionDef {
  readonly key: Key;
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  /** Shown in --help; computed defaults are described in `help`. */
  readonly defaultText: string;
  readonly help: string;
}

export const OPTIONS: readonly OptionDef[] = [
  { key: 'host', flag: '--host', env: 'ISOPROXY_HOST', kind: 'string', defaultText: '127.0.0.1', help: 'address to listen on' },
  { key: 'port', flag: '--port', env: 'ISOPROXY_PORT', kind: 'port', defaultText: '8080', help: 'TCP port (0 picks a free one)' },
  {
    key: 'publicUrl',
    flag: '--public-url',
    env: 'ISOPROXY_PUBLIC_URL',
    kind: 'string',
    defaultText: 'http://<host>:<port>',
    help: 'base URL BMCs use to reach this server (node URLs are built from it)',
  },
  {
    key: 'dataDir',
    flag: '--data-dir',
    env: 'ISOPROXY_DATA_DIR',
    kind: 'string',
    defaultText: './isoproxy-data',
    help: 'directory of the node store',
  },
  {
    key: 'cacheDir',
    flag: '--cache-dir',
    env: 'ISOPROXY_CACHE_DIR',
    kind: 'string',
    defaultText: '<data-dir>/cache',
    help: 'directory of the block cache',
  },
  {
    key: 'cacheBudgetBytes',
    flag: '--cache-budget',
    env: 'ISOPROXY_CACHE_BUDGET',
    kind: 'bytes',
    defaultText: '10GiB',
    help: 'bytes the block cache may use on disk (suffixes K, M, G, T, KiB, MiB, GiB, TiB)',
  },
  {
    key: 'blockSizeBytes',
    flag: '--block-size',
    env: 'ISOPROXY_BLOCK_SIZE',
    kind: 'bytes',
    defaultText: '2MiB',
    help: 'block cache block size, 1MiB to 4MiB, a power of two',
  },
  {
    key: 'adminToken',
    flag: '--admin-token',
    env: 'ISOPROXY_ADMIN_TOKEN',
    kind: 'string',
    defaultText: '(none)',
    help: 'bearer token of the admin API (required unless bound to loopback)',
  },
  {
    key: 'adminTokenFile',
    flag: '--admin-token-file',
    env: 'ISOPROXY_ADMIN_TOKEN_FILE',
    kind: 'string',
    defaultText: '(none)',
    help: 'file holding the admin token (first line)',
  },
  {
    key: 'allowedUpstreams',
    flag: '--allow-upstream',
    env: 'ISOPROXY_ALLOW_UPSTREAM',
    kind: 'list',
    defaultText: '(none)',
    help: "URL prefix a node's bootIso may start with; repeat or comma-separate",
  },
  {
    key: 'allowedDirs',
    flag: '--allow-dir',
    env: 'ISOPROXY_ALLOW_DIR',
    kind: 'list',
    defaultText: '(none)',
    help: 'directory file:// boot ISOs may come from; repeat or comma-separate',
  },
  {
    key: 'viewerToken',
    flag: '--viewer-token',
    env: 'ISOPROXY_VIEWER_TOKEN',
    kind: 'string',
    defaultText: '(none)',
    help: 'read-only token for the status page /ui (the admin token also works there)',
  },
  {
    key: 'viewerTokenFile',
    flag: '--viewer-token-file',
    env: 'ISOPROXY_VIEWER_TOKEN_FILE',
    kind: 'string',
    defaultText: '(none)',
    help: 'file holding the viewer token (first line)',
  },
  {
    key: 'workers',
    flag: '--workers',
    env: 'ISOPROXY_WORKERS',
    kind: 'int',
    defaultText: 'number of cores',
    help: 'serving processes sharing one cache (1: no cluster)',
  },
  {
    key: 'remasterThreads',
    flag: '--remaster-threads',
    env: 'ISOPROXY_REMASTER_THREADS',
    kind: 'int',
    defaultText: '2, or 1 with several workers',
    help: "patch-set worker threads (with several workers, the primary's, computing for all)",
  },
  {
    key: 'logLevel',
    flag: '--log-level',
    env: 'ISOPROXY_LOG_LEVEL',
    kind: 'level',
    defaultText: 'info',
    help: 'trace, debug, info, warn, error, fatal or silent',
  },
  {
    key: 'shutdownDeadlineMs',
    flag: '--shutdown-deadline',
    env: 'ISOPROXY_SHUTDOWN_DEADLINE',
    kind: 'duration',
    defaultText: '30s',
    help: 'how long transfers may finish after SIGINT/SIGTERM (ms, or with s/m suffix)',
  },
  {
    key: 'maxFilesPerNode',
    flag: '--max-files-per-node',
    env: 'ISOPROXY_MAX_FILES_PER_NODE',
    kind: 'int',
    defaultText: '256',
    help: 'files a node may inject into its initramfs (edits.files)',
  },
  {
    key: 'maxFileBytesPerNode',
    flag: '--max-file-bytes-per-node',
    env: 'ISOPROXY_MAX_FILE_BYTES_PER_NODE',
    kind: 'bytes',
    defaultText: '4MiB',
    help: 'total bytes of the files a node may inject',
  },
  {
    key: 'logFormat',
    flag: '--log-format',
    env: 'ISOPROXY_LOG_FORMAT',
    kind: 'logFormat',
    defaultText: 'auto',
    help: 'json, pretty, or auto (pretty lines on a terminal, JSON lines otherwise)',
  },
  {
    key: 'sendfile',
    flag: '--sendfile',
    env: 'ISOPROXY_SENDFILE',
    kind: 'sendfile',
    defaultText: 'auto',
    help: 'send cached blocks from their files to plain HTTP clients with sendfile(2), no copies: auto (when the addon is built), on (refuse to start without it), off',
  },
  {
    key: 'directHttp',
    flag: '--direct-http',
    env: 'ISOPROXY_DIRECT_HTTP',
    kind: 'switch',
    defaultText: 'on',
    help: "answer plain GET/HEAD image requests on the connection itself, without Node's HTTP objects (off: Node's server answers every request)",
  },
  {
    key: 'stallAfterMs',
    flag: '--stall-after',
    env: 'ISOPROXY_STALL_AFTER',
    kind: 'duration',
    defaultText: '15s',
    help: 'the status page shows a node stalled when its open transfer moved no byte for this long',
  },
  {
    key: 'headersTimeoutMs',
    flag: '--headers-timeout',
    env: 'ISOPROXY_HEADERS_TIMEOUT',
    kind: 'duration',
    defaultText: '10s',
    help: 'a client must send its request headers within this long, or the connection is closed (slowloris)',
  },
  {
    key: 'maxConnections',
    flag: '--max-connections',
    env: 'ISOPROXY_MAX_CONNECTIONS',
    kind: 'count',
    defaultText: '1024',
    help: 'client connections open at once; more are closed on accept (keep under the descriptor limit)',
  },
  {
    key: 'maxTransfersPerClient',
    flag: '--max-transfers-per-client',
    env: 'ISOPROXY_MAX_TRANSFERS_PER_CLIENT',
    kind: 'count',
    defaultText: '16',
    help: 'concurrent image transfers per client address; more answer 429 TOO_MANY_TRANSFERS with Retry-After',
  },
  {
    key: 'store',
    flag: '--store',
    env: 'ISOPROXY_STORE',
    kind: 'string',
    defaultText: 'file (in <data-dir>)',
    help: 'node store: file, file:///dir, or redis://[user@]host:port/db for replicas (password from ISOPROXY_STORE_PASSWORD_FILE or ISOPROXY_STORE_PASSWORD)',
  },
];
