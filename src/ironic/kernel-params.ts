// The kernel parameters Ironic itself would put on a node's command line, reproduced from Debian's
// python3-ironic 1:21.4.4-0+deb12u3 (release 2023.1 with the 2026 security backports):
//
// - ironic/drivers/utils.py `get_kernel_append_params(node, default)`: the first of
//   instance_info/kernel_append_params, driver_info/kernel_append_params that `is not None`
//   (an empty string counts and wins), else `default`; in a found value every `%default%` is
//   replaced by `default or ''` (Python str.replace: all occurrences, no recursion); the result is
//   parsed by `KernelCommandLine.parse` (unless [conductor]disable_kernel_parameter_parsing, which
//   defaults to False; we always parse) and "sanitized" by removing \n, \r and \0. The default
//   itself is returned as is, unparsed.
// - ironic/drivers/modules/image_utils.py `ImageHandler`: for the redfish driver `default` is
//   `[redfish]kernel_append_params`, whose default (ironic/conf/redfish.py) is
//   'nofb nomodeset vga=normal'. `_prepare_iso_image` calls get_kernel_append_params only when it
//   builds an ISO from kernel + ramdisk and the node is *not* in a ramdisk deploy; with a
//   pre-built `boot_iso` it hands the URL over and applies nothing ("custom configuration will not
//   be available"), which is the gap isoproxy fills.
// - ironic/common/kernel_parameters.py and kernel_parameter_parser/grammar.g: the command line is
//   stripped, split at the last " -- " (what follows is init arguments, not parsed), and the rest
//   must match
//       parameter_list: parameter? (" "+ parameter)*
//       parameter: key | key "=" value
//       key: /[A-Za-z0-9_\-\.]+/
//       value: bare_value | "\"" value_with_spaces "\""
//       bare_value: printable ASCII '!'..'~' except '"'
//       value_with_spaces: the same plus ' '
//   Only a space separates parameters (not a tab). The class ranges of the two values are written
//   `[\!\#-\\.0-9:-\@A-Za-z\[-~]`; '#'..'\' with the others covers '!'..'~' without '"'.
//
// isoproxy then turns the parameters into `append` edits: `k="v"` becomes `k=v` (the kernel
// strips the quotes, linux/lib/cmdline.c next_arg); a quoted value with a space, and init
// arguments, cannot be expressed as edits and are refused with the reason.

/** Ironic's default [redfish]kernel_append_params (ironic/conf/redfish.py). */
export const IRONIC_DEFAULT_KERNEL_APPEND_PARAMS = 'nofb nomodeset vga=normal';

export type AppendSource = 'instance_info' | 'driver_info' | 'default';

export class KernelParamsError extends Error {
  readonly location: AppendSource;
  constructor(location: AppendSource, message: string) {
    super(`${location === 'default' ? 'the default kernel_append_params' : `${location}/kernel_append_params`}: ${message}`);
    this.location = location;
  }
}

export interface ParsedCommandLine {
  /** Parameters as written: `key`, `key=value` or `key="value"`. */
  readonly parameters: readonly string[];
  /** What follows the last " -- ", unparsed (Ironic keeps it verbatim). */
  readonly initArgs: string;
}

