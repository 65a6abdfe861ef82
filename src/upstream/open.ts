// Opening a node's base image by URL, behind the upstream allowlist: http(s) URLs must start with
// a configured prefix (compared on WHATWG-normalized URLs, so `..`, `%2e%2e`, default ports and
// letter case cannot sneak past), and so must every redirect target (checked before it is
// contacted: UPSTREAM_NOT_ALLOWED); file:// URLs must lie inside a configured directory both as
// written and with symlinks resolved. The same check runs when a node is stored and when its base
// is opened, so a PUT refuses what a GET would. Nothing a BMC sends chooses an upstream: only node
// specs reach here.

import { realpathSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UpstreamError } from '../errors.js';
import { filePathOf, isInside, openFileUrl } from './file-source.js';
import { openHttpSource, type HttpSourceOptions } from './http-source.js';
import type { UpstreamSource } from './types.js';

export interface UpstreamConfig {
  /** URL prefixes (http/https) a base image may start with. */
  readonly allowedPrefixes: readonly string[];
  /** Directories file:// URLs may point into. */
  readonly allowedDirs: readonly string[];
  /** Agent, timeouts, retries, stats and logger for http(s) upstreams. */
  readonly http?: HttpSourceOptions;
}

const MAX_URL_LENGTH = 4096;

function forbidden(url: string, message: string): UpstreamError {
  return new UpstreamError('UPSTREAM_FORBIDDEN', url, message, 403);
}

/** The normalized form of an http(s) URL (throws UPSTREAM_FORBIDDEN on anything else). */
export function normalizeHttpUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw forbidden(url, 'not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw forbidden(url, `scheme ${parsed.protocol} is not allowed`);
  if (parsed.hash !== '') throw forbidden(url, 'URL has a fragment');
  // An encoded slash or backslash is one path segment to the URL parser but may be a separator to
  // the upstream server: a prefix check cannot reason about it.
  if (/%2f|%5c/i.test(parsed.pathname)) throw forbidden(url, 'encoded slash in the path');
  return parsed.href;
}

function prefixAllows(normalizedUrl: string, prefix: string): boolean {
  let p: string;
  try {
    p = normalizeHttpUrl(prefix);
  } catch {
    return false;
  }
  if (!normalizedUrl.startsWith(p)) return false;
  // `http://h/isos` must not allow `http://h/isos-evil/x`: a prefix ends at a segment boundary.
  if (p.endsWith('/') || normalizedUrl.length === p.length) return true;
  const next = normalizedUrl[p.length];
  return next === '/' || next === '?';
}

/**
 * The path with symlinks resolved as far as it exists: the longest existing ancestor is resolved
 * and the rest appended, so a file not there yet under a symlinked directory still resolves where
 * it would be opened.
 */
function realPathSoFar(path: string): string {
  const rest: string[] = [];
  for (let head = path; ; ) {
    try {
      return join(realpathSync(head), ...rest.reverse());
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw forbidden(path, `cannot resolve the path: ${code ?? (err as Error).message}`);
      const parent = dirname(head);
      if (parent === head) return path;
      rest.push(basename(head));
      head = parent;
    }
  }
}

/**
 * Throws UpstreamError UPSTREAM_FORBIDDEN unless the URL is allowed. Synchronous (the admin API
 * validates a node with it); for file:// it resolves symlinks with realpathSync, and openFileUrl
 * checks again (with O_NOFOLLOW) when the file is opened.
 */
export function checkUpstreamAllowed(url: string, config: Pick<UpstreamConfig, 'allowedPrefixes' | 'allowedDirs'>): void {
  if (typeof url !== 'string' || url.length === 0 || url.length > MAX_URL_LENGTH)
    throw forbidden(String(url).slice(0, 100), 'URL missing or too long');
  if (/^file:/i.test(url)) {
    const path = resolve(filePathOf(url));
    if (!config.allowedDirs.some((d) => isInside(path, resolve(d)))) throw forbidden(url, 'path is outside the allowed directories');
    const real = realPathSoFar(path);
    if (!config.allowedDirs.some((d) => isInside(real, realPathSoFar(resolve(d)))))
      throw forbidden(url, 'path resolves outside the allowed directories');
    return;
  }
  const normalized = normalizeHttpUrl(url);
  if (!config.allowedPrefixes.some((p) => prefixAllows(normalized, p))) throw forbidden(url, 'URL does not start with an allowed upstream prefix');
}

/** Opens an allowed base image: http(s) via undici, file:// from the allowed directories. */
export async function openUpstream(url: string, config: UpstreamConfig): Promise<UpstreamSource> {
  checkUpstreamAllowed(url, config);
  if (/^file:/i.test(url)) return openFileUrl(url, config.allowedDirs);
  return openHttpSource(normalizeHttpUrl(url), { ...config.http, checkRedirect: (target) => checkUpstreamAllowed(target, config) });
}
