import pino, { type LoggerOptions } from 'pino';
import { describe, expect, it } from 'vitest';
import { createHttpMetrics, transferLog, transferRecord } from '../src/http/transfer-log.js';
import { jsonNumber, lineWriter } from '../src/log-line.js';
import { STORE_SOURCE } from '../src/serving/serving.js';
import type { TransferEnd, TransferInfo } from '../src/serving/transfers.js';

function capture(options: LoggerOptions = {}) {
  const lines: string[] = [];
  // The options of createLogger (src/logger.ts), with a fixed time so two lines can be compared.
  const logger = pino(
    { level: 'info', base: undefined, timestamp: () => ',"time":1796311957559', ...options },
    { write: (s: string) => void lines.push(s) },
  );
  return { logger, lines };
}

const odd = 'quote " backslash \\ tab \t newline \n nul \u0000 é ✓';

describe('hand-built log lines', () => {
  it('are byte for byte what pino writes for the same fields, child bindings included', () => {
    for (const bindings of [undefined, { worker: 1 }, { worker: 'primary', source: odd }]) {
      const { logger: root, lines } = capture();
      const logger = bindings ? root.child(bindings) : root;
      const write = lineWriter(logger, 'info')!;
      expect(write).toBeDefined();
      const fields = { a: 'x', b: odd, n: 12.5, z: null, big: 2 ** 53 };
      logger.info(fields, 'transfer');
      write(`,"a":"x","b":${JSON.stringify(odd)},"n":${jsonNumber(12.5)},"z":null,"big":${jsonNumber(2 ** 53)}`, 'transfer');
      expect(lines).toHaveLength(2);
      expect(lines[1]).toBe(lines[0]);
    }
  });

  it('write nothing when the level is off, and follow a level changed later', () => {
    const { logger, lines } = capture({ level: 'warn' });
    const write = lineWriter(logger, 'info')!;
    write(',"a":1', 'm');
    expect(lines).toEqual([]);
    logger.level = 'debug';
    write(',"a":1', 'm');
    expect(lines).toHaveLength(1);
  });

  it('are not offered when pino would change the line (mixin, log formatter, stream hook, message prefix, nested key)', () => {
    expect(lineWriter(capture({ mixin: () => ({ x: 1 }) }).logger, 'info')).toBeUndefined();
    expect(lineWriter(capture({ formatters: { log: (o) => o } }).logger, 'info')).toBeUndefined();
    expect(lineWriter(capture({ hooks: { streamWrite: (s) => s } }).logger, 'info')).toBeUndefined();
    expect(lineWriter(capture({ msgPrefix: '[x] ' }).logger, 'info')).toBeUndefined();
    expect(lineWriter(capture({ nestedKey: 'payload' }).logger, 'info')).toBeUndefined();
  });

  it('numbers that JSON cannot hold are written as null, as pino does', () => {
    expect([jsonNumber(Number.NaN), jsonNumber(Infinity), jsonNumber(-0), jsonNumber(1e21)]).toEqual(['null', 'null', '0', '1e+21']);
  });
});

describe('transfer lines', () => {
  const info = (over: Partial<TransferInfo> = {}): TransferInfo => ({
    id: 'req-1',
    ref: { source: STORE_SOURCE, name: 'n1' },
    method: 'GET',
    status: 206,
    body: true,
    rangeHeader: 'bytes=0-262143',
    served: '0-262143',
    expectedBytes: 262144,
    startedAt: 0,
    ...over,
  });
  const end = (over: Partial<TransferEnd> = {}): TransferEnd => ({ bytes: 262144, outcome: 'complete', durationMs: 1.25, ...over });

  /** The line pino writes for the transfer's record (the object transfer-log.ts logged before). */
  function viaPino(t: TransferInfo, r: TransferEnd, hitRatio: number | null): string {
    const { logger, lines } = capture();
    logger.child({ worker: 2 }).info(transferRecord(t, r, hitRatio), 'transfer');
    return lines[0]!;
  }

  const stats = (hits: number, misses: number) => ({ cacheHits: hits, cacheMisses: misses, upstreamBytes: 2097152 });

  it('are the same bytes as the object logged through pino, for every optional field', () => {
    const cases: Array<[TransferInfo, TransferEnd, number | null]> = [
      [info(), end(), null],
      [info({ rangeHeader: undefined, served: 'full', status: 200 }), end({ stats: stats(3, 1) }), 0.75],
      [
        info({ ref: { source: 'ironic', name: '1be26c0b-03f2-4d2e-ae87-c02d7f33c123' } }),
        end({ outcome: 'aborted', bytes: 1000, stats: stats(0, 0) }),
        null,
      ],
      [info({ id: odd, rangeHeader: odd }), end({ stats: stats(1, 2) }), 0.333],
    ];
    for (const [t, r, ratio] of cases) {
      const { logger, lines } = capture();
      const observer = transferLog(createHttpMetrics(), logger.child({ worker: 2 }), () => 0);
      observer.end!(t, r);
      expect(lines).toEqual([viaPino(t, r, ratio)]);
    }
  });

  it('of failed transfers and of transfers with an error still go through pino (the error serialized)', () => {
    const { logger, lines } = capture();
    const observer = transferLog(createHttpMetrics(), logger, () => 0);
    observer.end!(info(), end({ outcome: 'failed', error: new Error('upstream gone') }));
    observer.end!(info(), end({ outcome: 'aborted', error: new Error('client gone') }));
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => [p.level, p.msg, (p.err as { message: string }).message])).toEqual([
      [50, 'transfer failed', 'upstream gone'],
      [30, 'transfer', 'client gone'],
    ]);
  });
});
