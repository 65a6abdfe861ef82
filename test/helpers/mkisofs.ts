// The El Torito part of an `xorriso -as mkisofs` argument list that many fixtures share: isolinux
// for BIOS, optionally an EFI image as the alternative entry, optionally an isohybrid MBR (and then
// the GPT that marks the EFI image as a partition). Recipes are hashed for fixture caches, so the
// order of the arguments is part of the contract: keep it.

export interface ElToritoOptions {
  /** isohdpfx.bin for `-isohybrid-mbr`; without it the image is not isohybrid. */
  readonly isohybridMbr?: string;
  /** The BIOS boot image (`-b`), relative to the tree. */
  readonly biosImage?: string;
  /** The boot catalog (`-c`), relative to the tree. */
  readonly catalog?: string;
  /**
   * `-boot-load-size` of the BIOS image in 512-byte sectors; 4 without it. null leaves the option
   * out, and xorriso then loads the whole boot image.
   */
  readonly bootLoadSize?: number | null;
  /** The EFI image (`-e`) of the alternative entry, relative to the tree; none without it. */
  readonly efiImage?: string;
  /**
   * Instead of `efiImage`: an EFI image (a host path) appended as partition 2 and named by the
   * alternative entry (as on Ubuntu), `-append_partition 2 0xef P -eltorito-alt-boot
   * -e --interval:appended_partition_2:all:: -no-emul-boot`; never with `-isohybrid-gpt-basdat`.
   */
  readonly efiPartition?: string;
}

/**
 * `[-isohybrid-mbr M] -b B -c C -no-emul-boot [-boot-load-size 4] -boot-info-table
 * [-eltorito-alt-boot -e E -no-emul-boot [-isohybrid-gpt-basdat]]`, the last only with both an
 * isohybrid MBR and an EFI image; with `efiPartition`, the appended partition and its alternative
 * entry instead of the bracket after `-boot-info-table`.
 */
export function elToritoArgs(options: ElToritoOptions = {}): string[] {
  const { isohybridMbr, biosImage = 'isolinux/isolinux.bin', catalog = 'isolinux/boot.cat', bootLoadSize = 4, efiImage, efiPartition } = options;
  if (efiImage !== undefined && efiPartition !== undefined) throw new Error('elToritoArgs: efiImage and efiPartition are exclusive');
  const args: string[] = [];
  if (isohybridMbr !== undefined) args.push('-isohybrid-mbr', isohybridMbr);
  args.push('-b', biosImage, '-c', catalog, '-no-emul-boot');
  if (bootLoadSize !== null) args.push('-boot-load-size', String(bootLoadSize));
  args.push('-boot-info-table');
  if (efiImage !== undefined) {
    args.push('-eltorito-alt-boot', '-e', efiImage, '-no-emul-boot');
    if (isohybridMbr !== undefined) args.push('-isohybrid-gpt-basdat');
  }
  if (efiPartition !== undefined) {
    args.push('-append_partition', '2', '0xef', efiPartition, '-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot');
  }
  return args;
}
