// `isoproxy ironic check <node>`: what isoproxy would serve for an Ironic node, before the node is
// deployed. It asks Ironic once (no cache), then prints the URL to set as instance_info/boot_iso,
// the resolved base and edits, every reason the node would be refused, warnings about settings
// that would defeat the proxy, and (with --preview) the diff of the boot configs the edits make.

import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { normalizeEdits } from '../bootconfig/edits.js';
import type { Edits } from '../bootconfig/types.js';
import { IronicConfigError } from '../ironic/errors.js';
import type { Resolution } from '../ironic/mapping.js';
import { IRONIC_PARSE_ARGS_OPTIONS, ironicOptionsHelp, parseIronicOptions } from '../ironic/options.js';
import { createIronicSource } from '../ironic/source.js';
import { computePatchSet } from '../remaster/compute.js';
import { unifiedDiff } from '../remaster/diff.js';
import { buildIndex } from '../iso9660/index.js';
import { prepareBase } from '../remaster/base-context.js';
import { checkUpstreamAllowed, openUpstream } from '../upstream/open.js';
import { openLocalBase } from './local-base.js';

const HELP = `Usage: isoproxy ironic check <node> [options]

Asks Ironic about <node> (UUID or name) and shows what isoproxy would serve at
/ironic/<node>.iso: the URL to set as instance_info/boot_iso, the base and the edits, whether
the node would be refused and why, and warnings about settings that bypass the proxy.

Options:
  --public-url URL       base URL BMCs use to reach isoproxy (env ISOPROXY_PUBLIC_URL; default http://127.0.0.1:8080)
  --allow-upstream P     upstream allowlist prefix, as for serve (repeatable; env ISOPROXY_ALLOW_UPSTREAM)
  --allow-dir D          directory file:// bases may come from (repeatable; env ISOPROXY_ALLOW_DIR)
  --preview              also read the base's metadata and print the boot-config diff
  --json                 print the result as JSON
  -h, --help             this help

Ironic options (as for serve):
${ironicOptionsHelp()}`;

/** BMCs reject longer URLs (iDRAC: RAC0720). */
export const MAX_BMC_URL_LENGTH = 255;

export interface CheckReport {
  readonly node: {
    readonly uuid: string;
    readonly name: string | null;
    readonly provisionState: string | null;
    readonly deployInterface: string | null;
    readonly bootInterface: string | null;
    readonly driver: string | null;
  };
  readonly url: string;
  readonly currentBootIso: string | null;
  readonly base: Resolution['base'] | null;
  readonly kernelAppendParams: Resolution['append'] | null;
  readonly edits: Edits | null;
  readonly served: boolean;
  readonly refusals: ReadonlyArray<{ readonly reason: string; readonly detail: string }>;
  readonly warnings: readonly string[];
  readonly commands: readonly string[];
}

