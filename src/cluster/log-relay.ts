// How a cluster's primary writes its workers' output: one log stream, with no line of one process
// cut into by another's. A worker's stdout and stderr are pipes; what arrives is written whole
// lines at a time, so the primary's own lines and other workers' land between lines, never inside
// one.
//
// JSON lines pass as the bytes that came: each chunk read from the pipe is written up to its last
// newline in one write, and the rest waits for the next chunk. Splitting every line out (readline)
// and writing each cost the primary a string and a write per request the workers logged: about
// 7 µs a line, the largest share of the primary's CPU on small ranges. Pretty output (a terminal)
// formats line by line, as before.

import { createInterface } from 'node:readline';

/** A line longer than this without its newline is written as it is (a worker's logs never come close). */
export const MAX_PARTIAL_LINE_BYTES = 4 * 1024 * 1024;

const NEWLINE = 0x0a;

/** Writes `input`'s whole lines to `out` as they come, each line formatted by `format` when given. */
export function relayLines(
  input: NodeJS.ReadableStream | null | undefined,
  out: { write(chunk: string | Uint8Array): unknown },
  format?: (line: string) => string,
): void {
  if (!input) return;
  if (format) {
    const lines = createInterface({ input, crlfDelay: Infinity });
    lines.on('line', (line) => out.write(format(line)));
    return;
  }
  let partial: Buffer[] = [];
  let partialBytes = 0;
  input.on('data', (data: Buffer | string) => {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    const nl = chunk.lastIndexOf(NEWLINE);
    if (nl < 0) {
      partial.push(chunk);
      partialBytes += chunk.length;
      if (partialBytes >= MAX_PARTIAL_LINE_BYTES) {
        out.write(Buffer.concat([...partial, Buffer.from('\n')]));
        partial = [];
        partialBytes = 0;
      }
      return;
    }
    const lines = chunk.subarray(0, nl + 1);
    out.write(partialBytes > 0 ? Buffer.concat([...partial, lines]) : lines);
    partial = nl + 1 < chunk.length ? [chunk.subarray(nl + 1)] : [];
    partialBytes = chunk.length - (nl + 1);
  });
  // A last line without its newline (a worker killed mid-write) is still written, as a line.
  input.on('end', () => {
    if (partialBytes > 0) out.write(Buffer.concat([...partial, Buffer.from('\n')]));
    partial = [];
    partialBytes = 0;
  });
}
