// `isoproxy inspect <file-or-url> [--json]`: indexes an ISO (metadata only) and prints its volume
// label, trees, El Torito boot entries, hybrid partitions and the boot config files found by
// name, each with its size and slack. http(s) URLs are read through src/upstream's HTTP source.

import { parseArgs } from 'node:util';
import { checkRange, openFileSource, type ByteSource } from '../byte-source.js';
import { IsoproxyError } from '../errors.js';
import { openHttpSource } from '../upstream/http-source.js';
import { listFatFiles, openFat } from '../fat/index.js';
import { buildIndex } from '../iso9660/index.js';
import { SECTOR_SIZE, type IsoIndex } from '../iso9660/types.js';

const HELP = `Usage: isoproxy inspect <file-or-url> [--json]

Reads an ISO image's metadata (never its file data) and prints:
  volume label, directory trees (ISO 9660, Rock Ridge, Joliet, ISO 9660:1999), El Torito boot
  entries (platform, image path or LBA, size and where the size came from), MBR/GPT partitions,
  and the boot config files found by name with their size and slack.

Slack is the number of unused bytes in a file's last 2048-byte sector: (2048 - size % 2048) % 2048,
so 0 for an empty file or one that fills its last sector; a config can grow by that much in place.
Configs inside an El Torito EFI (FAT) image are listed too; there slack is counted in the file's
last FAT cluster instead.

Options:
  --json     print the report as JSON
  -h, --help show this help`;

export interface BootConfigInfo {
  readonly path: string;
  readonly kind: 'grub' | 'syslinux' | 'systemd-boot';
  readonly sizeBytes: number;
  readonly slackBytes: number;
  readonly lba: number;
}

/** Unused bytes in the file's last 2048-byte sector. */
export function slackBytes(sizeBytes: number): number {
  return (SECTOR_SIZE - (sizeBytes % SECTOR_SIZE)) % SECTOR_SIZE;
}

/** Boot configs by name: grub.cfg/loopback.cfg, isolinux/syslinux configs, systemd-boot entries. */
export function findBootConfigs(index: IsoIndex): BootConfigInfo[] {
  const out: BootConfigInfo[] = [];
  for (const f of index.files) {
    const kind = bootConfigKind(f.path);
    if (!kind) continue;
    out.push({ path: f.path, kind, sizeBytes: f.size, slackBytes: slackBytes(f.size), lba: f.extents[0]?.lba ?? 0 });
  }
  return out;
}

export interface EfiImageConfigInfo {
  /** loadRba of the EFI boot entry whose FAT image holds the file. */
  readonly loadRba: number;
  readonly path: string;
  readonly kind: BootConfigInfo['kind'];
  readonly sizeBytes: number;
  /** Unused bytes in the file's last FAT cluster. */
  readonly slackBytes: number;
}

/** EFI images larger than this are not opened by inspect (it would read them whole). */
const MAX_EFI_IMAGE_BYTES = 64 * 1024 * 1024;

