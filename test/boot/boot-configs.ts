// Reads a layout's boot configs back out of an ISO with the reference tools (xorriso for the
// ISO tree, mtools for FAT images), wherever they live: in the tree, inside a FAT image that is a
// file of the tree, or inside the appended EFI partition. Boots only ever read one copy per
// firmware path (see the report of boot.test.ts), so the other copies are checked here: with the
// proxy, every copy must carry the node's edits.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, scratchDir } from '../helpers/tools.js';

const env = (): NodeJS.ProcessEnv => ({ ...process.env, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C' });

/** Byte offset of GPT partition `n` of an ISO's system area, from xorriso's report. */
async function gptPartitionOffset(iso: string, n: number): Promise<number> {
  const report = (await run('xorriso', ['-indev', iso, '-report_system_area', 'plain'], { env: env() })).stdout;
  const m = new RegExp(`^GPT start and size :\\s+${n}\\s+(\\d+)\\s+\\d+`, 'm').exec(report);
  if (!m) throw new Error(`${iso}: no GPT partition ${n} in xorriso's system area report`);
  return Number(m[1]) * 512;
}

/**
 * The text of each boot config named as in BootLayout.bootConfigs: `path` in the ISO tree,
 * `<fat image path>:<path>` inside a FAT image of the tree, `esp.img:<path>` inside the
 * appended EFI partition (GPT partition 2).
 */
export async function readBootConfigs(iso: string, bootConfigs: readonly string[]): Promise<Record<string, string>> {
  const scratch = await scratchDir('isoproxy-boot-configs-');
  try {
    const extract = async (path: string): Promise<string> => {
      const dest = join(scratch.dir, path.replaceAll('/', '_'));
      await run('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', `/${path}`, dest], { env: env() });
      return dest;
    };
    const out: Record<string, string> = {};
    for (const name of bootConfigs) {
      const colon = name.indexOf(':');
      if (colon < 0) {
        out[name] = await readFile(await extract(name), 'utf8');
        continue;
      }
      const image = name.slice(0, colon);
      const inside = name.slice(colon + 1);
      const fat = image === 'esp.img' ? `${iso}@@${await gptPartitionOffset(iso, 2)}` : await extract(image);
      out[name] = (await run('mtype', ['-i', fat, `::/${inside}`], { env: env() })).stdout;
    }
    return out;
  } finally {
    await scratch.cleanup();
  }
}

/** The kernel lines of a grub or isolinux config: `linux`, `linuxefi` and isolinux `append`. */
export function kernelLines(config: string): string[] {
  return config
    .split('\n')
    .filter((l) => /^\s*(linux|linuxefi|append)\s/i.test(l))
    .map((l) => l.trim());
}
