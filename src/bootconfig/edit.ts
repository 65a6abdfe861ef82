// editBootConfigs and discoverBootConfigs: the public entry points over one file system's
// candidate files. Discovery (discover.ts) finds the kernel command lines; the edit engine
// (cmdline.ts) turns each into splices; this file applies them, checks bootloader line limits,
// and reports every config with its new text and changed lines. Pure and deterministic.

import { EditValidationError } from '../errors.js';
import { editCommand } from './cmdline.js';
import { analyzeBootConfigs, listedWarnings } from './discover.js';
import { KERNEL_CMDLINE_MAX } from './edits.js';
import { quoteGrubArg } from './grub.js';
import type { BootConfigDiscovery, EditBootConfigsOptions, NormalizedEdits, Splice } from './model.js';
import { SYSLINUX_MAX_LINE, splitWords } from './syslinux.js';
import { applySplices, normalizeSplices, physicalLines } from './text.js';
import type { ConfigSyntax, EditedConfig, EditReport, LineChange } from './types.js';

function quoteFor(syntax: ConfigSyntax): (arg: string) => string {
  return syntax === 'grub' ? quoteGrubArg : (arg) => arg;
}

function lineChanges(before: string, after: string): LineChange[] {
  const a = physicalLines(before);
  const b = physicalLines(after);
  const out: LineChange[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i]?.content ?? '';
    const y = b[i]?.content ?? '';
    if (x !== y) out.push({ line: i + 1, before: x, after: y });
  }
  return out;
}

/**
 * Applies `edits` to every kernel command line in `files` (the candidate files of one file system,
 * path -> text decoded as latin1). Returns every boot config found, changed or not, in path order.
 * Throws EditValidationError when an edited command line would exceed the kernel's limit.
 */
export function editBootConfigs(files: ReadonlyMap<string, string>, edits: NormalizedEdits, options: EditBootConfigsOptions = {}): EditReport {
  const max = options.maxCmdlineBytes ?? KERNEL_CMDLINE_MAX;
  const analysis = analyzeBootConfigs(files);
  const warnings = [...analysis.warnings];
  const configs: EditedConfig[] = [];
  for (const f of analysis.files) {
    const text = files.get(f.path) as string;
    const splices: Splice[] = [];
    for (const cmd of f.commands) {
      const r = editCommand(text, cmd, edits, quoteFor(f.syntax), max);
      splices.push(...r.splices);
      warnings.push(...r.warnings);
    }
    const newText = splices.length > 0 ? applySplices(text, normalizeSplices(splices)) : text;
    const changes = newText === text ? [] : lineChanges(text, newText);
    if (f.syntax === 'syslinux') {
      for (const c of changes) {
        if (c.after.length > SYSLINUX_MAX_LINE) {
          const added = splitWords(c.after, 0, c.after.length).find((w) => !c.before.split(/[ \t]+/).includes(w.value));
          throw new EditValidationError(
            added?.value ?? 'edits',
            `${f.path} line ${c.line} would be ${c.after.length} bytes; syslinux reads at most ${SYSLINUX_MAX_LINE}`,
          );
        }
      }
    }
    configs.push({ path: f.path, syntax: f.syntax, kernelLines: f.commands.length, changed: newText !== text, text: newText, changes });
  }
  return { configs, cycles: analysis.cycles, missing: analysis.missing, warnings: listedWarnings(warnings) };
}

/** The same analysis without edits, for `isoproxy inspect`. */
export function discoverBootConfigs(files: ReadonlyMap<string, string>): BootConfigDiscovery {
  const analysis = analyzeBootConfigs(files);
  return {
    configs: analysis.files.map((f) => ({
      path: f.path,
      syntax: f.syntax,
      kernelLines: f.commands.length,
      kernels: f.commands.map((c) => ({
        line: c.line,
        directive: c.directive,
        kernel: c.kernel,
        args: c.segments.flatMap((s) => s.tokens.map((t) => t.value)),
      })),
      includes: f.includes,
      includedBy: f.includedBy,
    })),
    cycles: analysis.cycles,
    missing: analysis.missing,
    warnings: listedWarnings(analysis.warnings),
  };
}
