// Text helpers shared by the syntax parsers: physical lines with their offsets (line endings
// kept as they are: \n, \r\n, or none on the last line), offset -> line number, and applying
// splices. Nothing here ever adds or removes a line break.

import type { Splice } from './model.js';

export interface PhysicalLine {
  /** 1-based. */
  readonly number: number;
  /** Offset of the first character. */
  readonly start: number;
  /** Offset just past the content (before \r\n or \n). */
  readonly end: number;
  readonly content: string;
}

/** The lines of `text`. A final newline does not start another line. */
export function physicalLines(text: string): PhysicalLine[] {
  const lines: PhysicalLine[] = [];
  let start = 0;
  let number = 1;
  while (start < text.length) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = text.length;
    const end = nl > start && text.charCodeAt(nl - 1) === 0x0d ? nl - 1 : nl;
    lines.push({ number, start, end, content: text.slice(start, end) });
    start = nl + 1;
    number++;
  }
  return lines;
}

/** Maps offsets to 1-based line numbers by binary search over line starts. */
export function lineLocator(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) starts.push(i + 1);
  return (offset) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
}

/**
 * Applies non-overlapping splices. Applied from the end of the text backwards; at one offset a
 * replacement goes before an insertion, so an insertion at the end of a removed token survives.
 * Splices at the same offsets go in reverse order of the list.
 */
export function applySplices(text: string, splices: readonly Splice[]): string {
  const sorted = [...splices].sort((a, b) => b.start - a.start || b.end - a.end);
  return disjoint(text, sorted) ? joinPieces(text, sorted) : applyOneByOne(text, sorted);
}

/** Whether `sorted` (last offset first) are whole offsets in the text, none reaching into the one before. */
function disjoint(text: string, sorted: readonly Splice[]): boolean {
  let limit = text.length;
  for (const s of sorted) {
    if (!Number.isInteger(s.start) || !Number.isInteger(s.end) || s.start < 0 || s.start > s.end || s.end > limit) return false;
    limit = s.start;
  }
  return true;
}

/** The text between splices and the splices' texts, from the start, joined once: linear in the output. */
function joinPieces(text: string, sorted: readonly Splice[]): string {
  const pieces: string[] = [];
  let at = 0;
  for (let i = sorted.length - 1; i >= 0; i--) {
    const s = sorted[i] as Splice;
    pieces.push(text.slice(at, s.start), s.text);
    at = s.end;
  }
  pieces.push(text.slice(at));
  return pieces.join('');
}

/** Each splice on the result of those at later offsets: what overlapping or out-of-range splices amount to. */
function applyOneByOne(text: string, sorted: readonly Splice[]): string {
  let out = text;
  for (const s of sorted) out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return out;
}

/** Merges overlapping or touching deletions, keeps others; checks that the rest do not overlap. */
export function normalizeSplices(splices: readonly Splice[]): Splice[] {
  const sorted = [...splices].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Splice[] = [];
  for (const s of sorted) {
    const prev = out[out.length - 1];
    if (prev && s.start < prev.end) {
      if (prev.text === '' && s.text === '') {
        out[out.length - 1] = { start: prev.start, end: Math.max(prev.end, s.end), text: '' };
        continue;
      }
      throw new Error(`internal: overlapping edits at offsets ${prev.start}-${prev.end} and ${s.start}-${s.end}`);
    }
    out.push(s);
  }
  return out;
}
