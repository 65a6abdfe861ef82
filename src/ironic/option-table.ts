// The Ironic source's options as one table: flag, environment variable, config key, kind and
// help of each. options.ts reads flags, environment and config file through it.

import { IRONIC_DEFAULT_KERNEL_APPEND_PARAMS } from './kernel-params.js';
import { DEFAULT_PROVISION_STATES } from './states.js';

export type Kind = 'url' | 'string' | 'auth' | 'duration' | 'seconds' | 'list' | 'boolean' | 'file';

export interface OptionDef {
  readonly key: string;
  readonly flag: string;
  readonly env: string;
  readonly kind: Kind;
  readonly defaultText: string;
  readonly help: string;
}

export const IRONIC_OPTIONS: readonly OptionDef[] = [
  {
    key: 'ironicUrl',
    flag: '--ironic-url',
    env: 'ISOPROXY_IRONIC_URL',
    kind: 'url',
    defaultText: '(off)',
    help: 'Ironic API endpoint (http(s)://host:6385); turns the Ironic node source on',
  },
  {
    key: 'ironicAuth',
    flag: '--ironic-auth',
    env: 'ISOPROXY_IRONIC_AUTH',
    kind: 'auth',
    defaultText: 'noauth',
    help: 'noauth, http_basic or keystone',
  },
  {
    key: 'ironicUsername',
    flag: '--ironic-username',
    env: 'ISOPROXY_IRONIC_USERNAME',
    kind: 'string',
    defaultText: '(none)',
    help: 'http_basic user',
  },
  {
    key: 'ironicPasswordFile',
    flag: '--ironic-password-file',
    env: 'ISOPROXY_IRONIC_PASSWORD_FILE',
    kind: 'file',
    defaultText: '(none)',
    help: 'file holding the http_basic password (first line); or set ISOPROXY_IRONIC_PASSWORD',
  },
  {
    key: 'ironicKeystoneUrl',
    flag: '--ironic-keystone-url',
    env: 'ISOPROXY_IRONIC_KEYSTONE_URL',
    kind: 'url',
    defaultText: '(none)',
    help: 'Keystone v3 auth URL (https://keystone:5000/v3)',
  },
  {
    key: 'ironicAppCredId',
    flag: '--ironic-app-cred-id',
    env: 'ISOPROXY_IRONIC_APP_CRED_ID',
    kind: 'string',
    defaultText: '(none)',
    help: 'Keystone application credential id',
  },
  {
    key: 'ironicAppCredSecretFile',
    flag: '--ironic-app-cred-secret-file',
    env: 'ISOPROXY_IRONIC_APP_CRED_SECRET_FILE',
    kind: 'file',
    defaultText: '(none)',
    help: 'file holding the application credential secret (first line); or set ISOPROXY_IRONIC_APP_CRED_SECRET',
  },
  {
    key: 'ironicCa',
    flag: '--ironic-ca',
    env: 'ISOPROXY_IRONIC_CA',
    kind: 'file',
    defaultText: '(system CAs)',
    help: "PEM bundle to verify Ironic's and Keystone's TLS certificates",
  },
  {
    key: 'ironicInsecure',
    flag: '--ironic-insecure',
    env: 'ISOPROXY_IRONIC_INSECURE',
    kind: 'boolean',
    defaultText: 'false',
    help: "do not verify Ironic's and Keystone's TLS certificates",
  },
  {
    key: 'ironicDefaultBase',
    flag: '--ironic-default-base',
    env: 'ISOPROXY_IRONIC_DEFAULT_BASE',
    kind: 'url',
    defaultText: '(none)',
    help: 'base ISO for nodes without instance_info/isoproxy_base_iso',
  },
  {
    key: 'ironicDefaultAppend',
    flag: '--ironic-default-append',
    env: 'ISOPROXY_IRONIC_DEFAULT_APPEND',
    kind: 'string',
    defaultText: `"${IRONIC_DEFAULT_KERNEL_APPEND_PARAMS}"`,
    help: 'Ironic\'s [redfish]kernel_append_params: used when a node sets none, and for %default%; "" for none',
  },
  {
    key: 'ironicCacheTtl',
    flag: '--ironic-cache-ttl',
    env: 'ISOPROXY_IRONIC_CACHE_TTL',
    kind: 'duration',
    defaultText: '5s',
    help: 'how long node data from Ironic is used before asking again',
  },
  {
    key: 'ironicStaleMax',
    flag: '--ironic-stale-max',
    env: 'ISOPROXY_IRONIC_STALE_MAX',
    kind: 'duration',
    defaultText: '10m',
    help: 'how long a known node is served from its last good data while Ironic is unreachable',
  },
  {
    key: 'ironicTimeout',
    flag: '--ironic-timeout',
    env: 'ISOPROXY_IRONIC_TIMEOUT',
    kind: 'duration',
    defaultText: '5s',
    help: 'timeout of one request to Ironic or Keystone',
  },
  {
    key: 'ironicRetryAfter',
    flag: '--ironic-retry-after',
    env: 'ISOPROXY_IRONIC_RETRY_AFTER',
    kind: 'seconds',
    defaultText: '10',
    help: 'Retry-After seconds of the 503 for a node Ironic cannot be asked about',
  },
  {
    key: 'ironicProvisionStates',
    flag: '--ironic-provision-states',
    env: 'ISOPROXY_IRONIC_PROVISION_STATES',
    kind: 'list',
    defaultText: DEFAULT_PROVISION_STATES.join(','),
    help: 'provision states a node is served in (comma-separated); "*" for any',
  },
];

/** Names a secret must never be given as: a flag or config key with the value itself. */
