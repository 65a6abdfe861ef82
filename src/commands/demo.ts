// `isoproxy demo` (what `npm start` runs): the proxy on an embedded default. Writes a small
// deterministic demo ISO (isolinux, grub, an EFI FAT image, md5sum.txt) at first start,
// registers a demo node with edits, serves it, and prints the URL to fetch.

import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { configHelp, ConfigError, loadConfig } from '../config.js';
import { ensureDemoIso } from '../demo/demo-iso.js';
import { FileNodeStore } from '../registry/file-store.js';
import { createBmcSimulator } from '../redfish/bmc-simulator.js';
import { attach } from '../redfish/controller.js';
import { startServer } from '../http/server.js';

export const DEMO_NODE = 'demo-node';
export const DEMO_EDITS = {
  append: ['ipa-api-url=http://192.0.2.10:6385', 'ipa-node-uuid=demo-node'],
  set: { 'ipa-debug': '0' },
  remove: ['nomodeset'],
};

const HELP = `Usage: isoproxy demo [--no-bmc] [serve options]

Runs the proxy on an embedded demo ISO and a demo node (what \`npm start\` does), as one serving
process (\`isoproxy serve\` runs several: --workers). The demo ISO is written to <data-dir>/demo/
at first start. Default data dir: ./.data (--data-dir, ISOPROXY_DATA_DIR).
Unless --no-bmc is given, a simulated Redfish BMC (isoproxy bmc-sim) is started on loopback and
attached to the demo node's URL, and it downloads the image the way OpenBMC does (HEAD, then
256 KiB ranges) and checks the node's parameters are in it.
Any \`isoproxy serve\` option may be given:

${configHelp()}`;

export async function run(args: string[]): Promise<number> {
  const withBmc = !args.includes('--no-bmc');
  const argv = args.filter((a) => a !== '--no-bmc');
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(HELP);
    return 0;
  }
  const dataDir = demoDataDir(argv, process.env);
  const iso = await ensureDemoIso(dataDir);
  let config;
  try {
    config = loadConfig(['--data-dir', dataDir, '--allow-dir', dirname(iso), ...argv], process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`isoproxy demo: ${err.message}`);
    return 2;
  }
  const store = await FileNodeStore.open(config.dataDir);
  const now = new Date().toISOString();
  const existing = await store.get(DEMO_NODE);
  await store.put({
    name: DEMO_NODE,
    bootIso: pathToFileURL(iso).href,
    edits: DEMO_EDITS,
    createdAt: existing?.createdAt ?? now,
    updatedAt: existing && JSON.stringify(existing.edits) === JSON.stringify(DEMO_EDITS) ? existing.updatedAt : now,
  });
  const running = await startServer(config, { store });
  const url = `${running.publicUrl}/iso/${DEMO_NODE}.iso`;
  console.log(`
isoproxy demo is running.

  demo base ISO : ${iso}
  demo node     : ${DEMO_NODE}  (edits: ${JSON.stringify(DEMO_EDITS)})
  fetch it      : curl -o ${DEMO_NODE}.iso ${url}
  just headers  : curl -I ${url}
  a range       : curl -r 0-2047 ${url} | od -c | head
  see the diff  : node bin/isoproxy.js preview ${iso} --append "${DEMO_EDITS.append.join(' ')}" --set ipa-debug=0 --remove nomodeset
  admin API     : curl ${running.publicUrl}/api/v1/nodes
  metrics       : curl ${running.publicUrl}/metrics

Press Ctrl-C to stop.
`);
  const bmc = withBmc ? await demoBmc(url) : undefined;
  await new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void running
        .close()
        .then(() => bmc?.close())
        .then(() => store.close())
        .then(done);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}

/** Where the demo keeps its ISO and its store: --data-dir (the last given), ISOPROXY_DATA_DIR, or ./.data. */
export function demoDataDir(argv: readonly string[], env: NodeJS.ProcessEnv): string {
  let flag: string | undefined;
  argv.forEach((a, i) => {
    if (a === '--data-dir' && argv[i + 1] !== undefined) flag = argv[i + 1];
    else if (a.startsWith('--data-dir=')) flag = a.slice('--data-dir='.length);
  });
  return resolve(flag ?? env.ISOPROXY_DATA_DIR ?? '.data');
}

/**
 * A simulated BMC, attached to the demo node by the Redfish controller exactly as `isoproxy
 * attach` would: it downloads the image by 256 KiB ranges and checks the node's edits are in it.
 */
async function demoBmc(url: string): Promise<{ close(): Promise<void> } | undefined> {
  const sim = createBmcSimulator({ systems: 1, fetch: 'ranges', powerState: 'Off', expect: [...DEMO_EDITS.append, 'ipa-debug=0'] });
  const listening = await sim.listen(0, '127.0.0.1');
  try {
    const result = await attach({ bmc: listening.url, username: 'admin', password: 'password', imageUrl: url, bootMode: 'uefi', reset: true });
    console.log(
      `simulated BMC ${listening.url}: ${result.method} ${result.virtualMedia} <- ${url}, one-time boot from ${result.bootTarget}, power ${result.resetType ?? 'unchanged'}`,
    );
    const fetched = await sim.whenFetched(result.system.split('/').pop() ?? '1');
    console.log(
      fetched.verified
        ? `simulated BMC downloaded ${fetched.bytesRead} bytes in ${fetched.requests} requests and found the node's parameters in the image`
        : `simulated BMC could not verify the image: ${fetched.error ?? JSON.stringify(fetched.checks)}`,
    );
  } catch (err) {
    console.log(`simulated BMC: ${err instanceof Error ? err.message : String(err)}`);
  }
  return listening;
}
