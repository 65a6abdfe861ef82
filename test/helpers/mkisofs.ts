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
  /** The EFI image (`-e`) of the alternative entry, relative to the tree; none without it. */
  readonly efiImage?: string;
}

/**
 * `[-isohybrid-mbr M] -b B -c C -no-emul-boot -boot-load-size 4 -boot-info-table
 * [-eltorito-alt-boot -e E -no-emul-boot [-isohybrid-gpt-basdat]]`, the last only with both an
 * isohybrid MBR and an EFI image.
 */
export function elToritoArgs(options: ElToritoOptions = {}): string[] {
  const { isohybridMbr, biosImage = 'isolinux/isolinux.bin', catalog = 'isolinux/boot.cat', efiImage } = options;
  const args: string[] = [];
  if (isohybridMbr !== undefined) args.push('-isohybrid-mbr', isohybridMbr);
  args.push('-b', biosImage, '-c', catalog, '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table');
  if (efiImage !== undefined) {
    args.push('-eltorito-alt-boot', '-e', efiImage, '-no-emul-boot');
    if (isohybridMbr !== undefined) args.push('-isohybrid-gpt-basdat');
  }
  return args;
}
