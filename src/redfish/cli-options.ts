// Command-line options shared by `isoproxy attach` and `isoproxy detach`: BMC URL, user, a
// password *file* (a password on the command line would show in `ps` and shell history), system,
// and TLS (`--insecure` or `--ca FILE`, never both). Usage errors are one line and exit code 2.

import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
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
  help: { type: 'boolean', short: 'h' },
} as const;

export const BMC_USAGE = `  --bmc URL               the BMC's Redfish base URL (http(s)://host[:port])
  --username U            BMC user
  --password-file F       file holding the BMC password (one line)
  --node NAME             the isoproxy node
  --system ID             the system on the BMC (default: the only one)
  --insecure              do not verify the BMC's TLS certificate
  --ca FILE               verify the BMC's TLS certificate against this PEM bundle`;

type Values<T extends NonNullable<ParseArgsConfig['options']>> = ReturnType<typeof parseArgs<{ options: T; allowPositionals: false; strict: true }>>['values'];

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
  };
}
