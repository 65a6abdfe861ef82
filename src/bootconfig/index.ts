// Public API of src/bootconfig: finding boot configs (grub, isolinux/syslinux/extlinux,
// systemd-boot) and applying a node's kernel-parameter edits to them. Pure text in, text out.

export type { ConfigSyntax, Edits, EditedConfig, EditReport, LineChange } from './types.js';
export type { BootConfigDiscovery, DiscoveredConfig, DiscoveredKernelLine, EditBootConfigsOptions, NormalizedEdits } from './model.js';
export { editsDigestInput, isEmptyEdits, KERNEL_CMDLINE_MAX, normalizeEdits } from './edits.js';
export { isBootConfigCandidate } from './paths.js';
export { discoverBootConfigs, editBootConfigs } from './edit.js';
