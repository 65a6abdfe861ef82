// Conditional requests on the virtual image, per RFC 9110 §13: If-Match and If-Unmodified-Since
// (-> 412), If-None-Match and If-Modified-Since (-> 304 for GET/HEAD), evaluated in the order of
// §13.2.2, and If-Range (a range only when the client's validator still matches). The ETag is
// strong (base version + patch-set digest), so If-Match and If-Range may use it.

export interface Validators {
  /** Strong, quoted. */
  readonly etag: string;
  readonly lastModified: Date;
}

/** Entity tags of a list header ("a", W/"b", *); '*' is returned as is. Capped at 64 entries. */
export function parseEtagList(header: string): string[] {
  const out: string[] = [];
  const re = /\s*(\*|(?:W\/)?"[^"]*")\s*(?:,|$)/gy;
  for (let m = re.exec(header); out.length < 64 && m !== null; m = re.exec(header)) {
    if (m[1] === undefined) break;
    out.push(m[1]);
    if (re.lastIndex >= header.length) break;
  }
  return out;
}

function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** Whole seconds: HTTP dates have no fractions, so comparisons truncate ours. */
function seconds(date: Date): number {
  return Math.floor(date.getTime() / 1000);
}

function parseHttpDate(text: string): number | undefined {
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/**
 * False when If-Match fails (RFC 9110 §13.1.1): no listed tag strongly equals ours, and it is not
 * `*` (which any current representation matches). A header with no valid tag matches nothing.
 */
export function ifMatchAllows(ifMatch: string, v: Validators): boolean {
  const tags = parseEtagList(ifMatch);
  return tags.some((t) => t === '*' || (!t.startsWith('W/') && t === v.etag));
}

/**
 * False when If-Unmodified-Since fails (§13.1.4): ours is later than the date. A date that does not
 * parse is ignored, as the RFC says.
 */
export function ifUnmodifiedSinceAllows(ifUnmodifiedSince: string, v: Validators): boolean {
  const since = parseHttpDate(ifUnmodifiedSince);
  return since === undefined || seconds(v.lastModified) <= since;
}

export interface ConditionalHeaders {
  readonly ifMatch?: string | undefined;
  readonly ifUnmodifiedSince?: string | undefined;
  readonly ifNoneMatch?: string | undefined;
  readonly ifModifiedSince?: string | undefined;
}

/**
 * The preconditions of a GET or HEAD, in the order of RFC 9110 §13.2.2: 'failed' (412),
 * 'not-modified' (304) or 'proceed'. If-Unmodified-Since counts only without If-Match, and
 * If-Modified-Since only without If-None-Match.
 */
export function evaluatePreconditions(h: ConditionalHeaders, v: Validators): 'proceed' | 'failed' | 'not-modified' {
  if (h.ifMatch !== undefined) {
    if (!ifMatchAllows(h.ifMatch, v)) return 'failed';
  } else if (h.ifUnmodifiedSince !== undefined && !ifUnmodifiedSinceAllows(h.ifUnmodifiedSince, v)) {
    return 'failed';
  }
  return notModified(h, v) ? 'not-modified' : 'proceed';
}

/** True when a GET/HEAD must answer 304 Not Modified (RFC 9110 §13.2.2 steps 3 and 4). */
export function notModified(headers: { ifNoneMatch?: string | undefined; ifModifiedSince?: string | undefined }, v: Validators): boolean {
  if (headers.ifNoneMatch !== undefined) {
    // Weak comparison; If-Modified-Since is ignored when If-None-Match is present.
    const tags = parseEtagList(headers.ifNoneMatch);
    return tags.some((t) => t === '*' || opaque(t) === opaque(v.etag));
  }
  if (headers.ifModifiedSince !== undefined) {
    const since = parseHttpDate(headers.ifModifiedSince);
    return since !== undefined && seconds(v.lastModified) <= since;
  }
  return false;
}

/**
 * True when the Range header may be honoured given If-Range (RFC 9110 §13.1.5): absent, or an
 * ETag that strongly equals ours, or a date exactly equal to our Last-Modified.
 */
export function ifRangeAllows(ifRange: string | undefined, v: Validators): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) {
    // Strong comparison: a weak tag never matches.
    return !value.startsWith('W/') && value === v.etag;
  }
  const date = parseHttpDate(value);
  return date !== undefined && date === seconds(v.lastModified);
}
