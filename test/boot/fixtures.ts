// Builds the boot test's fixtures at test time with Debian's tools and caches them outside git:
// a kernel from Debian's kernel package (downloaded with apt-get download, unpacked, never
// installed), a busybox initramfs (initramfs.ts) and the five ISO layouts
// (layouts.ts). The cache directory is named by a hash of the recipe: the source text of the
// builder files and the versions of the kernel package and of every tool used, so a change to
// either rebuilds and an unchanged recipe costs nothing. Timestamps are pinned (SOURCE_DATE_EPOCH,
// xorriso's file dates, mtimes of the files put into FAT images), so the same recipe gives the
// same bytes, except grub-mkrescue's image: grub-mkrescue 2.06 stamps its own UUID from the clock.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingTools, run } from '../helpers/tools.js';
import { tryLock } from './host-lock.js';
import { buildInitramfs } from './initramfs.js';
import {
  BASELINE_PARAMETERS,
  GRUB_BIOS_MODULES,
  GRUB_EFI_MODULES,
  LAYOUT_NAMES,
  layoutRecipes,
  type GrubImage,
  type LayoutName,
  type LayoutRecipe,
  type Source,
} from './layouts.js';

export { BASELINE_PARAMETERS, LAYOUT_NAMES, type LayoutName } from './layouts.js';

export interface BootLayout {
  readonly name: LayoutName;
  readonly description: string;
  readonly isoPath: string;
  readonly sizeBytes: number;
  /** The default entry's kernel parameters (without the loader's initrd= and BOOT_IMAGE=). */
  readonly parameters: readonly string[];
  /** Where the kernel lines live (tree paths; `<fat image>:<path>` inside a FAT image). */
  readonly bootConfigs: readonly string[];
}

export interface BootFixtures {
  /** The cache directory holding everything below. */
  readonly dir: string;
  readonly kernelPath: string;
  /** e.g. linux-image-6.1.0-56-amd64=6.1.192-2 */
  readonly kernelPackage: string;
  readonly initrdPath: string;
  readonly baseline: readonly string[];
  readonly layouts: Readonly<Record<LayoutName, BootLayout>>;
}

/** Tools the builder runs; the boot test skips naming these when any is missing. */
export const FIXTURE_TOOLS = [
  'apt-get',
  'apt-cache',
  'dpkg-deb',
  'dpkg-query',
  'tar',
  'xorriso',
  'grub-mkimage',
  'grub-mkrescue',
  'mkfs.vfat',
  'mmd',
  'mcopy',
  'busybox',
] as const;

const TOOL_PACKAGES = [
  'xorriso',
  'grub-common',
  'grub-pc-bin',
  'grub-efi-amd64-bin',
  'isolinux',
  'syslinux-common',
  'busybox-static',
  'mtools',
  'dosfstools',
];
const BUILDER_FILES = ['fixtures.ts', 'layouts.ts', 'initramfs.ts'];
/** Fixed timestamps in the ISOs and FAT images: same recipe, same bytes. */
const SOURCE_DATE_EPOCH = '1700000000';
/** xorriso takes volume dates from SOURCE_DATE_EPOCH but file dates only when told (=seconds). */
const FILE_DATES = `=${SOURCE_DATE_EPOCH}`;
const BUSYBOX = '/bin/busybox';

export function missingFixtureTools(): string[] {
  return missingTools(...FIXTURE_TOOLS);
}

/** Where fixtures are cached: $ISOPROXY_BOOT_CACHE, else ~/.cache/isoproxy-boot. */
export function bootCacheRoot(): string {
  return process.env['ISOPROXY_BOOT_CACHE'] ?? join(homedir(), '.cache', 'isoproxy-boot');
}

let pending: Promise<BootFixtures> | undefined;

