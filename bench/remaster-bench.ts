// Per-node cost, measured two ways on the same base and the same edits:
//  - isoproxy: src/remaster's computePatchSet called directly on an indexed base (median and
//    p99 latency, patch-set bytes), plus the index itself
//    (metadata bytes read and time);
//  - the full-remastering baseline a conductor would run without isoproxy: per node, write the
//    edited configs (and the EFI FAT image with its edited grub.cfg, and md5sum.txt) and
//    `xorriso -indev base -outdev nodeN -boot_image any replay -update ...`; time and disk per node.
// The edited texts given to xorriso are the ones the remaster engine computed, so both sides make
// the same change.

import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { normalizeEdits, type Edits } from '../src/bootconfig/index.js';
import { openFileSource } from '../src/byte-source.js';
import { buildIndex } from '../src/iso9660/index.js';
import { patchSetBytes } from '../src/overlay/patch-set.js';
import { prepareBase, type BaseContext } from '../src/remaster/base-context.js';
import { computePatchSet, type RemasterResult } from '../src/remaster/compute.js';
import type { BaseImage } from './base-image.js';
import { execFileText } from './procs.js';
import { percentile } from './stats.js';

/** Node i's edits: distinct per node, of the kind a conductor sets (agent URL, node identity, static IP). */
export function nodeEdits(i: number): Edits {
  const n = String(i).padStart(4, '0');
  return {
    append: [`ipa-api-url=http://10.0.0.1:6385`, `ipa-node-uuid=00000000-0000-4000-8000-00000000${n}`],
    set: {
      BOOTIF: `01-52-54-00-00-${n.slice(0, 2)}-${n.slice(2)}`,
      ip: `10.1.${Math.floor(i / 250)}.${(i % 250) + 2}::10.1.0.1:255.255.0.0:node-${n}:eth0:none`,
    },
    remove: ['ipa-debug'],
  };
}

export interface IndexFigures {
  readonly imageBytes: number;
  readonly files: number;
  readonly metadataBytesRead: number;
  readonly metadataFraction: number;
  readonly indexMs: number;
  readonly prepareMs: number;
}

export interface PatchSetFigures {
  readonly nodes: number;
  readonly medianMs: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly patchSetBytesMedian: number;
  readonly patchSetBytesMax: number;
  readonly tailBytesMax: number;
  readonly placements: string;
}

export interface Remastered {
  readonly ctx: BaseContext;
  readonly index: IndexFigures;
  readonly patchSets: PatchSetFigures;
  /** The engine's result for node i (i < nodes), for the xorriso baseline's edited texts. */
  result(i: number): RemasterResult;
}

/** Indexes the base from its file and computes `nodes` distinct patch sets, timing each. */
export async function measureRemaster(image: BaseImage, nodes: number): Promise<Remastered> {
  const source = await openFileSource(image.path);
  try {
    const t0 = performance.now();
    const index = await buildIndex(source);
    const t1 = performance.now();
    const ctx = await prepareBase(index, source);
    const t2 = performance.now();
    // One warm-up computation (JIT), not counted.
    computePatchSet(ctx, normalizeEdits(nodeEdits(999_999)));
    const ms: number[] = [];
    const bytes: number[] = [];
    let tailMax = 0;
    const placements = new Set<string>();
    for (let i = 0; i < nodes; i++) {
      const edits = normalizeEdits(nodeEdits(i));
      const s = performance.now();
      const r = computePatchSet(ctx, edits, { node: `node-${i}` });
      ms.push(performance.now() - s);
      bytes.push(patchSetBytes(r.patchSet));
      tailMax = Math.max(tailMax, r.report.tailBytes);
      for (const c of r.report.changes) placements.add(`${c.placement}`);
    }
    return {
      ctx,
      index: {
        imageBytes: source.size,
        files: index.files.length,
        metadataBytesRead: index.bytesRead,
        metadataFraction: index.bytesRead / source.size,
        indexMs: t1 - t0,
        prepareMs: t2 - t1,
      },
      patchSets: {
        nodes,
        medianMs: percentile(ms, 0.5),
        p99Ms: percentile(ms, 0.99),
        maxMs: Math.max(...ms),
        patchSetBytesMedian: percentile(bytes, 0.5),
        patchSetBytesMax: Math.max(...bytes),
        tailBytesMax: tailMax,
        placements: [...placements].sort().join(', '),
      },
      result: (i) => computePatchSet(ctx, normalizeEdits(nodeEdits(i)), { node: `node-${i}` }),
    };
  } finally {
    await source.close();
  }
}

