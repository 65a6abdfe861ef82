// The request heads the direct server answers itself (server.ts): a strict, small subset of
// HTTP/1.1 that BMCs and provisioning tools send for an image: `GET` or `HEAD`, an origin-form
// target, `HTTP/1.1`, CRLF line ends, token header names, printable values, one Host, no body.
// Anything else (another method or version, a body, Expect or Upgrade, a repeated header, a bare
// LF, folded lines, control bytes, a head over Node's 16 KiB) is not judged here: the connection
// goes to Node's HTTP server with its bytes untouched, and Node answers as it always has. So this
// parser never needs to be lenient, and a request can never be read two ways.

/** Node's default maxHeaderSize: a longer head goes to Node, which answers 431. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** More header lines than any BMC sends: past this the request goes to Node. */
export const MAX_HEADER_LINES = 64;

export interface RequestHead {
  readonly method: 'GET' | 'HEAD';
  /** The request target as sent (path and query). */
  readonly target: string;
  /** Header values by lower-case name, trimmed of surrounding white space. */
  readonly headers: ReadonlyMap<string, string>;
  /** Bytes of the head, its final empty line included. */
  readonly length: number;
  /** The client asked to close the connection after the response (`Connection: close`). */
  readonly close: boolean;
}

export type HeadParse =
  | { readonly kind: 'head'; readonly head: RequestHead }
  /** More bytes are needed. */
  | { readonly kind: 'incomplete' }
  /** Not for the direct server: hand the connection to Node. */
  | { readonly kind: 'other'; readonly reason: string };

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HTAB = 0x09;
const COLON = 0x3a;

/** RFC 9110 tchar, by byte. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/** "HTTP/1.1" CRLF, after the target. */
const VERSION = [0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e, 0x31, CR, LF];

const INCOMPLETE: HeadParse = { kind: 'incomplete' };
const other = (reason: string): HeadParse => ({ kind: 'other', reason });

/** Headers whose presence means the request is not a plain bodiless GET or HEAD. */
// Proxy-Connection: Node's parser reads it as Connection; rather than mirror that, Node answers.
const REFUSED = new Set(['transfer-encoding', 'expect', 'upgrade', 'http2-settings', 'proxy-connection']);

/**
 * Parses the request head at the start of `buf`. Every read is inside `buf`; the scan stops at
 * MAX_HEAD_BYTES and MAX_HEADER_LINES.
 */
export function parseRequestHead(buf: Buffer): HeadParse {
  const limit = Math.min(buf.length, MAX_HEAD_BYTES);
  let method: 'GET' | 'HEAD';
  let i: number;
  if (limit >= 4 && buf[0] === 0x47 && buf[1] === 0x45 && buf[2] === 0x54 && buf[3] === SP) {
    method = 'GET';
    i = 4;
  } else if (limit >= 5 && buf[0] === 0x48 && buf[1] === 0x45 && buf[2] === 0x41 && buf[3] === 0x44 && buf[4] === SP) {
    method = 'HEAD';
    i = 5;
  } else {
    return limit < 5 && isPrefixOfMethod(buf, limit) ? INCOMPLETE : other('method');
  }
  // The target: origin-form, visible ASCII only.
  const targetStart = i;
  if (i < limit && buf[i] !== 0x2f) return other('target form');
  while (i < limit && buf[i] !== SP) {
    const c = buf[i]!;
    if (c <= SP || c >= 0x7f) return other('target byte');
    i++;
  }
  if (i >= limit) return tooLongOr(buf);
  const target = buf.toString('latin1', targetStart, i);
  i++;
  for (const b of VERSION) {
    if (i >= limit) return tooLongOr(buf);
    if (buf[i] !== b) return other('version');
    i++;
  }
  const headers = new Map<string, string>();
  let close = false;
  for (let lines = 0; ; lines++) {
    if (i >= limit) return tooLongOr(buf);
    if (buf[i] === CR) {
      if (i + 1 >= limit) return tooLongOr(buf);
      if (buf[i + 1] !== LF) return other('bare CR');
      i += 2;
      break;
    }
    if (lines >= MAX_HEADER_LINES) return other('header lines');
    const nameStart = i;
    while (i < limit && TCHAR[buf[i]!] === 1) i++;
    if (i >= limit) return tooLongOr(buf);
    if (buf[i] !== COLON || i === nameStart) return other('header name');
    const name = buf.toString('latin1', nameStart, i).toLowerCase();
    i++;
    while (i < limit && (buf[i] === SP || buf[i] === HTAB)) i++;
    const valueStart = i;
    let valueEnd = i;
    while (i < limit && buf[i] !== CR) {
      const c = buf[i]!;
      if ((c < SP && c !== HTAB) || c >= 0x7f) return other('header value byte');
      i++;
      if (c !== SP && c !== HTAB) valueEnd = i;
    }
    if (i + 1 >= limit) return tooLongOr(buf);
    if (buf[i + 1] !== LF) return other('bare CR');
    i += 2;
    if (headers.has(name)) return other('repeated header');
    if (REFUSED.has(name)) return other(name);
    const value = buf.toString('latin1', valueStart, valueEnd);
    if (name === 'content-length' && value !== '0') return other('body');
    if (name === 'connection') {
      for (const token of value.toLowerCase().split(',')) {
        const t = token.trim();
        if (t === 'close') close = true;
        else if (t === 'upgrade') return other('upgrade');
      }
    }
    headers.set(name, value);
  }
  if (!headers.has('host')) return other('no host');
  return { kind: 'head', head: { method, target, headers, length: i, close } };
}

/** The scan ran out of bytes: wait for more, unless the head is already over its cap. */
function tooLongOr(buf: Buffer): HeadParse {
  return buf.length >= MAX_HEAD_BYTES ? other('head too long') : INCOMPLETE;
}

/** Whether the first `n` bytes could still become "GET " or "HEAD ". */
function isPrefixOfMethod(buf: Buffer, n: number): boolean {
  const a = 'GET ';
  const b = 'HEAD ';
  let okA = n <= a.length;
  let okB = n <= b.length;
  for (let k = 0; k < n; k++) {
    if (okA && buf[k] !== a.charCodeAt(k)) okA = false;
    if (okB && buf[k] !== b.charCodeAt(k)) okB = false;
  }
  return okA || okB;
}
