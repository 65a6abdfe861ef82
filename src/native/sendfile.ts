// The zero-copy sender (sendfile.c) as JavaScript sees it: `send` a file span to a socket and get
// a promise for its end. The addon is built at install (build.mjs) when a C compiler and Node's
// headers are there; without it, or with `--sendfile off`, spans are read into memory and written
// like any chunk, so the addon changes speed, never behaviour.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism, constants } from 'node:os';
import { ConfigError, type SendfileMode } from '../config.js';
import { IsoproxyError } from '../errors.js';
import { type AbortLike, signalOf } from '../io/abort.js';
import type { FileSpan } from '../io/file-span.js';

interface Binding {
  start(done: (id: number, sent: number, errno: number) => void, senders: number): void;
  send(id: number, socketFd: number, fileFd: number, offset: number, length: number, head?: Buffer, after?: number): number;
  cancel(id: number): void;
  sendNow(socketFd: number, fileFd: number, offset: number, length: number, head?: Buffer): number;
  /** glibc's M_MMAP_THRESHOLD (false where it cannot be set). */
  mmapThreshold?(bytes: number): boolean;
}

/** A send that did not complete: `errno` says why (EPIPE and ECONNRESET: the client went away). */
export class SendError extends IsoproxyError {
  constructor(
    readonly errno: number,
    readonly sent: number,
  ) {
    super('SEND_FAILED', `sendfile failed after ${sent} bytes: ${errnoName(errno)}`);
  }

  /** The peer closed or reset the connection, or the send was cancelled because it did. */
  get peerGone(): boolean {
    const e = constants.errno;
    return this.errno === e.EPIPE || this.errno === e.ECONNRESET || this.errno === e.ECANCELED;
  }
}

function errnoName(errno: number): string {
  for (const [name, value] of Object.entries(constants.errno)) if (value === errno) return name;
  return `errno ${errno}`;
}

export interface SenderStats {
  /** Sends that completed, and their bytes. */
  sends: number;
  bytes: number;
  /** Sends that ended early: the peer went away, a cancel, an I/O error. */
  failed: number;
}

export interface Sender {
  /** How many sender threads this process runs. */
  readonly threads: number;
  readonly stats: Readonly<SenderStats>;
  /**
   * Sends `span` to the socket. Resolves when all of it is in the socket's buffer; rejects with a
   * SendError, or with the signal's reason once an abort has cancelled the send. The span is not
   * released here: the sender keeps its own descriptors, so the caller may release it at once.
   * `head`, when given, is written first (a response head that shares a segment with the bytes).
   */
  send(socket: Socket, span: FileSpan, signal: AbortSignal, head?: Buffer): Promise<void>;
  /**
   * Starts sending `span` and returns at once: `done` settles as `send`'s promise does. With
   * `after` (a sending's `id` on the same socket), the span goes out right after that one on the
   * sender thread, without a round trip through this thread between them, and fails with it.
   * `id` is 0 when the span went out before this returned (nothing to chain to), -1 when the send
   * failed before it started (a span chained to it fails too). With `onThread`, a span that
   * nothing is being sent before goes to the sender thread too, rather than out from this thread.
   * A lazy controller's signal is made only when the span goes to a sender thread.
   */
  start(socket: Socket, span: FileSpan, abort: AbortLike, head?: Buffer, after?: number, onThread?: boolean): Sending;
}

export interface Sending {
  readonly id: number;
  readonly done: Promise<void>;
  /** Whether `done` has settled, and how (a chained successor then needs no `after`). */
  readonly state: 'sending' | 'sent' | 'failed';
}

const SENT: Sending = { id: 0, done: Promise.resolve(), state: 'sent' };
/** The id of a sending that failed before it was handed to a sender thread. */
export const FAILED = -1;