export interface XorrisoFigures {
  readonly nodes: number;
  readonly secondsMedian: number;
  readonly secondsMax: number;
  /** Bytes on disk of one node's image (allocated blocks). */
  readonly diskBytesPerNode: number;
  readonly command: string;
}

function md5(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * Full remaster of `nodes` nodes with xorriso, one at a time (each output deleted after it is
 * measured, so the run needs the disk of one copy).
 */
export async function xorrisoBaseline(image: BaseImage, remastered: Remastered, nodes: number, dir: string): Promise<XorrisoFigures> {
  await mkdir(dir, { recursive: true });
  // What a conductor extracts once per base: the EFI image and md5sum.txt.
  const baseEfi = join(dir, 'base-efi.img');
  const baseSums = join(dir, 'base-md5sum.txt');
  await rm(baseEfi, { force: true });
  await rm(baseSums, { force: true });
  await execFileText('xorriso', ['-osirrox', 'on', '-indev', image.path, '-extract', image.efiImage, baseEfi, '-extract', '/md5sum.txt', baseSums]);
  const sumsText = await readFile(baseSums, 'latin1');
  const seconds: number[] = [];
  let disk = 0;
  let command = '';
  for (let i = 0; i < nodes; i++) {
    const r = remastered.result(i);
    const nodeDir = join(dir, `node-${i}`);
    await mkdir(nodeDir, { recursive: true });
    const out = join(dir, `node-${i}.iso`);
    await rm(out, { force: true });
    const t0 = performance.now();
    const updates: string[] = [];
    const newSums = new Map<string, string>();
    for (const { where, report } of r.report.edits) {
      for (const c of report.configs) {
        if (!c.changed) continue;
        const local = join(nodeDir, `${where === 'iso' ? 'iso' : 'efi'}-${c.path.replaceAll('/', '_')}`);
        await writeFile(local, c.text, 'latin1');
        if (where === 'iso') {
          updates.push('-update', local, c.path);
          newSums.set(c.path, md5(Buffer.from(c.text, 'latin1')));
        } else {
          // The FAT image's config: a copy of efi.img per node, patched with mcopy.
          const efi = join(nodeDir, 'efi.img');
          await copyFile(baseEfi, efi);
          await execFileText('mcopy', ['-o', '-i', efi, local, `::${c.path}`]);
          updates.push('-update', efi, image.efiImage);
          newSums.set(image.efiImage, md5(await readFile(efi)));
        }
      }
    }
    const sums = sumsText.replace(/^([0-9a-f]{32})( +\.?)(\/\S+)$/gm, (line, _old: string, sep: string, path: string) => {
      const d = newSums.get(path);
      return d ? `${d}${sep}${path}` : line;
    });
    const sumsPath = join(nodeDir, 'md5sum.txt');
    await writeFile(sumsPath, sums, 'latin1');
    updates.push('-update', sumsPath, '/md5sum.txt');
    const args = ['-indev', image.path, '-outdev', out, '-boot_image', 'any', 'replay', ...updates];
    command = `xorriso ${args.join(' ').replaceAll(dir, '<dir>')}`;
    await execFileText('xorriso', args, { timeoutMs: 600_000 });
    seconds.push((performance.now() - t0) / 1000);
    const st = await stat(out);
    disk = Math.max(disk, st.blocks * 512);
    await rm(out, { force: true });
    await rm(nodeDir, { recursive: true, force: true });
  }
  return { nodes, secondsMedian: percentile(seconds, 0.5), secondsMax: Math.max(...seconds), diskBytesPerNode: disk, command };
}
