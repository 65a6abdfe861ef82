// Boots one QEMU machine (TCG, no KVM) from an ISO and reports the kernel command line the
// fixture initramfs printed on the serial console (see initramfs.ts). SeaBIOS or OVMF, the ISO
// attached as a CD (ide-cd) or as a disk (virtio-blk-pci, as a BMC's virtual USB stick), read
// from a local file or over HTTP by QEMU's curl block driver (qemu-block-extra), which sends a
// HEAD and then Range requests as a BMC does. At most two machines run at a time on the whole
// machine (CI has two cores), whichever process starts them; each has a hard timeout and stops early when the log shows a boot that went wrong.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasTool } from '../helpers/tools.js';
import { tryLock } from './host-lock.js';
import { CMDLINE_MARKER, END_MARKER } from './initramfs.js';

export type Firmware = 'bios' | 'uefi';
export type Attach = 'cd' | 'disk';

export interface BootOptions {
  readonly firmware: Firmware;
  readonly attach: Attach;
  /** The image over HTTP (QEMU's curl driver); exactly one of isoUrl and isoPath. */
  readonly isoUrl?: string;
  readonly isoPath?: string;
  readonly timeoutMs: number;
}

export type BootOutcome =
  /** /init printed the command line: the image booted. */
  | 'cmdline'
  /** The firmware found nothing it could boot on the drive. */
  | 'not-bootable'
  | 'kernel-panic'
  | 'grub-prompt'
  | 'grub-error'
  | 'isolinux-error'
  | 'uefi-shell'
  | 'timeout'
  /** QEMU exited without any of the above (e.g. bad arguments, the curl driver refused the URL). */
  | 'exited';

export interface BootResult {
  /** /proc/cmdline as /init printed it; undefined unless outcome is 'cmdline'. */
  readonly cmdline: string | undefined;
  /** The serial console log, without the terminal escape sequences of firmware screens. */
  readonly log: string;
  readonly outcome: BootOutcome;
  readonly elapsedMs: number;
  /** QEMU's own stderr, for curl driver and argument errors. */
  readonly stderr: string;
}

const QEMU = 'qemu-system-x86_64';
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const QEMU_MODULE_DIRS = ['/usr/lib/x86_64-linux-gnu/qemu', '/usr/lib64/qemu', '/usr/lib/qemu'];
export const MAX_PARALLEL_BOOTS = 2;
const POLL_MS = 250;

/**
 * Serial-log patterns that mean the boot went wrong, checked in order. SeaBIOS prints to the
 * serial port because -nographic turns on its serial console; OVMF mirrors its console there.
 */
const FAILURES: readonly [RegExp, BootOutcome][] = [
  [/Kernel panic/, 'kernel-panic'],
  // SeaBIOS: "Boot failed: could not read the boot disk", then "No bootable device."
  [/No bootable device|Boot failed/, 'not-bootable'],
  // OVMF: the boot option of our drive did not load (it goes on to its shell, or waits for a key).
  [/BdsDxe: failed to load|No bootable option or device was found/, 'not-bootable'],
  [/grub>/, 'grub-prompt'],
  [/grub rescue>/, 'grub-prompt'],
  // GRUB shows this after a menu entry's command failed (e.g. file not found).
  [/Press any key to continue/, 'grub-error'],
  [/Could not find kernel image|^boot: /m, 'isolinux-error'],
  [/Shell> |UEFI Interactive Shell/, 'uefi-shell'],
];

/** Why boots cannot run here (empty when they can): QEMU, its curl driver, OVMF. */
export function missingQemuSupport(): string[] {
  const missing: string[] = [];
  if (!hasTool(QEMU)) missing.push(`${QEMU} (qemu-system-x86)`);
  const moduleDirs = [process.env['QEMU_MODULE_DIR'], ...QEMU_MODULE_DIRS].filter((d): d is string => !!d);
  if (!moduleDirs.some((d) => existsSync(join(d, 'block-curl.so')))) missing.push('QEMU curl block driver block-curl.so (qemu-block-extra)');
  if (!existsSync(OVMF_CODE) || !existsSync(OVMF_VARS)) missing.push(`${OVMF_CODE} / ${OVMF_VARS} (ovmf)`);
  return missing;
}

/** QEMU's -drive option values are comma-separated; a comma inside a value is written twice. */
function optionValue(value: string): string {
  return value.replaceAll(',', ',,');
}

function driveArgs(options: BootOptions): string[] {
  if ((options.isoUrl === undefined) === (options.isoPath === undefined)) throw new Error('bootOnce: give exactly one of isoUrl and isoPath');
  const file =
    options.isoUrl !== undefined
      ? `file.driver=${options.isoUrl.startsWith('https:') ? 'https' : 'http'},file.url=${optionValue(options.isoUrl)},file.timeout=60`
      : `file.driver=file,file.filename=${optionValue(options.isoPath!)}`;
  const device = options.attach === 'cd' ? 'ide-cd,drive=iso,bootindex=0' : 'virtio-blk-pci,drive=iso,bootindex=0';
  return ['-drive', `if=none,id=iso,readonly=on,format=raw,${file}`, '-device', device];
}

