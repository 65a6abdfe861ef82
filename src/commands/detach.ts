// `isoproxy detach`: eject a BMC's virtual CD media and put the boot override back (cleared, or
// what `--restore-boot` names, as `attach` printed it for a BMC that keeps overrides). Exit codes:
// 0 detached (warnings go to stderr), 1 the BMC step failed (the message names the step), 2 usage.

import { IsoproxyError } from '../errors.js';
import { describeBoot, type BootState } from '../redfish/boot.js';
import { detach } from '../redfish/controller.js';
import { BMC_OPTIONS, BMC_USAGE, UsageError, bmcTarget, parse } from '../redfish/cli-options.js';

const USAGE = `Usage: isoproxy detach --bmc URL --username U --password-file F [options]

Ejects the BMC's virtual CD media and clears the one-time boot override.

${BMC_USAGE}
  --restore-boot T/E      put this override back instead of clearing it, e.g. Hdd/Continuous
                          (what attach printed for a BMC that keeps overrides)
  -h, --help              show this help`;

const OPTIONS = { ...BMC_OPTIONS, 'restore-boot': { type: 'string' } } as const;

function restoreBoot(v: string): BootState {
  const m = /^([A-Za-z]+)\/(Disabled|Once|Continuous)$/.exec(v);
  if (!m) throw new UsageError(`--restore-boot must be TARGET/ENABLED (e.g. Hdd/Continuous), not ${JSON.stringify(v)}`);
  return { target: m[1] ?? null, enabled: m[2] ?? null };
}

export async function run(argv: string[]): Promise<number> {
  try {
    const values = parse(argv, OPTIONS);
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    const restore = values['restore-boot'] !== undefined ? restoreBoot(values['restore-boot']) : undefined;
    const result = await detach({ ...(await bmcTarget(values)), ...(restore ? { restoreBoot: restore } : {}) });
    const what = result.ejected.length > 0 ? `ejected ${result.ejected.join(', ')}` : 'no media was inserted';
    const boot = result.boot.enabled === 'Disabled' ? 'boot override cleared' : `boot override set to ${describeBoot(result.boot)}`;
    console.log(`detached system ${result.system} on ${result.bmc}${values.node ? ` (node ${values.node})` : ''}: ${what}; ${boot}`);
    for (const w of result.warnings) console.error(`isoproxy detach: warning: ${w}`);
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
