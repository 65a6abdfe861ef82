// How many block files one process keeps open. Opening a block file goes through libuv's thread
// pool: an open and a close cost 50-70 us of CPU in thread hand-offs on a small VM, against about
// 1 us for the system calls themselves. With fewer descriptors than the blocks being served, a
// whole GET cycles through more files than the LRU keeps and reopens every block (an LRU under a
// cyclic scan hits nothing): a 1 GiB base is 514 blocks, and at 512 kept open a whole GET opened
// and closed all of them, a sixth of isoproxy's CPU per byte.

import { readFileSync } from 'node:fs';

/**
 * More than this many is memory with little to gain: each open block file is a FileHandle, its
 * native part and the kernel's file, 11 MiB of resident memory for 4096 (measured in Node 20); a
 * file counts only once a reader has opened it.
 */
export const MAX_OPEN_BLOCK_FILES = 4096;

/** The descriptor limit assumed where /proc/self/limits cannot be read. */
export const DEFAULT_DESCRIPTOR_LIMIT = 1024;

/**
 * Block files kept open for a cache of `budgetBytes` in blocks of `blockSize`: every block the
 * budget holds, up to MAX_OPEN_BLOCK_FILES and half the process's descriptor limit (the other
 * half for client sockets, upstream connections, logs).
 */
export function blockFilesKeptOpen(budgetBytes: number, blockSize: number, descriptorLimit = processDescriptorLimit()): number {
  const blocks = Math.ceil(budgetBytes / blockSize);
  return Math.max(4, Math.min(blocks, MAX_OPEN_BLOCK_FILES, Math.floor(descriptorLimit / 2)));
}

/** The soft limit on open files from the text of /proc/self/limits; undefined when absent. */
export function parseDescriptorLimit(limits: string): number | undefined {
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === 'unlimited') return Number.MAX_SAFE_INTEGER;
  const n = Number(soft);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** This process's soft limit on open files (Node raises it to the hard limit as it starts). */
export function processDescriptorLimit(): number {
  try {
    return parseDescriptorLimit(readFileSync('/proc/self/limits', 'utf8')) ?? DEFAULT_DESCRIPTOR_LIMIT;
  } catch {
    return DEFAULT_DESCRIPTOR_LIMIT;
  }
}
