// A node's kernel-parameter edits and the result of applying them to boot configs.

import type { FileEdit } from './files.js';

/** As a user or the admin API gives them. */
export interface Edits {
  /** Tokens appended to every kernel command line (the default kind of edit). */
  readonly append?: readonly string[];
  /** key=value: replace the value wherever the key appears on a kernel line, else append. Applied in key order as given. */
  readonly set?: Readonly<Record<string, string>>;
  /** Keys removed from every kernel line, with or without a value. */
  readonly remove?: readonly string[];
  /** Where edits go on a grub line with a `---` separator: 'before' (default) or 'after'. */
  readonly separator?: 'before' | 'after';
  /** Files added to the root file system of the booted initramfs (see files.ts). */
  readonly files?: readonly FileEdit[];
}

export type ConfigSyntax = 'grub' | 'syslinux' | 'systemd-boot';

export interface LineChange {
  /** 1-based line number (line count never changes). */
  readonly line: number;
  readonly before: string;
  readonly after: string;
}

export interface EditedConfig {
  readonly path: string;
  readonly syntax: ConfigSyntax;
  /** Kernel lines found (edited or not). */
  readonly kernelLines: number;
  readonly changed: boolean;
  readonly text: string;
  readonly changes: readonly LineChange[];
}

export interface EditReport {
  /** Every boot config found, in path order; `changed` says which the edits touched. */
  readonly configs: readonly EditedConfig[];
  /** Include chains that loop, each as the list of paths. */
  readonly cycles: readonly (readonly string[])[];
  /** Includes that name a file not in the set: { from, target }. */
  readonly missing: ReadonlyArray<{ readonly from: string; readonly target: string }>;
  readonly warnings: readonly string[];
}
