// `isoproxy preview <iso> [edits]`: the diff of every boot config the edits change, the files
// added to the initramfs (mode, size, sha256) and the initrds they go to, and a summary of the
// patch set (in place / relocated, bytes overlaid, base copies, tail size). Reads metadata only.

import { parseArgs } from 'node:util';
import { normalizeEdits } from '../bootconfig/index.js';
import { computePatchSet } from '../remaster/compute.js';
import { unifiedDiff } from '../remaster/diff.js';
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
    for (const { where, report: r } of report.edits) {
      for (const c of r.configs) {
        if (!c.changed) continue;
        const before =
          where === 'iso'
            ? base.ctx.configs.find((f) => f.path === c.path)?.bytes
            : base.ctx.fats.find((f) => f.label === where)?.configs.find((f) => f.path === c.path)?.bytes;
        const prefix = where === 'iso' ? '' : `[${where}]`;
        process.stdout.write(unifiedDiff(prefix + c.path, before ? Buffer.from(before).toString('latin1') : '', c.text));
      }
      for (const m of r.missing) console.log(`# ${where}: ${m.from} includes ${m.target}, which is not in the image`);
      for (const cy of r.cycles) console.log(`# ${where}: include cycle ${cy.join(' -> ')}`);
    }
    console.log('');
    console.log(`kernel lines: ${report.kernelLines}`);
    for (const c of report.changes) {
      const where = c.where === 'iso' ? '' : ` in ${c.where}`;
      const lba = c.lba !== undefined ? ` to LBA ${c.lba}` : '';
      console.log(`${c.placement}${lba}: ${c.path}${where} (${c.oldSize} -> ${c.newSize} bytes)`);
    }
    for (const f of report.files) console.log(`file added: ${f.path} mode ${f.mode}, ${f.size} bytes, sha256 ${f.sha256}`);
    for (const i of report.initrds)
      console.log(
        `initrd extended to LBA ${i.lba}: ${i.path} (${i.oldSize} -> ${i.newSize} bytes; ${report.archiveBytes}-byte archive appended; loaded by ${i.loadedBy.join(', ')})`,
      );
    for (const p of report.checksumFilesUpdated) console.log(`checksums updated: ${p}`);
    if (report.implantedMd5Removed) console.log('implanted media checksum (implantisomd5) blanked: media checks will skip');
    console.log(
      `patch set: ${patchSet.overlays.length} overlays, ${report.overlayBytes} bytes, ${patchSet.copies.length} base copies, tail ${report.tailBytes} bytes; image ${patchSet.baseSize} -> ${patchSet.size} bytes; digest ${patchSet.digest.slice(0, 16)}`,
    );
    for (const w of report.warnings) console.log(`warning: ${w}`);
    return 0;
  } finally {
    await base.source.close();
  }
}