/** Builds the fixtures once per recipe (cached on disk) and once per process (single flight). */
export function ensureBootFixtures(): Promise<BootFixtures> {
  pending ??= ensure().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

async function ensure(): Promise<BootFixtures> {
  const kernelPackage = await currentKernelPackage();
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's ${field} format, not a template
  const toolVersions = (await run('dpkg-query', ['-W', '-f', '${Package}=${Version}\\n', ...TOOL_PACKAGES])).stdout;
  const here = dirname(fileURLToPath(import.meta.url));
  const hash = createHash('sha256');
  for (const f of BUILDER_FILES) hash.update(`${f}\0${await readFile(join(here, f), 'utf8')}\0`);
  hash.update(`${kernelPackage.name}=${kernelPackage.version}\0${toolVersions}`);
  const dir = join(bootCacheRoot(), hash.digest('hex').slice(0, 16));
  const manifestPath = join(dir, 'fixtures.json');
  const cached = async (): Promise<BootFixtures> => JSON.parse(await readFile(manifestPath, 'utf8')) as BootFixtures;
  if (existsSync(manifestPath)) return cached();

  // One build per host: test files run in parallel workers, and a build takes both cores.
  await mkdir(dirname(dir), { recursive: true });
  let unlock: (() => Promise<void>) | undefined = await tryLock(`${dir}.lock`);
  for (; !unlock; unlock = await tryLock(`${dir}.lock`)) {
    await new Promise((r) => setTimeout(r, 500));
    if (existsSync(manifestPath)) return cached();
  }
  try {
    if (existsSync(manifestPath)) return await cached();
    return await buildInto(dir, manifestPath, kernelPackage);
  } finally {
    await unlock();
  }
}

async function buildInto(dir: string, manifestPath: string, kernelPackage: KernelPackage): Promise<BootFixtures> {
  // Build beside the final directory and rename: a crash leaves no half-built cache behind.
  const partial = `${dir}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  try {
    const fixtures = await build(partial, dir, kernelPackage);
    await writeFile(join(partial, 'fixtures.json'), JSON.stringify(fixtures, null, 2) + '\n');
    try {
      await rename(partial, dir);
    } catch (err) {
      // Another process finished first; its result is as good as ours.
      if (!existsSync(manifestPath)) throw err;
      await rm(partial, { recursive: true, force: true });
    }
    await pruneOtherRecipes(dir);
    return fixtures;
  } catch (err) {
    await rm(partial, { recursive: true, force: true });
    throw err;
  }
}

/** Drops the fixtures of older recipes (about 80 MB each) once a new one is in place. */
async function pruneOtherRecipes(current: string): Promise<void> {
  const root = dirname(current);
  for (const name of await readdir(root)) {
    if (/^[0-9a-f]{16}$/.test(name) && join(root, name) !== current) await rm(join(root, name), { recursive: true, force: true });
  }
}

interface KernelPackage {
  readonly name: string;
  readonly version: string;
}

/** The versioned package linux-image-amd64 currently depends on, and its candidate version. */
async function currentKernelPackage(): Promise<KernelPackage> {
  const deps = (await run('apt-cache', ['depends', 'linux-image-amd64'])).stdout;
  const name = /Depends:\s*(linux-image-\d[^\s]*-amd64)\b/.exec(deps)?.[1];
  if (!name) throw new Error(`no versioned kernel package in 'apt-cache depends linux-image-amd64':\n${deps}`);
  const show = (await run('apt-cache', ['show', '--no-all-versions', name])).stdout;
  const version = /^Version:\s*(\S+)/m.exec(show)?.[1];
  if (!version) throw new Error(`no Version in 'apt-cache show ${name}'`);
  return { name, version };
}

/**
 * Takes vmlinuz out of the kernel package. Only ./boot/vmlinuz-* is extracted from the package's
 * data archive: `dpkg -x` would also unpack some 400 MB of modules the test never uses.
 */
async function fetchKernel(work: string, pkg: KernelPackage): Promise<string> {
  const dl = join(work, 'kernel-download');
  await mkdir(dl, { recursive: true });
  await run('apt-get', ['download', '-q', `${pkg.name}=${pkg.version}`], { cwd: dl, timeoutMs: 600_000 });
  const deb = (await readdir(dl)).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg.name} left no .deb in ${dl}`);
  await run('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards "./boot/vmlinuz-*"', 'sh', join(dl, deb), dl]);
  const boot = join(dl, 'boot');
  const vmlinuz = (await readdir(boot)).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new Error(`no boot/vmlinuz-* in ${deb}`);
  const out = join(work, 'vmlinuz');
  await copyFile(join(boot, vmlinuz), out);
  await rm(dl, { recursive: true, force: true });
  return out;
}