const KEY = /^[A-Za-z0-9_.-]+/;
const BARE_VALUE = /^[!#-~]+/;
const QUOTED_VALUE = /^"([!#-~ ]+)"/;
const INIT_ARG_PREAMBLE = ' -- ';
/** Python's str.strip() with no argument: Unicode whitespace; these are the ones ASCII text can hold. */
const PY_STRIP = /^[\s\x1c-\x1f\x85]+|[\s\x1c-\x1f\x85]+$/g;

/**
 * Ironic's `KernelCommandLine.parse` as a yes/no with the parameters: throws a message like
 * Ironic's ("did not parse at column N") when the text is malformed.
 */
export function parseIronicCommandLine(commandLine: string): ParsedCommandLine {
  const stripped = commandLine.replace(PY_STRIP, '');
  const at = stripped.lastIndexOf(INIT_ARG_PREAMBLE);
  const params = at < 0 ? stripped : stripped.slice(0, at);
  const initArgs = at < 0 ? '' : stripped.slice(at + INIT_ARG_PREAMBLE.length);
  const parameters: string[] = [];
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`kernel command line did not parse at column ${i + 1}: ${what}`);
  };
  while (i < params.length) {
    if (parameters.length > 0) {
      // One or more spaces, then a parameter (a trailing space is an error: a parameter must follow).
      if (params[i] !== ' ') fail(`expected a space, found ${JSON.stringify(params[i])}`);
      while (params[i] === ' ') i++;
      if (i >= params.length) fail('expected a parameter after the space');
    }
    const key = KEY.exec(params.slice(i));
    if (!key) fail(`expected a parameter name ([A-Za-z0-9_.-]), found ${JSON.stringify(params[i])}`);
    let token = key![0];
    i += token.length;
    if (params[i] === '=') {
      i++;
      const rest = params.slice(i);
      const quoted = QUOTED_VALUE.exec(rest);
      const bare = quoted ? null : BARE_VALUE.exec(rest);
      if (quoted) {
        token += `=${quoted[0]}`;
        i += quoted[0].length;
      } else if (bare) {
        token += `=${bare[0]}`;
        i += bare[0].length;
      } else fail(`expected a value after "=", found ${i < params.length ? JSON.stringify(params[i]) : 'the end'}`);
    }
    if (i < params.length && params[i] !== ' ') fail(`unexpected ${JSON.stringify(params[i])}`);
    parameters.push(token);
  }
  return { parameters, initArgs };
}

export interface KernelAppendParams {
  /** The string Ironic would append (after %default% expansion and sanitizing). */
  readonly value: string;
  readonly from: AppendSource;
}

/**
 * `get_kernel_append_params(node, default)` of ironic/drivers/utils.py. Throws KernelParamsError
 * where Ironic raises InvalidParameterValue (and where Ironic would crash on a non-string).
 */
export function ironicKernelAppendParams(
  node: { readonly instance_info?: unknown; readonly driver_info?: unknown },
  defaultParams: string,
): KernelAppendParams {
  for (const location of ['instance_info', 'driver_info'] as const) {
    const dict = node[location];
    const result = dict !== null && typeof dict === 'object' ? (dict as Record<string, unknown>)['kernel_append_params'] : undefined;
    // Ironic tests `is not None`: JSON null and a missing key both fall through.
    if (result === undefined || result === null) continue;
    if (typeof result !== 'string')
      throw new KernelParamsError(location, `must be a string, not ${Array.isArray(result) ? 'a list' : typeof result}`);
    const expanded = result.split('%default%').join(defaultParams);
    try {
      parseIronicCommandLine(expanded);
    } catch (err) {
      throw new KernelParamsError(location, `malformed kernel command line (Ironic refuses it too): ${(err as Error).message}`);
    }
    return { value: expanded.replace(/[\n\r\0]/g, ''), from: location };
  }
  return { value: defaultParams, from: 'default' };
}

/**
 * The `append` edits for a command line Ironic accepted. Throws KernelParamsError for what edits
 * cannot express (a quoted value with a space, init arguments, a line that does not parse).
 */
export function appendTokens(params: KernelAppendParams): string[] {
  let parsed: ParsedCommandLine;
  try {
    parsed = parseIronicCommandLine(params.value);
  } catch (err) {
    throw new KernelParamsError(params.from, (err as Error).message);
  }
  if (parsed.initArgs !== '')
    throw new KernelParamsError(params.from, `init arguments after " -- " (${JSON.stringify(parsed.initArgs)}) cannot be added by isoproxy's edits`);
  return parsed.parameters.map((p) => {
    const eq = p.indexOf('=');
    if (eq < 0 || p[eq + 1] !== '"') return p;
    const value = p.slice(eq + 2, -1);
    if (value.includes(' ')) throw new KernelParamsError(params.from, `${p} has a quoted value with a space, which isoproxy's edits cannot carry`);
    return `${p.slice(0, eq)}=${value}`;
  });
}
