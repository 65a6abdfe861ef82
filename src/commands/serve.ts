// `isoproxy serve`: parses the configuration and serves, as one process (src/http/server.ts), or
// as a cluster's primary (src/cluster/primary.ts, which also serves) or worker
// (src/cluster/worker.ts). Shutdown on SIGINT
// and SIGTERM is graceful (src/http/server.ts says how).

import { checkAdminExposure, configHelp, ConfigError, loadConfig, type Config } from '../config.js';
import { fixMmapThreshold } from '../native/sendfile.js';
import { WORKER_ENV } from '../cluster/ipc.js';
import { boundHeapGrowth } from '../heap-growth.js';
import { collectWhenIdle } from '../idle-gc.js';

export async function run(argv: string[]): Promise<number> {
  // Before anything large is allocated: freed 2 MiB blocks go back to the system (sendfile.c).
  fixMmapThreshold();
  // Primary, worker or single process: each gives back what a burst left once it is quiet.
  collectWhenIdle();
  // Primary, worker or single process: the old generation kept near what is live.
  boundHeapGrowth('serving');
  // A cluster worker was forked with the primary's argv: it serves, and never parses twice.
  if (process.env[WORKER_ENV] !== undefined) return (await import('../cluster/worker.js')).runWorker(loadConfig(argv, process.env));
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(configHelp());
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig(argv, process.env);
    checkAdminExposure(config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`isoproxy serve: ${err.message}`);
    return 2;
  }
  // Several serving processes over one cache (src/cluster); --workers 1 is this process alone.
  if (config.workers > 1) {
    boundHeapGrowth('primary');
    return (await import('../cluster/primary.js')).runPrimary(config, argv);
  }
  const running = await (await import('../http/server.js')).startServer(config);
  console.log(`isoproxy serving on ${running.url} (node URLs: ${running.publicUrl}/iso/<node>.iso)`);
  if (config.ironic) console.log(`Ironic nodes: ${running.publicUrl}/ironic/<node-uuid-or-name>.iso (set as instance_info/boot_iso)`);
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      running.logger.info({ signal }, 'shutting down');
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void running.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  running.logger.flush?.();
  return 0;
}