/** Boot slots are host-wide locks (host-lock.ts): every vitest worker shares the two. */
const SLOT_DIR = join(tmpdir(), 'isoproxy-qemu-slots');
const SLOT_WAIT_MS = 200;

async function acquireSlot(): Promise<() => Promise<void>> {
  await mkdir(SLOT_DIR, { recursive: true });
  for (;;) {
    for (let i = 0; i < MAX_PARALLEL_BOOTS; i++) {
      const release = await tryLock(join(SLOT_DIR, `slot-${i}`));
      if (release) return release;
    }
    await new Promise((r) => setTimeout(r, SLOT_WAIT_MS));
  }
}

/** The command line /init printed, once its end marker shows the line is complete. */
export function cmdlineFromLog(log: string): string | undefined {
  const text = log.replaceAll('\r', '');
  const at = text.lastIndexOf(CMDLINE_MARKER);
  if (at < 0) return undefined;
  const rest = text.slice(at + CMDLINE_MARKER.length);
  const nl = rest.indexOf('\n');
  if (nl < 0 || !rest.slice(nl).includes(END_MARKER)) return undefined;
  return rest.slice(0, nl).trim();
}

/**
 * The log without ANSI/VT100 escape sequences: SeaBIOS's serial console and OVMF draw screens
 * with cursor moves, which can land inside the words the failure patterns look for.
 */
export function plainLog(raw: string): string {
  return raw.replace(/\x1b(?:\[[0-9;?=]*[A-Za-z]|[()][0-9A-Za-z]|[=>c78])/g, '').replaceAll('\r', '');
}

function classify(log: string): BootOutcome | undefined {
  if (cmdlineFromLog(log) !== undefined) return 'cmdline';
  for (const [pattern, outcome] of FAILURES) if (pattern.test(log)) return outcome;
  return undefined;
}

/** Boots one machine; never rejects for a failed boot, only for a failure to start the test. */
export async function bootOnce(options: BootOptions): Promise<BootResult> {
  const drive = driveArgs(options);
  const release = await acquireSlot();
  const dir = await mkdtemp(join(tmpdir(), 'isoproxy-qemu-'));
  try {
    const serial = join(dir, 'serial.log');
    const args = [
      '-accel',
      'tcg',
      '-machine',
      'pc',
      '-m',
      '512',
      '-smp',
      '1',
      '-nographic',
      '-monitor',
      'none',
      '-serial',
      `file:${serial}`,
      '-parallel',
      'none',
      '-nic',
      'none',
      '-no-reboot',
      '-no-user-config',
    ];
    if (options.firmware === 'uefi') {
      const vars = join(dir, 'OVMF_VARS_4M.fd');
      await copyFile(OVMF_VARS, vars);
      args.push(
        '-drive',
        `if=pflash,format=raw,unit=0,readonly=on,file=${optionValue(OVMF_CODE)}`,
        '-drive',
        `if=pflash,format=raw,unit=1,file=${optionValue(vars)}`,
      );
    }
    args.push(...drive);
    return await runMachine(args, serial, options.timeoutMs);
  } finally {
    await rm(dir, { recursive: true, force: true });
    await release();
  }
}

async function runMachine(args: string[], serial: string, timeoutMs: number): Promise<BootResult> {
  const started = performance.now();
  const child = spawn(QEMU, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (err) => {
      stderr += `\nspawn failed: ${err.message}`;
      exited = true;
      resolve();
    });
  });
  const readLog = async (): Promise<string> => (existsSync(serial) ? plainLog(await readFile(serial, 'latin1')) : '');

  let outcome: BootOutcome | undefined;
  let log = '';
  while (outcome === undefined) {
    await Promise.race([exit, new Promise((r) => setTimeout(r, POLL_MS))]);
    log = await readLog();
    outcome = classify(log);
    if (outcome === undefined && exited) outcome = 'exited';
    if (outcome === undefined && performance.now() - started > timeoutMs) outcome = 'timeout';
  }
  if (!exited) {
    // After a printed command line /init powers off by itself; give it a moment, then stop it.
    if (outcome === 'cmdline') await Promise.race([exit, new Promise((r) => setTimeout(r, 3000))]);
    if (!exited) child.kill('SIGKILL');
    await exit;
  }
  log = await readLog();
  const cmdline = cmdlineFromLog(log);
  return { cmdline, log, outcome: cmdline !== undefined ? 'cmdline' : outcome, elapsedMs: Math.round(performance.now() - started), stderr };
}
