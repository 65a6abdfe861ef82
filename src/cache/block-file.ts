// The on-disk layout of cached blocks. One file per block:
//   <cache dir>/<versionKey>.<blockSize>/<blockIndex>-<lengthBytes>-<crc32 hex>.blk
// The name carries the length and CRC-32 (zlib's polynomial) of the contents, so the index can be
// rebuilt from a directory listing and a stat, a short file is seen from its size, and a corrupt
// one from its checksum on first use. Files are written under a temporary name and renamed, so a
// crash leaves either the whole block or a *.tmp file that the next start removes.

export interface BlockName {
  readonly index: number;
  readonly lengthBytes: number;
  readonly crc: number;
}

const VERSION_DIR = /^([0-9a-f]{32})\.(\d{1,8})$/;
const BLOCK_FILE = /^(\d{1,12})-(\d{1,8})-([0-9a-f]{8})\.blk$/;

export function versionDirName(versionKey: string, blockSize: number): string {
  return `${versionKey}.${blockSize}`;
}

export function parseVersionDirName(name: string): { versionKey: string; blockSize: number } | undefined {
  const m = VERSION_DIR.exec(name);
  return m ? { versionKey: m[1]!, blockSize: Number(m[2]) } : undefined;
}

export function blockFileName(b: BlockName): string {
  return `${b.index}-${b.lengthBytes}-${(b.crc >>> 0).toString(16).padStart(8, '0')}.blk`;
}

export function parseBlockFileName(name: string): BlockName | undefined {
  const m = BLOCK_FILE.exec(name);
  if (!m) return undefined;
  const index = Number(m[1]);
  const lengthBytes = Number(m[2]);
  if (!Number.isSafeInteger(index) || lengthBytes <= 0) return undefined;
  return { index, lengthBytes, crc: parseInt(m[3]!, 16) };
}

export function isTempFileName(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}
