// Command-line options shared by `isoproxy attach` and `isoproxy detach`: BMC URL, user, a
// password *file* (a password on the command line would show in `ps` and shell history), system,
// TLS (`--insecure` or `--ca FILE`, never both) and the time budgets of budget.ts. Usage errors
// are one line and exit code 2.

import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_OPERATION_TIMEOUT_MS } from './budget.js';
import type { BmcTarget } from './controller.js';

export class UsageError extends Error {}

export const BMC_OPTIONS = {
  bmc: { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
  node: { type: 'string' },
  system: { type: 'string' },
  insecure: { type: 'boolean' },
  ca: { type: 'string' },
  timeout: { type: 'string' },
  'operation-timeout': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const BMC_USAGE = `  --bmc URL               the BMC's Redfish base URL (http(s)://host[:port])
  --username U            BMC user
  --password-file F       file holding the BMC password (one line)
  --node NAME             the isoproxy node
  --system ID             the system on the BMC (default: the only one)
  --insecure              do not verify the BMC's TLS certificate
  --ca FILE               verify the BMC's TLS certificate against this PEM bundle
  --timeout S             seconds to wait for each Redfish answer (default ${DEFAULT_CALL_TIMEOUT_MS / 1000})
  --operation-timeout S   seconds for the whole operation, retries included (default ${DEFAULT_OPERATION_TIMEOUT_MS / 1000})`;

type Values<T extends NonNullable<ParseArgsConfig['options']>> = ReturnType<
  typeof parseArgs<{ options: T; allowPositionals: false; strict: true }>
>['values'];

export function parse<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T): Values<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: false, strict: true }).values;
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
}

/** Reads the password file: its first line, without the line ending. */
export async function readPassword(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read --password-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  if (line === '') throw new UsageError(`--password-file ${path} is empty`);
  return line;
}

export interface BmcValues {
  readonly bmc?: string | undefined;
  readonly username?: string | undefined;
  readonly 'password-file'?: string | undefined;
  readonly system?: string | undefined;
  readonly insecure?: boolean | undefined;
  readonly ca?: string | undefined;
  readonly timeout?: string | undefined;
  readonly 'operation-timeout'?: string | undefined;
}

/** A duration option in seconds (fractions allowed), as milliseconds; undefined when not given. */
function seconds(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const s = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v) || s <= 0 || s > 3600)
    throw new UsageError(`--${name} must be a number of seconds in (0, 3600], not ${JSON.stringify(v)}`);
  return Math.round(s * 1000);
}

export async function bmcTarget(values: BmcValues): Promise<BmcTarget> {
  if (!values.bmc) throw new UsageError('--bmc is required');
  if (!values.username) throw new UsageError('--username is required');
  if (!values['password-file']) throw new UsageError('--password-file is required');
  try {
    const u = new URL(values.bmc);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new UsageError(`--bmc ${values.bmc} is not an http(s) URL`);
  }
  if (values.insecure && values.ca) throw new UsageError('give either --insecure or --ca, not both');
  const timeoutMs = seconds('timeout', values.timeout);
  const operationTimeoutMs = seconds('operation-timeout', values['operation-timeout']);
  let ca: Buffer | undefined;
  if (values.ca) {
    try {
      ca = await readFile(values.ca);
    } catch (err) {
      throw new UsageError(`cannot read --ca ${values.ca}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return {
    bmc: values.bmc,
    username: values.username,
    password: await readPassword(values['password-file']),
    ...(values.system ? { systemId: values.system } : {}),
    tls: { insecure: values.insecure === true, ...(ca ? { ca } : {}) },
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(operationTimeoutMs !== undefined ? { operationTimeoutMs } : {}),
  };
}