const toolEnv = (): NodeJS.ProcessEnv => ({ ...process.env, SOURCE_DATE_EPOCH, MTOOLS_SKIP_CHECK: '1', LC_ALL: 'C' });

/** Builds every fixture into `work`; paths in the result point into `finalDir`. */
async function build(work: string, finalDir: string, pkg: KernelPackage): Promise<BootFixtures> {
  const kernel = await fetchKernel(work, pkg);
  const initrd = join(work, 'initrd.gz');
  await writeFile(initrd, buildInitramfs(new Uint8Array(await readFile(BUSYBOX))));
  const ctx: BuildContext = { work, kernel, initrd, grubImages: new Map(), counter: 0 };

  const layouts = {} as Record<LayoutName, BootLayout>;
  for (const recipe of layoutRecipes()) {
    const iso = join(work, `${recipe.name}.iso`);
    await buildLayout(ctx, recipe, iso);
    layouts[recipe.name] = {
      name: recipe.name,
      description: recipe.description,
      isoPath: join(finalDir, `${recipe.name}.iso`),
      sizeBytes: (await stat(iso)).size,
      parameters: recipe.parameters,
      bootConfigs: recipe.bootConfigs,
    };
  }
  await rm(join(work, 'scratch'), { recursive: true, force: true });
  for (const name of LAYOUT_NAMES) if (!layouts[name]) throw new Error(`layout ${name} was not built`);
  return {
    dir: finalDir,
    kernelPath: join(finalDir, 'vmlinuz'),
    kernelPackage: `${pkg.name}=${pkg.version}`,
    initrdPath: join(finalDir, 'initrd.gz'),
    baseline: BASELINE_PARAMETERS,
    layouts,
  };
}

interface BuildContext {
  readonly work: string;
  readonly kernel: string;
  readonly initrd: string;
  /** GRUB images by recipe, built once per fixture build. */
  readonly grubImages: Map<string, string>;
  counter: number;
}

async function scratchPath(ctx: BuildContext, name: string): Promise<string> {
  const dir = join(ctx.work, 'scratch', String(ctx.counter++));
  await mkdir(dir, { recursive: true });
  return join(dir, name);
}

/** Writes one source to `dest` (a path on disk). */
async function materialize(ctx: BuildContext, source: Source, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  switch (source.kind) {
    case 'text':
      return writeFile(dest, source.text);
    case 'kernel':
      return copyFile(ctx.kernel, dest);
    case 'initrd':
      return copyFile(ctx.initrd, dest);
    case 'file':
      return copyFile(source.path, dest);
    case 'grub':
      return copyFile(await grubImage(ctx, source.grub), dest);
    case 'fat':
      return buildFat(ctx, source.files, dest);
  }
}

async function grubImage(ctx: BuildContext, grub: GrubImage): Promise<string> {
  const key = JSON.stringify([grub.format, grub.prefix, grub.earlyConfig ?? '']);
  const cached = ctx.grubImages.get(key);
  if (cached) return cached;
  const out = await scratchPath(ctx, grub.format === 'x86_64-efi' ? 'BOOTX64.EFI' : 'eltorito.img');
  const args = ['-O', grub.format, '-p', grub.prefix, '-o', out];
  if (grub.earlyConfig !== undefined) {
    const early = join(dirname(out), 'early.cfg');
    await writeFile(early, grub.earlyConfig);
    args.push('-c', early);
  }
  args.push(...(grub.format === 'x86_64-efi' ? GRUB_EFI_MODULES : GRUB_BIOS_MODULES));
  await run('grub-mkimage', args, { env: toolEnv() });
  ctx.grubImages.set(key, out);
  return out;
}

