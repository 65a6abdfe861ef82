// `isoproxy detach`: eject a BMC's virtual CD media and clear the boot override. Exit codes:
// 0 detached, 1 the BMC step failed (the message names the step), 2 usage.

import { IsoproxyError } from '../errors.js';
import { detach } from '../redfish/controller.js';
import { BMC_OPTIONS, BMC_USAGE, UsageError, bmcTarget, parse } from '../redfish/cli-options.js';

const USAGE = `Usage: isoproxy detach --bmc URL --username U --password-file F [options]

Ejects the BMC's virtual CD media and clears the one-time boot override.

${BMC_USAGE}
  -h, --help              show this help`;

export async function run(argv: string[]): Promise<number> {
  try {
    const values = parse(argv, BMC_OPTIONS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const result = await detach(await bmcTarget(values));
    const what = result.ejected.length > 0 ? `ejected ${result.ejected.join(', ')}` : 'no media was inserted';
    console.log(`detached system ${result.system} on ${result.bmc}${values.node ? ` (node ${values.node})` : ''}: ${what}; boot override cleared`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`isoproxy detach: ${err.message} (see --help)`);
      return 2;
    }
    if (err instanceof IsoproxyError) {
      console.error(`isoproxy detach: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
