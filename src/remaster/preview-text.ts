// The text `isoproxy preview` prints for a node's edits on a base: the unified diff of every boot
// config the edits change (ISO tree and EFI FAT images), then the patch set in a few lines (where
// each change went, the files injected, checksums updated, warnings). Pure: base context and the
// remaster result in, text out. The status page shows the same text when a node's edits are
// hovered (src/serving/node-diff.ts).

import type { BaseContext } from './base-context.js';
import type { RemasterResult } from './compute.js';
import { unifiedDiff } from './diff.js';

/** The boot-config diffs of `result`, then its summary: exactly what `isoproxy preview` prints. */
export function previewText(ctx: BaseContext, result: RemasterResult): string {
  const { patchSet, report } = result;
  const out: string[] = [];
  const line = (s: string): void => {
    out.push(`${s}\n`);
  };
  for (const { where, report: r } of report.edits) {
    for (const c of r.configs) {
      if (!c.changed) continue;
      const before =
        where === 'iso'
          ? ctx.configs.find((f) => f.path === c.path)?.bytes
          : ctx.fats.find((f) => f.label === where)?.configs.find((f) => f.path === c.path)?.bytes;
      const prefix = where === 'iso' ? '' : `[${where}]`;
      out.push(unifiedDiff(prefix + c.path, before ? Buffer.from(before).toString('latin1') : '', c.text));
    }
    for (const m of r.missing) line(`# ${where}: ${m.from} includes ${m.target}, which is not in the image`);
    for (const cy of r.cycles) line(`# ${where}: include cycle ${cy.join(' -> ')}`);
  }
  line('');
  line(`kernel lines: ${report.kernelLines}`);
  for (const c of report.changes) {
    const where = c.where === 'iso' ? '' : ` in ${c.where}`;
    const lba = c.lba !== undefined ? ` to LBA ${c.lba}` : '';
    line(`${c.placement}${lba}: ${c.path}${where} (${c.oldSize} -> ${c.newSize} bytes)`);
  }
  for (const f of report.files) line(`file added: ${f.path} mode ${f.mode}, ${f.size} bytes, sha256 ${f.sha256}`);
  for (const i of report.initrds)
    line(
      `initrd extended to LBA ${i.lba}: ${i.path} (${i.oldSize} -> ${i.newSize} bytes; ${report.archiveBytes}-byte archive appended; loaded by ${i.loadedBy.join(', ')})`,
    );
  for (const p of report.checksumFilesUpdated) line(`checksums updated: ${p}`);
  if (report.implantedMd5Removed) line('implanted media checksum (implantisomd5) blanked: media checks will skip');
  line(
    `patch set: ${patchSet.overlays.length} overlays, ${report.overlayBytes} bytes, ${patchSet.copies.length} base copies, tail ${report.tailBytes} bytes; image ${patchSet.baseSize} -> ${patchSet.size} bytes; digest ${patchSet.digest.slice(0, 16)}`,
  );
  for (const w of report.warnings) line(`warning: ${w}`);
  return out.join('');
}