/** The warnings of `ironic check` for a resolved node and its URL (pure; tested on its own). */
export function checkWarnings(res: Resolution, url: string): string[] {
  const ii = (res.node.instance_info ?? {}) as Record<string, unknown>;
  const warnings: string[] = [];
  const source = ii['ramdisk_image_download_source'];
  if (source === undefined || source === null) {
    warnings.push(
      'instance_info/ramdisk_image_download_source is not set: Ironic then uses [deploy]ramdisk_image_download_source, whose default is "local" (Ironic downloads a full copy of every per-node image into its own cache and hands the BMC that copy). Set it to "http".',
    );
  } else if (source !== 'http') {
    warnings.push(
      `instance_info/ramdisk_image_download_source is ${JSON.stringify(source)}, not "http": Ironic ${source === 'local' ? 'downloads a full copy of every per-node image into its own cache and hands the BMC that copy, which is exactly what isoproxy removes' : "does not hand the BMC isoproxy's URL"}.`,
    );
  }
  if (res.node.deploy_interface !== 'ramdisk')
    warnings.push(
      `deploy_interface is ${JSON.stringify(res.node.deploy_interface ?? null)}, not "ramdisk": only the ramdisk deploy boots the node from instance_info/boot_iso.`,
    );
  if (!/virtual-media$/.test(res.node.boot_interface ?? ''))
    warnings.push(
      `boot_interface is ${JSON.stringify(res.node.boot_interface ?? null)}, not a virtual-media one (e.g. redfish-virtual-media): the BMC will not mount the URL.`,
    );
  if (url.length > MAX_BMC_URL_LENGTH)
    warnings.push(
      `the URL is ${url.length} characters, over the ${MAX_BMC_URL_LENGTH} many BMCs accept (iDRAC RAC0720); use a shorter --public-url or the node's name.`,
    );
  const current = ii['boot_iso'];
  if (typeof current === 'string' && current !== url) warnings.push(`instance_info/boot_iso is ${current}, not this URL.`);
  return warnings;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    console.log(HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'check') {
    console.error(`isoproxy ironic: unknown subcommand ${JSON.stringify(sub)}\n\n${HELP}`);
    return 2;
  }
  let values: Record<string, unknown>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        ...IRONIC_PARSE_ARGS_OPTIONS,
        'public-url': { type: 'string' },
        'allow-upstream': { type: 'string', multiple: true },
        'allow-dir': { type: 'string', multiple: true },
        preview: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    console.error(`isoproxy ironic check: ${(err as Error).message.split('\n')[0]}\n\n${HELP}`);
    return 2;
  }
  if (values['help']) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`isoproxy ironic check: expected one node (UUID or name), got ${positionals.length}\n\n${HELP}`);
    return 2;
  }
  const ident = positionals[0]!;
  const options = parseIronicOptions({ flags: values, env: process.env });
  if (!options) throw new IronicConfigError('--ironic-url (or ISOPROXY_IRONIC_URL) is required');
  const list = (flag: string, env: string): string[] =>
    [...((values[flag] as string[] | undefined) ?? []), ...(process.env[env] ?? '').split(',')].map((s) => s.trim()).filter((s) => s !== '');
  const allowedPrefixes = list('allow-upstream', 'ISOPROXY_ALLOW_UPSTREAM');
  const allowedDirs = list('allow-dir', 'ISOPROXY_ALLOW_DIR');
  const publicUrl = String(values['public-url'] ?? process.env['ISOPROXY_PUBLIC_URL'] ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');

  const source = createIronicSource(
    { ...options, checkUpstreamAllowed: (url) => checkUpstreamAllowed(url, { allowedPrefixes, allowedDirs }) },
    pino({ level: 'silent' }),
  );
  try {
    const res = await source.resolve(ident);
    if (!res) {
      console.error(`isoproxy ironic check: Ironic at ${options.url} has no node ${JSON.stringify(ident)}`);
      return 1;
    }
    const url = `${publicUrl}/ironic/${encodeURIComponent(ident)}.iso`;
    const n = res.node;
    const report: CheckReport = {
      node: {
        uuid: n.uuid,
        name: n.name ?? null,
        provisionState: n.provision_state ?? null,
        deployInterface: n.deploy_interface ?? null,
        bootInterface: n.boot_interface ?? null,
        driver: n.driver ?? null,
      },
      url,
      currentBootIso: typeof n.instance_info?.['boot_iso'] === 'string' ? (n.instance_info['boot_iso'] as string) : null,
      base: res.base ?? null,
      kernelAppendParams: res.append ?? null,
      edits: res.edits ?? null,
      served: res.refusals.length === 0,
      refusals: res.refusals.map((r) => ({ reason: r.reason, detail: r.detail })),
      warnings: checkWarnings(res, url),
      commands: [`baremetal node set ${n.uuid} --instance-info boot_iso=${url} --instance-info ramdisk_image_download_source=http`],
    };
    if (values['json']) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      printReport(report, allowedPrefixes.length + allowedDirs.length > 0);
    }
    if (values['preview'] && res.base && res.edits) await preview(res.base.url, res.edits, allowedPrefixes, allowedDirs);
    return report.served ? 0 : 1;
  } finally {
    await source.close();
  }
}

