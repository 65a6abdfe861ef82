// `isoproxy preview <iso> [edits]`: the diff of every boot config the edits change, the files
// added to the initramfs (mode, size, sha256) and the initrds they go to, and a summary of the
// patch set (in place / relocated, bytes overlaid, base copies, tail size). Reads metadata only.

import { parseArgs } from 'node:util';
import { normalizeEdits } from '../bootconfig/index.js';
import { computePatchSet } from '../remaster/compute.js';
import { previewText } from '../remaster/preview-text.js';
import { editHelp, editOptions, editsFromArgs } from './edit-args.js';
import { openLocalBase } from './local-base.js';

const HELP = `Usage: isoproxy preview <iso> [--append "TOKENS"] [--set K=V] [--remove K] [--file PATH=@LOCAL [--file-mode MODE]] [--json]

Shows the unified diff of every boot config (ISO tree and EFI FAT images) that the edits change,
the files added to the initramfs with their sizes and sha256 digests, and a summary of the
node's patch set. The ISO is not modified.

${editHelp}
  --json              print the report as JSON
  -h, --help          this help`;

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    allowPositionals: true,
    tokens: true,
    options: { ...editOptions, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`isoproxy preview: expected one ISO, got ${positionals.length}\n\n${HELP}`);
    return 2;
  }
  const edits = normalizeEdits(editsFromArgs(values, tokens));
  const base = await openLocalBase(positionals[0]!);
  try {
    const { patchSet, report } = computePatchSet(base.ctx, edits);
    if (values.json) {
      console.log(
        JSON.stringify(
          {
            size: patchSet.size,
            baseSize: patchSet.baseSize,
            digest: patchSet.digest,
            overlays: patchSet.overlays.length,
            copies: patchSet.copies,
            ...report,
            edits: report.edits.map((e) => ({
              where: e.where,
              configs: e.report.configs.map((c) => ({
                path: c.path,
                syntax: c.syntax,
                kernelLines: c.kernelLines,
                changed: c.changed,
                changes: c.changes,
              })),
              cycles: e.report.cycles,
              missing: e.report.missing,
              warnings: e.report.warnings,
            })),
          },
          null,
          2,
        ),
      );
      return 0;
    }
    // Line by line through console.log, as the summary always was (the status page shows the same text).
    for (const line of previewText(base.ctx, { patchSet, report }).replace(/\n$/, '').split('\n')) console.log(line);
    return 0;
  } finally {
    await base.source.close();
  }
}
