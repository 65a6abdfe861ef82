// Public surface of src/fat: reading and patching FAT12/16/32 images (El Torito EFI images and
// ESPs) and a small deterministic mkfs for fixtures and the demo image.

export { parseBootSector, clusterOffset, type FatGeometry, type FatType } from './boot-sector.js';
export type { FatOverlay, FatBytes } from './cow-image.js';
export { openFat, listFatFiles, listFatTree, findFatFile, readFatFile, type FatVolume, type FatFile, type FatTreeEntry } from './volume.js';
export { planFatWrites, FatWriteConflictError, type FatWrite, type FatWritePlan, type FatWriteSummary } from './patch.js';
export { formatFat, FatSpecError, type FatFormatSpec } from './format.js';
