// Types of the boot-config module beyond the shared contract in types.ts: normalized edits, the
// options of editBootConfigs, the result of discoverBootConfigs, and the internal model every
// syntax parser produces (a kernel command line as argument tokens with their offsets in the
// file's text), which the one edit engine in cmdline.ts rewrites.

import type { ConfigSyntax } from './types.js';
import type { NormalizedFile } from './files.js';

/** Edits after validation (see edits.ts): duplicates dropped, every field present. */
export interface NormalizedEdits {
  /** Tokens to append, in the order given, duplicates dropped. */
  readonly append: readonly string[];
  /** [key, value] pairs in the order given. */
  readonly set: readonly (readonly [string, string])[];
  /** Keys to remove, sorted (order does not matter). */
  readonly remove: readonly string[];
  readonly separator: 'before' | 'after';
  /**
   * Files to add to the initramfs, sorted by path (files.ts). Optional so that edits normalized
   * before files existed (and plain objects built by tests) still type-check; absent means none.
   */
  readonly files?: readonly NormalizedFile[];
}

export interface EditBootConfigsOptions {
  /**
   * Longest kernel command line allowed, in bytes, counting what the bootloader adds
   * (BOOT_IMAGE=, initrd=). Default 2047: x86 COMMAND_LINE_SIZE is 2048 with the final NUL.
   */
  readonly maxCmdlineBytes?: number;
}

/** One kernel command line as discovery reports it. */
export interface DiscoveredKernelLine {
  /** 1-based line of the directive that holds the arguments (APPEND, linux, options). */
  readonly line: number;
  /** The directive: 'linux', 'linuxefi', 'linux16', 'append', 'kernel', 'options'. */
  readonly directive: string;
  /** The kernel image as written. */
  readonly kernel: string;
  /** The arguments as the kernel will see them (quotes removed, variables as written). */
  readonly args: readonly string[];
}

export interface DiscoveredConfig {
  readonly path: string;
  readonly syntax: ConfigSyntax;
  readonly kernelLines: number;
  readonly kernels: readonly DiscoveredKernelLine[];
  /** Resolved paths this file includes (INCLUDE, source, configfile, ...), in file order. */
  readonly includes: readonly string[];
  /** Paths of the files that include this one, sorted. */
  readonly includedBy: readonly string[];
}

export interface BootConfigDiscovery {
  /** Boot configs in path order (see discover.ts for which candidates are listed). */
  readonly configs: readonly DiscoveredConfig[];
  readonly cycles: readonly (readonly string[])[];
  readonly missing: ReadonlyArray<{ readonly from: string; readonly target: string }>;
  readonly warnings: readonly string[];
}

/** One argument of a kernel command line, located in its file's text. */
export interface ArgToken {
  /** Offsets of the raw text (quotes included) in the file's text: [start, end). */
  readonly start: number;
  readonly end: number;
  /** The argument as the kernel sees it (grub quotes and escapes removed). */
  readonly value: string;
  /** The raw text spans a newline (grub quotes or line continuation): never rewritten. */
  readonly multiline: boolean;
}

/** A run of arguments on one directive (a kernel command line may span several). */
export interface ArgSegment {
  readonly tokens: readonly ArgToken[];
  /** Where tokens appended at the end of this segment go: after its last token or keyword. */
  readonly end: number;
  /** syslinux `APPEND -` (explicitly empty): the `-` is replaced when something is appended. */
  readonly placeholder?: { readonly start: number; readonly end: number };
}

/** A kernel command line found in a file: what one edit is applied to. */
export interface KernelCommand {
  readonly path: string;
  readonly line: number;
  readonly directive: string;
  readonly kernel: string;
  /** At least one segment; new tokens go to the last one. */
  readonly segments: readonly ArgSegment[];
  /** Bytes the bootloader adds to the command line (BOOT_IMAGE=..., initrd=...). */
  readonly overheadBytes: number;
  /**
   * Initrds this line loads, as written (syslinux INITRD and `initrd=`, systemd-boot `initrd`).
   * grub loads them with separate `initrd` commands: see GrubAnalysis.initrds.
   */
  readonly initrds?: readonly string[];
  /** syslinux: the configuration's directory, which relative initrd paths start from. */
  readonly cwd?: string;
}

/** A replacement of [start, end) of a file's text. */
export interface Splice {
  readonly start: number;
  readonly end: number;
  readonly text: string;
}

/** An include found in a file, before resolution. */
export interface IncludeRef {
  readonly line: number;
  readonly target: string;
  /** Syntax of the included file (grub's syslinux_source reads syslinux). */
  readonly syntax: ConfigSyntax;
  /** syslinux CONFIG: a new configuration, not a textual include. */
  readonly newSession?: boolean;
}
