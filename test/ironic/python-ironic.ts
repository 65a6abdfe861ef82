// Runs Debian's python3-ironic code on inputs from a test: one Python process, a JSON array of
// cases in, a JSON array of answers out. Used to check that isoproxy's reading of Ironic's
// kernel-parameter rules gives the same answers as Ironic itself.

import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

/** Why the Ironic-backed tests skip, or undefined when python3-ironic is importable. */
export function ironicMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import ironic.drivers.utils, ironic.cmd.singleprocess'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found`;
  return r.status === 0 ? undefined : 'python3-ironic is not installed (apt-get install python3-ironic python3-ironicclient)';
}

// biome-ignore lint/complexity/noUselessStringRaw: raw, so a backslash added to the script later reaches its interpreter as written
const SCRIPT = String.raw`
import json, sys, types
from ironic.common import exception
from ironic.drivers import utils
from ironic.common.kernel_parameters import KernelCommandLine
cases = json.load(sys.stdin)
out = []
for c in cases:
    try:
        if c['op'] == 'parse':
            KernelCommandLine.parse(c['text'])
            out.append({'ok': True})
        else:
            node = types.SimpleNamespace(instance_info=c['ii'], driver_info=c['di'])
            out.append({'ok': True, 'value': utils.get_kernel_append_params(node, default=c['default'])})
    except exception.InvalidParameterValue as e:
        out.append({'ok': False, 'error': str(e)})
    except Exception as e:
        out.append({'ok': False, 'error': type(e).__name__ + ': ' + str(e), 'crash': True})
json.dump(out, sys.stdout)
`;

export type PyCase = { op: 'parse'; text: string } | { op: 'append'; ii: Record<string, unknown>; di: Record<string, unknown>; default: string };

export type PyAnswer = { ok: true; value?: string } | { ok: false; error: string; crash?: boolean };

export function runIronic(cases: readonly PyCase[]): PyAnswer[] {
  const r = spawnSync(PYTHON, ['-c', SCRIPT], {
    input: JSON.stringify(cases),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, PYTHONWARNINGS: 'ignore' },
  });
  if (r.status !== 0) throw new Error(`python3-ironic script failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as PyAnswer[];
}