/** The socket's descriptor, when it is a plain TCP socket this process owns (not TLS, not a pipe). */
export function socketFd(socket: Socket | null | undefined): number | undefined {
  if (!socket || (socket as { encrypted?: boolean }).encrypted || socket.destroyed) return undefined;
  // libuv's TCP handle exposes its descriptor on POSIX systems.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Where the built addon is: next to dist/ from either dist/src/native or src/native. */
export function addonPath(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  return [join(here, '../../native/sendfile.node'), join(here, '../../dist/native/sendfile.node')].find((p) => existsSync(p));
}

const EMPTY = Buffer.alloc(0);
/** sendNow's answer when only n bytes of the head went: -(HEAD_PARTIAL + n). */
const HEAD_PARTIAL = 2 ** 20;

/** The addon's functions, or why they are not here. Loading starts no thread. */
function openBinding(): Binding | string {
  if (process.platform !== 'linux') return 'sendfile is built for Linux only';
  const path = addonPath();
  if (!path) return 'the sendfile addon is not built (npm run build compiles it when a C compiler is installed)';
  try {
    return createRequire(import.meta.url)(path) as Binding;
  } catch (err) {
    return `the sendfile addon does not load: ${(err as Error).message}`;
  }
}

/** What glibc reads at start to fix the threshold itself (a user's value is left alone). */
export const MMAP_THRESHOLD_ENV = 'MALLOC_MMAP_THRESHOLD_';
/** glibc's own starting threshold, kept from rising. */
export const MMAP_THRESHOLD_BYTES = 128 * 1024;

/**
 * Keeps glibc's mmap threshold at 128 KiB for this process (sendfile.c says why), unless the
 * environment sets one, and says which happened. Without the addon the environment is
 * the only way; a cluster's primary sets it for the workers it forks.
 */
export function fixMmapThreshold(env: NodeJS.ProcessEnv = process.env): 'set' | 'environment' | 'unavailable' {
  if (env[MMAP_THRESHOLD_ENV] !== undefined) return 'environment';
  const binding = openBinding();
  if (typeof binding === 'string' || typeof binding.mmapThreshold !== 'function') return 'unavailable';
  return binding.mmapThreshold(MMAP_THRESHOLD_BYTES) ? 'set' : 'unavailable';
}

let loaded: Sender | undefined | null = null;
let loadError: string | undefined;

/**
 * The process's sender, started on first use with `threads` sender threads; undefined when the
 * addon is not built or cannot load (`why()` says which).
 */
export function loadSender(threads = 1): Sender | undefined {
  if (loaded !== null) return loaded;
  loaded = undefined;
  const binding = openBinding();
  if (typeof binding === 'string') {
    loadError = binding;
    return undefined;
  }
  const waiting = new Map<number, (sent: number, errno: number) => void>();
  try {
    binding.start((id, sent, errno) => {
      const done = waiting.get(id);
      waiting.delete(id);
      done?.(sent, errno);
    }, threads);
  } catch (err) {
    // The addon's threads are the process's: a second JavaScript environment (a worker thread)
    // cannot start them again, and copies instead.
    loadError = `the sendfile addon does not start here: ${(err as Error).message}`;
    return undefined;
  }
  let nextId = 1;
  // Jobs handed to the sender threads and not yet reported.
  let inFlight = 0;
  const stats: SenderStats = { sends: 0, bytes: 0, failed: 0 };
  loaded = {
    threads,
    stats,
    send(socket, span, signal, head) {
      return this.start(socket, span, signal, head).done;
    },
    start(socket, span, abort, head, after, onThread) {
      const failed = (reason: unknown): Sending => {
        const done = Promise.reject(reason);
        done.catch(() => {});
        return { id: FAILED, done, state: 'failed' };
      };
      if (abort.aborted) return failed(abort.reason);
      // After a send that failed before it started, nothing may follow: its bytes would be missing.
      if (after === FAILED) return failed(new SendError(constants.errno.ECANCELED, 0));
      const fd = socketFd(socket);
      if (fd === undefined) return failed(new SendError(constants.errno.EBADF, 0));
      let offset = span.offset;
      let length = span.length;
      if (inFlight === 0 && !after && !onThread) {
        // Nothing else is being sent: a lone client (a BMC reading range after range) gets its
        // bytes from this thread at once instead of after two thread wake-ups. Under load the
        // sender thread takes the copying off this one. Bytes not in the page cache go to the
        // sender thread too (sendNow answers EAGAIN): this thread never waits for the disk.
        const now = binding.sendNow(fd, span.fd, offset, length, head);
        if (now === length) {
          stats.sends++;
          stats.bytes += now;
          return SENT;
        }
        if (now <= -HEAD_PARTIAL) {
          // Part of the head went: the rest goes first on the sender thread.
          head = head?.subarray(-now - HEAD_PARTIAL);
        } else if (now >= 0) {
          head = undefined;
          stats.bytes += now;
          offset += now;
          length -= now;
        } else if (now !== -constants.errno.EAGAIN) {
          stats.failed++;
          return failed(new SendError(-now, 0));
        }
      }
      const before = span.length - length;
      const id = nextId;
      nextId = nextId >= 0x7fffffff ? 1 : nextId + 1;
      const signal = signalOf(abort);
      const sending: { id: number; done: Promise<void>; state: Sending['state'] } = { id, done: SENT.done, state: 'sending' };
      const done = new Promise<void>((resolve, reject) => {
        const onAbort = (): void => binding.cancel(id);
        inFlight++;
        waiting.set(id, (sent, errno) => {
          inFlight--;
          sending.state = errno === 0 && sent === length ? 'sent' : 'failed';
          signal.removeEventListener('abort', onAbort);
          stats.bytes += sent;
          if (errno === 0 && sent === length) {
            stats.sends++;
            return resolve();
          }
          stats.failed++;
          if (signal.aborted) reject(signal.reason);
          else reject(new SendError(errno || constants.errno.EIO, before + sent));
        });
        const errno = after
          ? binding.send(id, fd, span.fd, offset, length, head ?? EMPTY, after)
          : head
            ? binding.send(id, fd, span.fd, offset, length, head)
            : binding.send(id, fd, span.fd, offset, length);
        if (errno !== 0) {
          inFlight--;
          sending.state = 'failed';
          waiting.delete(id);
          return reject(new SendError(errno, 0));
        }
        signal.addEventListener('abort', onAbort, { once: true });
      });
      done.catch(() => {});
      sending.done = done;
      return sending;
    },
  };
  return loaded;
}

/** Why `loadSender` returned undefined, if it did. */
export function senderUnavailable(): string | undefined {
  return loadError;
}

/** The most sender threads one process starts. */
export const MAX_SENDER_THREADS = 4;

/**
 * Sender threads for one of `servingProcesses` serving processes on `cores` cores: the cores
 * shared among the processes, 1 to MAX_SENDER_THREADS each. Two workers on two cores with two
 * threads each ran six busy threads (two event loops, four senders) on two cores: alternating
 * A/B with one thread each, random 256 KiB ranges cost 135 against 145 us of server CPU per
 * request, 16 whole GETs 0.35 against 0.37 CPU s/GB, at the same throughput. One process on two
 * cores keeps two (one thread there measured the same).
 */
export function senderThreads(cores: number, servingProcesses: number): number {
  return Math.max(1, Math.min(MAX_SENDER_THREADS, Math.floor(cores / Math.max(1, servingProcesses))));
}

/**
 * The sender a server uses for `--sendfile`: none for off; for auto, the addon when it loads;
 * for on, the addon or a ConfigError saying why not. `servingProcesses` is how many processes
 * serve on this machine (a cluster's workers), which share its cores.
 */
export function senderFor(mode: SendfileMode, servingProcesses = 1): { sender?: Sender; why?: string } {
  if (mode === 'off') return { why: 'turned off (--sendfile off)' };
  const sender = loadSender(senderThreads(availableParallelism(), servingProcesses));
  if (sender) return { sender };
  const why = senderUnavailable() ?? 'unavailable';
  if (mode === 'on') throw new ConfigError(`--sendfile on: ${why}`);
  return { why };
}

/**
 * `--sendfile on` in a process that serves through others (a cluster's primary, which forks the
 * workers that send): refuses to start, as a single process does, when the addon is not built or
 * does not load here. Starts no sender thread.
 */
export function requireSendfileAddon(mode: SendfileMode): void {
  if (mode !== 'on') return;
  const binding = openBinding();
  if (typeof binding === 'string') throw new ConfigError(`--sendfile on: ${binding}`);
}
