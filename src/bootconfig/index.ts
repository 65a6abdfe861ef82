// Public API of src/bootconfig: finding boot configs (grub, isolinux/syslinux/extlinux,
// systemd-boot) and applying a node's kernel-parameter edits to them. Pure text in, text out.

export type { ConfigSyntax, Edits, EditedConfig, EditReport, LineChange } from './types.js';
export type { BootConfigDiscovery, DiscoveredConfig, DiscoveredKernelLine, EditBootConfigsOptions, NormalizedEdits } from './model.js';
export { editsDigestInput, hasCommandLineEdits, isEmptyEdits, KERNEL_CMDLINE_MAX, normalizeEdits, type NormalizeEditsOptions } from './edits.js';
export {
  DEFAULT_FILE_LIMITS,
  DEFAULT_FILE_MODE,
  filesBytes,
  normalizeFiles,
  parseFileMode,
  type FileEdit,
  type FileLimits,
  type NormalizedFile,
} from './files.js';
export { findInitrdReferences, initrdResolver, type InitrdReference } from './initrd.js';
export { isBootConfigCandidate } from './paths.js';
export { discoverBootConfigs, editBootConfigs } from './edit.js';