/** A FAT image (what UEFI firmware reads) holding `files`, sized to fit them with room to spare. */
async function buildFat(ctx: BuildContext, files: Readonly<Record<string, Source>>, dest: string): Promise<void> {
  const staged: [string, string][] = [];
  let bytes = 0;
  for (const path of Object.keys(files).sort()) {
    const local = await scratchPath(ctx, path.split('/').pop() ?? 'file');
    await materialize(ctx, files[path]!, local);
    // mcopy -m keeps the local file's mtime: make it the fixed one.
    await utimes(local, Number(SOURCE_DATE_EPOCH), Number(SOURCE_DATE_EPOCH));
    bytes += (await stat(local)).size;
    staged.push([path, local]);
  }
  // Whole MiB, at least 2 MiB, with 1 MiB free: room for a config that grows.
  const sizeKiB = Math.max(2048, Math.ceil(bytes / (1024 * 1024) + 1) * 1024);
  await rm(dest, { force: true });
  await run('mkfs.vfat', ['-C', '-n', 'ISOPROXYEFI', '-i', '1507A000', '--invariant', dest, String(sizeKiB)], { env: toolEnv() });
  const made = new Set<string>();
  for (const [path, local] of staged) {
    const parts = path.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!made.has(d)) {
        await run('mmd', ['-i', dest, `::/${d}`], { env: toolEnv() });
        made.add(d);
      }
    }
    await run('mcopy', ['-i', dest, '-m', local, `::/${path}`], { env: toolEnv() });
  }
}

async function buildLayout(ctx: BuildContext, recipe: LayoutRecipe, iso: string): Promise<void> {
  const tree = join(ctx.work, 'scratch', `tree-${recipe.name}`);
  await rm(tree, { recursive: true, force: true });
  for (const path of Object.keys(recipe.tree).sort()) await materialize(ctx, recipe.tree[path]!, join(tree, path));
  if (recipe.md5sums) await writeMd5sums(tree);

  if (recipe.mkrescue) {
    await run(
      'grub-mkrescue',
      ['-o', iso, '--fonts=', '--locales=', '--themes=', tree, '--', '-volid', recipe.volumeId, '-volume_date', 'all_file_dates', FILE_DATES],
      { env: toolEnv(), timeoutMs: 300_000 },
    );
    return;
  }
  const args = [...recipe.mkisofsArgs];
  if (recipe.appendedEsp) {
    const esp = await scratchPath(ctx, 'esp.img');
    await buildFat(ctx, recipe.appendedEsp, esp);
    const i = args.indexOf('ESP_IMAGE');
    if (i < 0) throw new Error(`layout ${recipe.name}: appendedEsp without ESP_IMAGE in its arguments`);
    args[i] = esp;
  }
  await run('xorriso', ['-as', 'mkisofs', '-o', iso, '-V', recipe.volumeId, '--set_all_file_dates', FILE_DATES, ...args, tree], {
    env: toolEnv(),
    timeoutMs: 300_000,
  });
}

/** md5sum.txt as Debian writes it: `<md5>  ./<path>` for every file, sorted by path. */
async function writeMd5sums(tree: string): Promise<void> {
  const lines: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = (await readdir(join(tree, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else
        lines.push(
          `${createHash('md5')
            .update(await readFile(join(tree, p)))
            .digest('hex')}  ./${p}`,
        );
    }
  };
  await walk('');
  await writeFile(join(tree, 'md5sum.txt'), lines.join('\n') + '\n');
}
