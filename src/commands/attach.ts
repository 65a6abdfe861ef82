// `isoproxy attach`: point a BMC's Redfish VirtualMedia at a node's isoproxy URL and set a
// one-time boot from the virtual CD, optionally resetting the machine. Exit codes: 0 attached
// (warnings, e.g. a BMC that keeps the override Continuous, go to stderr), 1 the BMC step failed
// (the message names the step), 2 usage.

import { IsoproxyError } from '../errors.js';
import { describeBoot } from '../redfish/boot.js';
import { attach } from '../redfish/controller.js';
import { BMC_OPTIONS, BMC_USAGE, UsageError, bmcTarget, parse } from '../redfish/cli-options.js';

const USAGE = `Usage: isoproxy attach --bmc URL --username U --password-file F --node NAME [options]

Inserts <proxy>/iso/<node>.iso (or --url) into the BMC's virtual CD and sets a one-time boot from it.

${BMC_USAGE}
  --proxy URL             isoproxy's base URL as the BMC reaches it (default http://127.0.0.1:8080)
  --url IMAGE_URL         the image URL to insert, instead of <proxy>/iso/<node>.iso
  --boot-mode MODE        uefi or legacy (default: leave the mode as it is)
  --reset                 power on (when off) or force-restart after attaching
  -h, --help              show this help`;

const OPTIONS = {
  ...BMC_OPTIONS,
  proxy: { type: 'string' },
  url: { type: 'string' },
  'boot-mode': { type: 'string' },
  reset: { type: 'boolean' },
} as const;

/** The image URL of a node behind an isoproxy base URL. */
export function nodeImageUrl(proxy: string, node: string): string {
  return `${proxy.replace(/\/+$/, '')}/iso/${encodeURIComponent(node)}.iso`;
}

export async function run(argv: string[]): Promise<number> {
  try {
    const values = parse(argv, OPTIONS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const target = await bmcTarget(values);
    if (values.url && values.proxy) throw new UsageError('give either --url or --proxy, not both');
    if (!values.url && !values.node) throw new UsageError('--node is required (or --url)');
    const mode = values['boot-mode'];
    if (mode !== undefined && mode !== 'uefi' && mode !== 'legacy')
      throw new UsageError(`--boot-mode must be uefi or legacy, not ${JSON.stringify(mode)}`);
    const imageUrl = values.url ?? nodeImageUrl(values.proxy ?? 'http://127.0.0.1:8080', values.node as string);
    const result = await attach({ ...target, imageUrl, ...(mode ? { bootMode: mode } : {}), reset: values.reset === true });
    const boot =
      result.bootEnabled === 'Once'
        ? `boot once from ${result.bootTarget}`
        : `boot from ${result.bootTarget}, kept Continuous by the BMC until detach (--restore-boot ${describeBoot(result.previousBoot)})`;
    const reset = result.resetType ? `; reset ${result.resetType}` : '';
    console.log(`attached ${result.image} to system ${result.system} on ${result.bmc} (${result.virtualMedia} by ${result.method}); ${boot}${reset}`);
    for (const w of result.warnings) console.error(`isoproxy attach: warning: ${w}`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`isoproxy attach: ${err.message} (see --help)`);
      return 2;
    }
    if (err instanceof IsoproxyError) {
      console.error(`isoproxy attach: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
