// The identity of a base image: its URL and its validator (size + ETag / Last-Modified, RFC 9110
// §8.8). A new validator is a new base image, so `versionKey` is what cache keys and ETags hang
// on: the block cache never reads blocks of one version for another, and a response never mixes
// two versions under one ETag.

import { createHash } from 'node:crypto';

export interface BaseVersion {
  /** The URL the node names (before redirects): the same image behind a new redirect target is still this base. */
  readonly url: string;
  readonly size: number;
  /** Strong or weak entity tag exactly as the upstream sent it (quotes included). */
  readonly etag?: string;
  /** HTTP-date as the upstream sent it, or the file's mtime as an HTTP-date. */
  readonly lastModified?: string;
}

/**
 * A stable 32-hex-digit hash of the version: same URL + size + validators => same key, in any
 * process. Safe as a directory name and inside a quoted ETag.
 */
export function versionKey(v: BaseVersion): string {
  // JSON of an array: field order fixed, no ambiguity between fields (a plain join would let
  // "a|b" + "c" collide with "a" + "b|c").
  const canonical = JSON.stringify(['isoproxy-base-v1', v.url, v.size, v.etag ?? null, v.lastModified ?? null]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 32);
}

/** True when two versions describe the same bytes (URL is not compared: redirects move it). */
export function sameValidator(a: BaseVersion, b: BaseVersion): boolean {
  return a.size === b.size && (a.etag ?? null) === (b.etag ?? null) && (a.lastModified ?? null) === (b.lastModified ?? null);
}

/** A weak ETag (W/"...") may not be used in If-Range (RFC 9110 §13.1.5). */
export function isStrongEtag(etag: string | undefined): etag is string {
  return etag !== undefined && !etag.startsWith('W/') && etag.startsWith('"');
}

export interface ContentRange {
  readonly start: number;
  readonly end: number;
  /** Complete length, or undefined for `*`. */
  readonly total: number | undefined;
}

const CONTENT_RANGE = /^bytes (\d{1,16})-(\d{1,16})\/(\d{1,16}|\*)$/;

/** Parses a 206's `Content-Range: bytes a-b/total` (RFC 9110 §14.4); undefined when malformed. */
export function parseContentRange(header: string | undefined): ContentRange | undefined {
  if (header === undefined) return undefined;
  const m = CONTENT_RANGE.exec(header.trim());
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '*' ? undefined : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  if (total !== undefined && (!Number.isSafeInteger(total) || end >= total)) return undefined;
  return { start, end, total };
}
