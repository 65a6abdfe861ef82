// The primary's relay of a worker's output: whole lines per write, whatever the pipe's chunks.

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MAX_PARTIAL_LINE_BYTES, relayLines } from '../../src/cluster/log-relay.js';

function relayed(format?: (line: string) => string) {
  const input = new PassThrough();
  const writes: string[] = [];
  relayLines(input, { write: (c) => writes.push(Buffer.from(c).toString()) }, format);
  const ended = new Promise<void>((resolve) => input.on('end', () => setImmediate(resolve)));
  return { input, writes, ended };
}

describe('relayLines', () => {
  it('writes only whole lines, the bytes unchanged, however the chunks cut them', async () => {
    const lines = Array.from({ length: 200 }, (_, i) => JSON.stringify({ level: 30, msg: 'transfer', i, path: `/iso/n${i}.iso` }) + '\n');
    const text = lines.join('');
    const r = relayed();
    // Cut at odd places: mid-line, at a newline, one byte at a time.
    const cuts = [1, 7, 93, 94, 95, 400, 401, 1500, 4000, text.length];
    let at = 0;
    for (const cut of cuts) {
      r.input.write(text.slice(at, cut));
      at = cut;
    }
    r.input.end();
    await r.ended;
    expect(r.writes.join('')).toBe(text);
    for (const w of r.writes) {
      expect(w.endsWith('\n')).toBe(true);
      for (const line of w.slice(0, -1).split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    }
    // Fewer writes than lines: a chunk's lines go in one write.
    expect(r.writes.length).toBeLessThan(lines.length);
  });

  it('writes a last line that never got its newline, with one', async () => {
    const r = relayed();
    r.input.write('{"a":1}\n{"b":');
    r.input.end('2}');
    await r.ended;
    expect(r.writes).toEqual(['{"a":1}\n', '{"b":2}\n']);
  });

  it('does not hold an endless line', async () => {
    const r = relayed();
    const piece = 'x'.repeat(1024 * 1024);
    for (let i = 0; i < MAX_PARTIAL_LINE_BYTES / piece.length; i++) r.input.write(piece);
    r.input.end();
    await r.ended;
    expect(r.writes).toHaveLength(1);
    expect(r.writes[0]!.length).toBe(MAX_PARTIAL_LINE_BYTES + 1);
  });

  it('formats line by line when asked (pretty output)', async () => {
    const r = relayed((line) => `> ${line}\n`);
    r.input.write('one\ntw');
    r.input.end('o\n');
    await r.ended;
    expect(r.writes).toEqual(['> one\n', '> two\n']);
  });
});