/** Boot configs inside each EFI boot image; a FAT that cannot be read becomes a warning. */
async function findEfiImageConfigs(source: ByteSource, index: IsoIndex, warnings: string[]): Promise<EfiImageConfigInfo[]> {
  const out: EfiImageConfigInfo[] = [];
  const seen = new Set<number>();
  for (const e of index.elTorito?.entries ?? []) {
    if (e.platform !== 'efi' || seen.has(e.loadRba)) continue;
    seen.add(e.loadRba);
    const start = e.loadRba * SECTOR_SIZE;
    if (e.sizeBytes > MAX_EFI_IMAGE_BYTES || start + e.sizeBytes > source.size) {
      warnings.push(`EFI image at LBA ${e.loadRba}: ${e.sizeBytes} bytes not opened (over ${MAX_EFI_IMAGE_BYTES} bytes or past the image end)`);
      continue;
    }
    try {
      const vol = openFat(await source.read(start, e.sizeBytes));
      const cluster = vol.geometry.clusterSizeBytes;
      for (const f of listFatFiles(vol)) {
        const kind = bootConfigKind(f.path);
        if (kind) out.push({ loadRba: e.loadRba, path: f.path, kind, sizeBytes: f.size, slackBytes: (cluster - (f.size % cluster)) % cluster });
      }
    } catch (err) {
      if (!(err instanceof IsoproxyError)) throw err;
      warnings.push(`EFI image at LBA ${e.loadRba}: not a readable FAT file system (${err.message})`);
    }
  }
  return out.sort((a, b) => a.loadRba - b.loadRba || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function bootConfigKind(path: string): BootConfigInfo['kind'] | undefined {
  const parts = path.toLowerCase().split('/').filter(Boolean);
  const name = parts.at(-1) ?? '';
  const dirs = parts.slice(0, -1);
  if (name === 'grub.cfg' || name === 'loopback.cfg') return 'grub';
  if (name === 'isolinux.cfg' || name === 'syslinux.cfg' || name === 'extlinux.conf') return 'syslinux';
  if (name.endsWith('.cfg') && dirs.some((d) => d === 'isolinux' || d === 'syslinux')) return 'syslinux';
  if (name.endsWith('.conf') && dirs.length >= 2 && dirs.at(-1) === 'entries' && dirs.at(-2) === 'loader') return 'systemd-boot';
  return undefined;
}

/**
 * A URL as a byte source for inspect: src/upstream's HTTP source (every 206 checked) behind a
 * small in-memory LRU of 64 KiB blocks, so the many small metadata reads of buildIndex cost a
 * few range requests instead of one each.
 */
export async function openUrlSource(url: string): Promise<ByteSource & { close(): Promise<void> }> {
  const BLOCK = 64 * 1024;
  const MAX_BLOCKS = 256;
  const upstream = await openHttpSource(url);
  const size = upstream.size;
  const blocks = new Map<number, Uint8Array>();
  const block = async (n: number): Promise<Uint8Array> => {
    let b = blocks.get(n);
    if (b) {
      blocks.delete(n);
      blocks.set(n, b); // most recently used last
      return b;
    }
    const start = n * BLOCK;
    b = await upstream.read(start, Math.min(size, start + BLOCK) - start);
    blocks.set(n, b);
    if (blocks.size > MAX_BLOCKS) blocks.delete(blocks.keys().next().value!);
    return b;
  };
  return {
    size,
    close: () => upstream.close(),
    async read(offset, length) {
      checkRange(offset, length, size);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const at = offset + done;
        const b = await block(Math.floor(at / BLOCK));
        const within = at % BLOCK;
        const n = Math.min(length - done, b.length - within);
        out.set(b.subarray(within, within + n), done);
        done += n;
      }
      return out;
    },
  };
}

export interface InspectReport {
  readonly image: string;
  readonly imageSize: number;
  readonly volumeId: string;
  readonly volumeSpaceSize: number;
  readonly trees: IsoIndex['trees'];
  readonly boot: NonNullable<IsoIndex['elTorito']>['entries'];
  readonly partitions: IsoIndex['partitions'];
  readonly bootConfigs: BootConfigInfo[];
  readonly efiImageConfigs: EfiImageConfigInfo[];
  readonly fileCount: number;
  readonly directoryCount: number;
  readonly bytesRead: number;
  readonly warnings: readonly string[];
}

export async function report(image: string, index: IsoIndex, source: ByteSource): Promise<InspectReport> {
  const warnings = [...index.warnings];
  const efiImageConfigs = await findEfiImageConfigs(source, index, warnings);
  return {
    image,
    imageSize: index.imageSize,
    volumeId: index.volumeId,
    volumeSpaceSize: index.volumeSpaceSize,
    trees: index.trees,
    boot: index.elTorito?.entries ?? [],
    partitions: index.partitions,
    bootConfigs: findBootConfigs(index),
    efiImageConfigs,
    fileCount: index.files.length,
    directoryCount: index.directories.length,
    bytesRead: index.bytesRead,
    warnings,
  };
}

const SIZE_FROM: Record<string, string> = { 'directory-record': 'directory record', 'fat-boot-sector': 'FAT boot sector', catalog: 'catalog sector count' };

export function formatReport(r: InspectReport, index: IsoIndex): string {
  const lines: string[] = [];
  lines.push(`Image:       ${r.image} (${r.imageSize} bytes)`);
  lines.push(`Volume:      ${r.volumeId || '(no label)'} (${r.volumeSpaceSize} blocks of 2048)`);
  const trees = r.trees.map((t) => {
    const extra = t.rockRidge ? ' + Rock Ridge' : t.kind === 'joliet' ? ` level ${index.descriptors[t.descriptorIndex]?.jolietLevel ?? '?'}` : '';
    return `${t.kind}${extra}`;
  });
  lines.push(`Trees:       ${trees.join(', ') || '(none)'}`);
  lines.push(`Contents:    ${r.fileCount} files, ${r.directoryCount} directories`);
  lines.push('Boot entries:');
  if (r.boot.length === 0) lines.push('  (no El Torito catalog)');
  for (const e of r.boot) {
    const where = e.path ?? `LBA ${e.loadRba} (outside the ISO tree)`;
    const flags = [e.bootable ? '' : 'not bootable', e.bootInfoTable ? 'boot info table' : ''].filter(Boolean).join(', ');
    lines.push(`  ${e.platform.padEnd(5)} ${where}  ${e.sizeBytes} bytes from ${SIZE_FROM[e.sizeFrom]}${e.path ? `, LBA ${e.loadRba}` : ''}${flags ? `  [${flags}]` : ''}`);
  }
  lines.push('Partitions:');
  if (r.partitions.length === 0) lines.push('  (none)');
  for (const p of r.partitions) {
    const tags = [p.efiSystem ? 'EFI system' : '', p.bootable ? 'active' : '', p.name ? JSON.stringify(p.name) : ''].filter(Boolean).join(', ');
    lines.push(`  ${p.scheme} ${p.number}  type ${p.type}  start ${p.startByte}  size ${p.sizeBytes}${tags ? `  [${tags}]` : ''}`);
  }
  lines.push('Boot configs (slack = unused bytes in the last 2048-byte sector):');
  if (r.bootConfigs.length === 0) lines.push('  (none found)');
  for (const c of r.bootConfigs) lines.push(`  ${c.path}  ${c.kind}  ${c.sizeBytes} bytes, slack ${c.slackBytes}`);
  for (const c of r.efiImageConfigs) {
    lines.push(`  [EFI image at LBA ${c.loadRba}] ${c.path}  ${c.kind}  ${c.sizeBytes} bytes, slack ${c.slackBytes} (in its FAT cluster)`);
  }
  for (const w of r.warnings) lines.push(`Warning: ${w}`);
  const pct = r.imageSize > 0 ? ((100 * r.bytesRead) / r.imageSize).toFixed(2) : '0';
  lines.push(`Index:       ${r.bytesRead} metadata bytes read (${pct}% of the image)`);
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<number> {
  let values: { json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    console.error(`isoproxy inspect: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(`isoproxy inspect: expected one <file-or-url>, got ${positionals.length}\n\n${HELP}`);
    return 2;
  }
  const target = positionals[0]!;
  let close: (() => Promise<void>) | undefined;
  try {
    let source: ByteSource;
    if (/^https?:\/\//i.test(target)) {
      const remote = await openUrlSource(target);
      close = () => remote.close();
      source = remote;
    } else {
      const path = target.startsWith('file://') ? decodeURIComponent(new URL(target).pathname) : target;
      const file = await openFileSource(path);
      close = () => file.close();
      source = file;
    }
    const index = await buildIndex(source);
    const r = await report(target, index, source);
    console.log(values.json ? JSON.stringify(r, null, 2) : formatReport(r, index));
    return 0;
  } catch (err) {
    console.error(`isoproxy inspect: ${target}: ${describe(err)}`);
    return 1;
  } finally {
    await close?.();
  }
}

function describe(err: unknown): string {
  if (err instanceof IsoproxyError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'no such file';
  if (e?.code === 'EISDIR') return 'is a directory';
  if (e?.code === 'EACCES') return 'permission denied';
  return e instanceof Error ? e.message : String(err);
}
