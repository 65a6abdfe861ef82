// `isoproxy inspect <file-or-url> [--files] [--json]`: indexes an ISO (its metadata, plus the
// boot-config candidates and EFI images the engine reads) and prints its volume label, trees,
// El Torito boot entries, hybrid partitions and the boot configs the engine would edit, each
// with its size and slack; with --files, every file with its name in each tree and its extents.
// http(s) URLs are read through src/upstream's HTTP source. The parts live in ./inspect/.

import { parseArgs } from 'node:util';
import { openFileSource, type ByteSource } from '../byte-source.js';
import { IsoproxyError } from '../errors.js';
import { buildIndex } from '../iso9660/index.js';
import { formatReport, report } from './inspect/report.js';
import { openUrlSource } from './inspect/url-source.js';

export { findBootConfigs, slackBytes, type BootConfigInfo, type EfiImageConfigInfo } from './inspect/boot-configs.js';
export { listFiles, type FileListing, type TreeNames } from './inspect/files.js';
export { formatReport, report, type InspectError, type InspectReport } from './inspect/report.js';
export { openUrlSource } from './inspect/url-source.js';

const HELP = `Usage: isoproxy inspect <file-or-url> [--files] [--json]

Reads an ISO image's metadata and the few files the remaster engine reads (boot-config
candidates, EFI boot images; never the rest of the file data) and prints:
  volume label, directory trees (ISO 9660, Rock Ridge, Joliet, ISO 9660:1999), El Torito boot
  entries (platform, image path or LBA, size and where the size came from), MBR/GPT partitions,
  and the boot configs the engine edits, found as it finds them, with size, slack and kernel lines.

Slack is the number of unused bytes in a file's last 2048-byte sector: (2048 - size % 2048) % 2048,
so 0 for an empty file or one that fills its last sector; a config can grow by that much in place.
Configs inside an El Torito EFI (FAT) image or an EFI system partition are listed too; there slack
is counted in the file's last FAT cluster instead.

Errors are problems that stop the engine from serving the image as it is, e.g. a truncated
download whose boot configs or EFI image lie past its end. They are listed with their code and
byte offset (under "errors" with --json), the rest of the report is still printed, and the exit
status is 1.

Options:
  --files    list every file: LBA of its first extent, size, path, its name in each tree
             (iso9660, rr = Rock Ridge, joliet, iso9660:1999) and, when several, its extents
  --json     print the report as JSON
  -h, --help show this help

Exit status: 0 the image was read and has no errors; 1 it could not be read or has errors;
2 usage error.`;

export async function run(argv: string[]): Promise<number> {
  let values: { json?: boolean; files?: boolean; help?: boolean };
  let positionals: string[];
  try {
    const options = { json: { type: 'boolean' }, files: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } as const;
    ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, options }));
  } catch (err) {
    console.error(`isoproxy inspect: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`isoproxy inspect: expected one <file-or-url>, got ${positionals.length}\n\n${HELP}`);
    return 2;
  }
  const target = positionals[0]!;
  let close: (() => Promise<void>) | undefined;
  try {
    let source: ByteSource;
    if (/^https?:\/\//i.test(target)) {
      const remote = await openUrlSource(target);
      close = () => remote.close();
      source = remote;
    } else {
      const path = target.startsWith('file://') ? decodeURIComponent(new URL(target).pathname) : target;
      const file = await openFileSource(path);
      close = () => file.close();
      source = file;
    }
    const index = await buildIndex(source);
    const r = await report(target, index, source, { files: values.files === true });
    console.log(values.json ? JSON.stringify(r, null, 2) : formatReport(r, index));
    // The report is printed whole (an operator wants to see what else is right or wrong), but a
    // script must not go on to serve an image the engine would refuse: say so and exit non-zero.
    const first = r.errors[0];
    if (!first) return 0;
    const more = r.errors.length > 1 ? ` (and ${r.errors.length - 1} more error${r.errors.length > 2 ? 's' : ''})` : '';
    console.error(`isoproxy inspect: ${target}: ${first.code} ${first.message}${more}`);
    return 1;
  } catch (err) {
    console.error(`isoproxy inspect: ${target}: ${describe(err)}`);
    return 1;
  } finally {
    await close?.();
  }
}

function describe(err: unknown): string {
  if (err instanceof IsoproxyError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'no such file';
  if (e?.code === 'EISDIR') return 'is a directory';
  if (e?.code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(err);
}
