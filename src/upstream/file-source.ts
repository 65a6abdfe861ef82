// A base image from a local file (file:///...), only inside configured directories. The path is
// resolved with realpath, so `..`, symlinks and bind tricks that lead outside every allowed
// directory are refused (UPSTREAM_FORBIDDEN). The version is size + mtime (as an HTTP-date in
// lastModified) + device/inode/nanosecond mtime (as the ETag): a file rewritten in place or
// replaced by another is a new base image, and reads of the old one then fail with
// BaseChangedError instead of mixing versions.

import { constants, type Stats, type BigIntStats } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkRange } from '../byte-source.js';
import { BaseChangedError, UpstreamError } from '../errors.js';
import { readFully } from '../io/read-fully.js';
import type { UpstreamSource } from './types.js';
import type { BaseVersion } from './validator.js';

const CHUNK_BYTES = 1024 * 1024;

/** True when `path` is `dir` itself or below it (both absolute and normalized). */
export function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

function forbidden(url: string, message: string): UpstreamError {
  return new UpstreamError('UPSTREAM_FORBIDDEN', url, message, 403);
}

/** The local path of a file:// URL, or UPSTREAM_FORBIDDEN when it is not a plain local file URL. */
export function filePathOf(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw forbidden(url, 'not a URL');
  }
  if (parsed.protocol !== 'file:') throw forbidden(url, 'not a file:// URL');
  if (parsed.hostname !== '' && parsed.hostname !== 'localhost') throw forbidden(url, `file URLs on other hosts (${parsed.hostname}) are not served`);
  if (parsed.search !== '' || parsed.hash !== '') throw forbidden(url, 'file URLs take no query or fragment');
  try {
    // Rejects percent-encoded '/' and NUL, which would make the path mean something else.
    return fileURLToPath(parsed);
  } catch (err) {
    throw forbidden(url, (err as Error).message);
  }
}

async function realDirs(allowedDirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of allowedDirs) {
    try {
      out.push(await realpath(resolve(d)));
    } catch {
      // A configured directory that does not exist allows nothing.
    }
  }
  return out;
}

function sameFile(a: Stats | BigIntStats, b: Stats | BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

export async function openFileUrl(url: string, allowedDirs: readonly string[]): Promise<UpstreamSource> {
  const path = filePathOf(url);
  const lexical = resolve(path);
  if (!allowedDirs.some((d) => isInside(lexical, resolve(d)))) throw forbidden(url, 'path is outside the allowed directories');
  let real: string;
  try {
    real = await realpath(lexical);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UpstreamError('UPSTREAM_STATUS', url, 'no such file', 404, { cause: err });
    throw forbidden(url, (err as Error).message);
  }
  const dirs = await realDirs(allowedDirs);
  if (!dirs.some((d) => isInside(real, d))) throw forbidden(url, 'path resolves outside the allowed directories');

  // O_NOFOLLOW: the resolved path must not have become a symlink since realpath.
  let handle: FileHandle;
  try {
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    throw forbidden(url, (err as Error).message);
  }
  try {
    const st = await handle.stat({ bigint: true });
    if (!st.isFile()) throw forbidden(url, 'not a regular file');
    return new LocalFileSource(new URL(url).href, handle, st);
  } catch (err) {
    await handle.close();
    throw err;
  }
}

class LocalFileSource implements UpstreamSource {
  readonly size: number;
  readonly version: BaseVersion;
  readonly supportsRanges = true;

  constructor(
    private readonly url: string,
    private readonly handle: FileHandle,
    private readonly opened: BigIntStats,
  ) {
    this.size = Number(opened.size);
    this.version = {
      url,
      size: this.size,
      etag: `"${opened.dev.toString(16)}-${opened.ino.toString(16)}-${opened.mtimeNs.toString(16)}"`,
      lastModified: new Date(Number(opened.mtimeMs)).toUTCString(),
    };
  }

  private closed = false;

  /** The file still is the version we opened (one fstat per read call, not per chunk). */
  private async checkUnchanged(): Promise<void> {
    if (this.closed) throw new UpstreamError('UPSTREAM_CLOSED', this.url, 'the source was closed');
    const now = await this.handle.stat({ bigint: true });
    if (!sameFile(now, this.opened) || now.size !== this.opened.size || now.mtimeNs !== this.opened.mtimeNs) {
      throw new BaseChangedError(this.url, 'the file changed since it was opened');
    }
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    checkRange(offset, length, this.size);
    signal?.throwIfAborted();
    await this.checkUnchanged();
    const out = new Uint8Array(length);
    await this.fill(out, offset);
    await this.checkUnchanged();
    return out;
  }

  private async fill(out: Uint8Array, offset: number): Promise<void> {
    const done = await readFully(this.handle, out, offset);
    if (done < out.length) throw new BaseChangedError(this.url, `the file shrank below ${offset + done} bytes`);
  }

  async *stream(offset: number, length: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    checkRange(offset, length, this.size);
    await this.checkUnchanged();
    const end = offset + length;
    for (let pos = offset; pos < end; ) {
      signal?.throwIfAborted();
      const chunk = new Uint8Array(Math.min(CHUNK_BYTES, end - pos));
      await this.fill(chunk, pos);
      // Checked after the read: a rewrite during the read must not reach the caller.
      await this.checkUnchanged();
      pos += chunk.length;
      yield chunk;
    }
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return this.handle.close();
  }
}
