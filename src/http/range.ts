// Range requests for the virtual image, per RFC 9110 §14 (Range, Content-Range, 416) and §13.1.5
// (If-Range is in conditional.ts). A header is parsed into a discriminated union (bounded /
// open-ended / suffix) and resolved against the image size.
//
// Real-world deviations we accept on purpose:
// - an end past the image is clamped to its last byte: OpenBMC's nbdkit curl client asks for
//   256 KiB + 1 and runs past the end of the image;
// - a malformed header (or another unit) is ignored and the whole image is served with 200, as the
//   RFC allows, so a confused client still boots;
// - more than MAX_RANGES ranges is treated like a malformed header (a cheap defence against
//   "bytes=0-0,0-0,..." amplification).

/** More ranges than this in one header: ignore the header (200 with the whole image). */
export const MAX_RANGES = 32;
/** Headers longer than this are not parsed (ignored). */
export const MAX_RANGE_HEADER_LENGTH = 4096;
/** Decimal digits in one position; 2^53 has 16. */
const MAX_DIGITS = 16;

export type RangeSpec =
  | { readonly kind: 'bounded'; readonly start: number; readonly end: number }
  | { readonly kind: 'open'; readonly start: number }
  | { readonly kind: 'suffix'; readonly length: number };

/** An inclusive byte range of the image, start <= end < size. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export type RangeResolution =
  /** No (usable) Range: serve the whole image with 200. */
  | { readonly kind: 'full' }
  /** Every range starts past the end: 416 with `Content-Range: bytes *\/size`. */
  | { readonly kind: 'unsatisfiable' }
  /** One or more ranges, sorted and coalesced: 206 (multipart when more than one). */
  | { readonly kind: 'partial'; readonly ranges: readonly ByteRange[] };

const DIGITS = /^[0-9]+$/;

function parsePosition(text: string): number | undefined {
  if (!DIGITS.test(text) || text.length > MAX_DIGITS) return undefined;
  const value = Number(text);
  return Number.isSafeInteger(value) ? value : undefined;
}

/**
 * Parses a Range header value. Returns undefined when the header must be ignored: another unit,
 * a syntax error, last < first, or more than MAX_RANGES ranges.
 */
export function parseRange(header: string): RangeSpec[] | undefined {
  if (header.length > MAX_RANGE_HEADER_LENGTH) return undefined;
  const eq = header.indexOf('=');
  if (eq < 0) return undefined;
  if (header.slice(0, eq).trim().toLowerCase() !== 'bytes') return undefined;
  const parts = header.slice(eq + 1).split(',');
  if (parts.length > MAX_RANGES) return undefined;
  const specs: RangeSpec[] = [];
  for (const raw of parts) {
    const part = raw.trim();
    // RFC 9110 allows empty list elements ("bytes=0-1,,2-3"); skip them.
    if (part === '') continue;
    const dash = part.indexOf('-');
    if (dash < 0) return undefined;
    const first = part.slice(0, dash).trim();
    const last = part.slice(dash + 1).trim();
    if (first === '') {
      const length = parsePosition(last);
      if (length === undefined) return undefined;
      specs.push({ kind: 'suffix', length });
      continue;
    }
    const start = parsePosition(first);
    if (start === undefined) return undefined;
    if (last === '') {
      specs.push({ kind: 'open', start });
      continue;
    }
    const end = parsePosition(last);
    if (end === undefined || end < start) return undefined;
    specs.push({ kind: 'bounded', start, end });
  }
  return specs.length > 0 ? specs : undefined;
}

/** One spec against the size; undefined when it is not satisfiable. */
export function resolveSpec(spec: RangeSpec, size: number): ByteRange | undefined {
  if (size <= 0) return undefined;
  switch (spec.kind) {
    case 'bounded':
      return spec.start < size ? { start: spec.start, end: Math.min(spec.end, size - 1) } : undefined;
    case 'open':
      return spec.start < size ? { start: spec.start, end: size - 1 } : undefined;
    case 'suffix':
      return spec.length > 0 ? { start: Math.max(0, size - spec.length), end: size - 1 } : undefined;
  }
}

/** Sorts and merges overlapping or adjacent ranges (RFC 9110 §14.2 lets a server coalesce). */
export function coalesce(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end + 1) {
      out[out.length - 1] = { start: last.start, end: Math.max(last.end, r.end) };
    } else {
      out.push(r);
    }
  }
  return out;
}

/** Parses and resolves a Range header (undefined header = no Range) against the image size. */
export function resolveRange(header: string | undefined, size: number): RangeResolution {
  if (header === undefined) return { kind: 'full' };
  const specs = parseRange(header);
  if (!specs) return { kind: 'full' };
  const satisfiable = specs.map((s) => resolveSpec(s, size)).filter((r): r is ByteRange => r !== undefined);
  if (satisfiable.length === 0) return { kind: 'unsatisfiable' };
  return { kind: 'partial', ranges: coalesce(satisfiable) };
}

export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}
