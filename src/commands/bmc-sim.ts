// `isoproxy bmc-sim`: run the Redfish BMC simulator (src/redfish/sim/) until SIGINT or
// SIGTERM. Used by the demo, the wave benchmark and by hand against `isoproxy attach` or sushy.

import { pino } from 'pino';
import { createBmcSimulator } from '../redfish/sim/index.js';
import { isProfileName, PROFILE_NAMES } from '../redfish/sim/profiles.js';
import { UsageError, parse } from '../redfish/cli-options.js';
import type { FetchMode } from '../redfish/sim/fetch.js';

const USAGE = `Usage: isoproxy bmc-sim [options]

Runs a Redfish BMC simulator whose systems really download inserted images and verify them.

  --port N                port to listen on (default 8000; 0 picks a free one)
  --host H                address to listen on (default 127.0.0.1)
  --systems N             number of systems, each with its own manager (default 2)
  --profile P             quirks: ${PROFILE_NAMES.join(', ')} (default standard)
  --username U            accepted user (default admin)
  --password P            accepted password (default password)
  --fetch MODE            ranges (256 KiB range reads), whole (one GET) or none (default ranges)
  --range-size BYTES      bytes per range read (default 262144)
  --concurrency N         range reads in flight (default 4)
  --expect TOKEN          a token every image must contain (repeatable)
  --hang                  accept connections and never answer a Redfish request (a wedged BMC)
  -h, --help              show this help`;

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  systems: { type: 'string' },
  profile: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  fetch: { type: 'string' },
  'range-size': { type: 'string' },
  concurrency: { type: 'string' },
  expect: { type: 'string', multiple: true },
  hang: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

function int(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}, not ${JSON.stringify(v)}`);
  return n;
}

/** Starts the simulator from argv; returns its URL and a close function, or undefined after --help. */
export async function start(argv: string[]): Promise<{ url: string; close(): Promise<void> } | undefined> {
  const values = parse(argv, OPTIONS);
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const profile = values.profile ?? 'standard';
  if (!isProfileName(profile)) throw new UsageError(`--profile must be one of ${PROFILE_NAMES.join(', ')}, not ${JSON.stringify(profile)}`);
  const mode = (values.fetch ?? 'ranges') as FetchMode;
  if (!['ranges', 'whole', 'none'].includes(mode)) throw new UsageError(`--fetch must be ranges, whole or none, not ${JSON.stringify(values.fetch)}`);
  const port = int('port', values.port, 8000, 0, 65535);
  const systems = int('systems', values.systems, 2, 1, 1024);
  const rangeSize = int('range-size', values['range-size'], 256 * 1024, 512, 64 * 1024 * 1024);
  const concurrency = int('concurrency', values.concurrency, 4, 1, 32);
  const host = values.host ?? '127.0.0.1';
  const logger = pino({ level: 'info' }, pino.destination(2));
  const sim = createBmcSimulator({
    systems,
    profile,
    logger,
    username: values.username ?? 'admin',
    password: values.password ?? 'password',
    fetch: { mode, rangeSize, concurrency },
    ...(values.expect ? { expect: values.expect } : {}),
  });
  if (values.hang) sim.state.faults.push({ path: /.*/, effect: 'hang', times: Infinity });
  const server = await sim.listen(port, host);
  const how = `profile ${profile}, ${systems} system${systems === 1 ? '' : 's'}, fetch ${mode}${values.hang ? ', never answering' : ''}`;
  console.log(`bmc-sim: Redfish service at ${server.url}/redfish/v1/ (${how})`);
  return server;
}

export async function run(argv: string[]): Promise<number> {
  let server: { url: string; close(): Promise<void> } | undefined;
  try {
    server = await start(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`isoproxy bmc-sim: ${err.message} (see --help)`);
      return 2;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL') {
      console.error(`isoproxy bmc-sim: cannot listen: ${e.message}`);
      return 1;
    }
    throw err;
  }
  if (!server) return 0;
  const running = server;
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await running.close();
  return 0;
}