function printReport(r: CheckReport, allowlistGiven: boolean): void {
  const n = r.node;
  console.log(`node         ${n.name ?? '(no name)'} ${n.uuid}`);
  console.log(`             provision state ${n.provisionState}, driver ${n.driver}, deploy ${n.deployInterface}, boot ${n.bootInterface}`);
  console.log(`boot_iso     ${r.url}  (${r.url.length} characters)`);
  for (const c of r.commands) console.log(`  set it:    ${c}`);
  console.log(
    `base         ${r.base ? `${r.base.url}  (from ${r.base.from})` : '(none)'}${allowlistGiven ? '' : '  [allowlist not checked: give --allow-upstream / --allow-dir as for serve]'}`,
  );
  if (r.kernelAppendParams) console.log(`kernel_append_params  ${JSON.stringify(r.kernelAppendParams.value)}  (from ${r.kernelAppendParams.from})`);
  if (r.edits) {
    const e = r.edits as Edits & { files?: unknown };
    console.log(`edits        append ${JSON.stringify(e.append ?? [])}`);
    if (e.set) console.log(`             set ${JSON.stringify(e.set)}`);
    if (e.remove) console.log(`             remove ${JSON.stringify(e.remove)}`);
    if (e.separator) console.log(`             separator ${e.separator}`);
    if (e.files !== undefined)
      console.log(
        `             files ${Array.isArray(e.files) ? `${e.files.length} file(s)` : JSON.stringify(e.files)} (passed through; checked when served)`,
      );
  }
  console.log(r.served ? 'served       yes' : 'served       no');
  for (const x of r.refusals) console.log(`  refused:   ${x.reason}: ${x.detail}`);
  for (const w of r.warnings) console.log(`warning: ${w}`);
}

async function preview(baseUrl: string, edits: Edits, allowedPrefixes: string[], allowedDirs: string[]): Promise<void> {
  const core: Edits = {
    ...(edits.append ? { append: edits.append } : {}),
    ...(edits.set ? { set: edits.set } : {}),
    ...(edits.remove ? { remove: edits.remove } : {}),
    ...(edits.separator ? { separator: edits.separator } : {}),
  };
  const normalized = normalizeEdits(core);
  let close: () => Promise<void>;
  let ctx;
  if (baseUrl.startsWith('file://')) {
    const local = await openLocalBase(baseUrl);
    ctx = local.ctx;
    close = () => local.source.close();
  } else {
    // The operator asked for this base by name: read its metadata even when no allowlist was given.
    const upstream = await openUpstream(baseUrl, { allowedPrefixes: allowedPrefixes.length ? allowedPrefixes : [baseUrl], allowedDirs });
    close = () => upstream.close();
    try {
      ctx = await prepareBase(await buildIndex(upstream), upstream);
    } catch (err) {
      await close();
      throw err;
    }
  }
  try {
    const { patchSet, report } = computePatchSet(ctx, normalized);
    console.log('');
    for (const { where, report: er } of report.edits) {
      for (const c of er.configs) {
        if (!c.changed) continue;
        const before =
          where === 'iso'
            ? ctx.configs.find((f) => f.path === c.path)?.bytes
            : ctx.fats.find((f) => f.label === where)?.configs.find((f) => f.path === c.path)?.bytes;
        process.stdout.write(
          unifiedDiff((where === 'iso' ? '' : `[${where}]`) + c.path, before ? Buffer.from(before).toString('latin1') : '', c.text),
        );
      }
    }
    console.log(
      `patch set: ${patchSet.overlays.length} overlays, ${report.overlayBytes} bytes; image ${patchSet.baseSize} -> ${patchSet.size} bytes`,
    );
    for (const w of report.warnings) console.log(`warning: ${w}`);
  } finally {
    await close();
  }
}
