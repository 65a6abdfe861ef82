// systemd-boot loader entries (loader/entries/*.conf, Boot Loader Specification type #1): one
// `key value` per line, `#` lines are comments. The kernel command line is the concatenation of
// every `options` line, in order; an entry is a Linux entry when it has a `linux` key (`efi`
// entries run other EFI programs and are left alone). The EFI stub adds `initrd=<path>` for each
// `initrd` line. An entry without `options` cannot be given one without adding a line: reported.

import type { ArgSegment, KernelCommand } from './model.js';
import { splitWords } from './syslinux.js';
import { physicalLines } from './text.js';

export interface SystemdBootAnalysis {
  readonly commands: readonly KernelCommand[];
  readonly warnings: readonly string[];
}

export function analyzeSystemdBoot(path: string, text: string): SystemdBootAnalysis {
  let kernel: string | undefined;
  let kernelLine = 0;
  let initrdBytes = 0;
  const initrds: string[] = [];
  let firstOptionsLine = 0;
  const segments: ArgSegment[] = [];
  for (const line of physicalLines(text)) {
    const words = splitWords(text, line.start, line.end);
    const key = words[0];
    if (!key || key.value.startsWith('#')) continue;
    const args = words.slice(1);
    if (key.value === 'linux' && args[0]) {
      kernel = args[0].value;
      kernelLine = line.number;
    } else if (key.value === 'initrd') {
      for (const a of args) {
        initrdBytes += ' initrd='.length + a.value.length;
        initrds.push(a.value);
      }
    } else if (key.value === 'options') {
      if (firstOptionsLine === 0) firstOptionsLine = line.number;
      const last = args[args.length - 1];
      segments.push({ tokens: args, end: last ? last.end : key.end });
    }
  }
  if (kernel === undefined) return { commands: [], warnings: [] };
  if (segments.length === 0) {
    return {
      commands: [],
      warnings: [`${path} line ${kernelLine}: the entry has no options line; edits cannot add one without adding a line, so it is not edited`],
    };
  }
  return {
    commands: [{ path, line: firstOptionsLine, directive: 'options', kernel, segments, overheadBytes: initrdBytes, initrds }],
    warnings: [],
  };
}
