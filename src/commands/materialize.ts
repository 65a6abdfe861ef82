// `isoproxy materialize <iso> <out.iso> [edits]`: writes base ⊕ patch set to a file — the image
// a BMC would download for these edits. Streams; memory stays bounded whatever the image size.

import { open, rename, rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { normalizeEdits } from '../bootconfig/index.js';
import type { ByteSource } from '../byte-source.js';
import { computePatchSet } from '../remaster/compute.js';
import type { PatchSet } from '../overlay/patch-set.js';
import { streamVirtual } from '../overlay/virtual-image.js';
import { editHelp, editOptions, editsFromArgs } from './edit-args.js';
import { openLocalBase } from './local-base.js';

const HELP = `Usage: isoproxy materialize <iso> <out.iso> [--append "TOKENS"] [--set K=V] [--remove K] [--file PATH=@LOCAL [--file-mode MODE]]

Writes the node image (the base ISO with its boot configs edited and the files appended to its
initrds) to out.iso and prints its size and patch-set digest.

${editHelp}
  -h, --help          this help`;

const CHUNK = 1024 * 1024;

/** Base bytes as a stream of 1 MiB reads. */
export function sourceStream(source: ByteSource) {
  return async function* (offset: number, length: number): AsyncGenerator<Uint8Array> {
    for (let at = offset; at < offset + length; at += CHUNK) yield await source.read(at, Math.min(CHUNK, offset + length - at));
  };
}

/** Writes base ⊕ patch set to `out` atomically (temporary file, then rename). */
export async function writeVirtualImage(patch: PatchSet, source: ByteSource, out: string): Promise<void> {
  const tmp = `${out}.tmp-${process.pid}`;
  const handle = await open(tmp, 'w');
  try {
    if (patch.size > 0) {
      for await (const chunk of streamVirtual(patch, sourceStream(source), 0, patch.size - 1, new AbortController().signal)) {
        let done = 0;
        while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    await rename(tmp, out);
  } catch (err) {
    await handle.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    allowPositionals: true,
    tokens: true,
    options: { ...editOptions, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals.length !== 2) {
    console.error(`isoproxy materialize: expected <iso> <out.iso>\n\n${HELP}`);
    return 2;
  }
  const edits = normalizeEdits(editsFromArgs(values, tokens));
  const base = await openLocalBase(positionals[0]!);
  try {
    const { patchSet, report } = computePatchSet(base.ctx, edits);
    await writeVirtualImage(patchSet, base.source, positionals[1]!);
    const files = report.files.length > 0 ? `, ${report.files.length} files added to ${report.initrds.length} initrd(s)` : '';
    console.log(
      `${positionals[1]}: ${patchSet.size} bytes, ${report.changes.length} files changed${files}, patch set ${report.overlayBytes} bytes, digest ${patchSet.digest}`,
    );
    return 0;
  } finally {
    await base.source.close();
  }
}
