import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogDestination, formatLogLine, parseLogFormat, resolveLogFormat } from '../src/log-pretty.js';

function sink(isTTY: boolean) {
  const lines: string[] = [];
  return {
    stream: {
      isTTY,
      write: (s: string) => {
        lines.push(s);
        return true;
      },
    },
    lines,
  };
}

const T = Date.UTC(2026, 0, 1, 12, 0, 1, 234);

describe('log format', () => {
  it('accepts json, pretty and auto, and names them when given anything else', () => {
    expect(parseLogFormat('pretty')).toBe('pretty');
    expect(() => parseLogFormat('yaml')).toThrow(/json, pretty, auto/);
  });

  it('resolves auto to pretty on a TTY and JSON otherwise', () => {
    expect(resolveLogFormat('auto', { isTTY: true, write: () => true })).toBe('pretty');
    expect(resolveLogFormat('auto', { write: () => true })).toBe('json');
    expect(resolveLogFormat('json', { isTTY: true, write: () => true })).toBe('json');
  });
});

describe('pretty log lines', () => {
  it('prints time, level, message and the key fields first', () => {
    const line = formatLogLine(
      JSON.stringify({
        level: 30,
        time: T,
        reqId: 'r1',
        msg: 'transfer',
        bytes: 262144,
        node: 'n1',
        status: 206,
        range: 'bytes=0-262143',
        pid: 1,
        hostname: 'h',
      }),
    );
    expect(line).toBe('12:00:01.234Z INFO  transfer node=n1 status=206 range="bytes=0-262143" bytes=262144 reqId=r1\n');
  });

  it('quotes values with spaces and prints objects as compact JSON', () => {
    const line = formatLogLine(JSON.stringify({ level: 40, time: T, msg: 'odd', why: 'two words', extra: { a: [1, 2] } }));
    expect(line).toBe('12:00:01.234Z WARN  odd why="two words" extra={"a":[1,2]}\n');
  });

  it("shows an error's message inline and its stack below for errors", () => {
    const err = {
      type: 'UpstreamError',
      message: 'upstream said 503',
      code: 'UPSTREAM_STATUS',
      stack: 'UpstreamError: upstream said 503\n    at fetchBlock (cache.ts:10:5)\n    at read (cache.ts:20:3)',
    };
    const line = formatLogLine(JSON.stringify({ level: 50, time: T, msg: 'transfer failed', node: 'n1', err }));
    expect(line).toBe(
      '12:00:01.234Z ERROR transfer failed node=n1 err="upstream said 503" code=UPSTREAM_STATUS\n    at fetchBlock (cache.ts:10:5)\n    at read (cache.ts:20:3)\n',
    );
  });

  it('passes lines that are not JSON through', () => {
    expect(formatLogLine('plain text')).toBe('plain text\n');
  });

  it('colours only when asked', () => {
    expect(formatLogLine(JSON.stringify({ level: 30, time: T, msg: 'm' }), { color: true })).toContain('\u001b[32mINFO');
  });
});

describe('createLogDestination', () => {
  it('writes readable lines from a pino logger on a TTY (auto), without colour under NO_COLOR', () => {
    const { stream, lines } = sink(true);
    const log = pino({ base: undefined, timestamp: () => `,"time":${T}` }, createLogDestination('auto', { stream, env: { NO_COLOR: '1' } }));
    log.child({ reqId: 'r7' }).info({ node: 'n1', status: 200 }, 'request');
    expect(lines.join('')).toBe('12:00:01.234Z INFO  request node=n1 status=200 reqId=r7\n');
  });

  it('writes JSON lines when the stream is not a TTY (auto), and when json is asked for on a TTY', () => {
    for (const [format, isTTY] of [
      ['auto', false],
      ['json', true],
    ] as const) {
      const { stream, lines } = sink(isTTY);
      pino({ base: undefined }, createLogDestination(format, { stream })).info({ node: 'n1' }, 'request');
      expect(JSON.parse(lines.join(''))).toMatchObject({ level: 30, node: 'n1', msg: 'request' });
    }
  });

  it('reassembles a record split across writes', () => {
    const { stream, lines } = sink(true);
    const d = createLogDestination('pretty', { stream, color: false });
    const rec = JSON.stringify({ level: 30, time: T, msg: 'split' });
    d.write(rec.slice(0, 10));
    expect(lines).toEqual([]);
    d.write(`${rec.slice(10)}\n`);
    expect(lines.join('')).toBe('12:00:01.234Z INFO  split\n');
  });
});
