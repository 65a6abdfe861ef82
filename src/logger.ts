// The process logger: pino JSON lines on stdout. When stdout is a terminal the same records are
// printed as one short readable line each ("12:00:01.234 INFO  transfer node=n1 status=206 ..."),
// by a small destination that reformats pino's output (no pino-pretty dependency).

import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v);
}

/** One JSON log record as a readable line. Lines that are not JSON pass through. */
export function prettyLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const level = (LEVEL_NAMES[rec.level as number] ?? String(rec.level)).padEnd(5);
  const fields = Object.keys(rec).filter((k) => !OMIT.has(k)).map((k) => `${k}=${formatValue(rec[k])}`);
  return `${[time, level, String(rec.msg ?? ''), ...fields].filter((s) => s !== '').join(' ')}\n`;
}

/** A destination writing pretty lines to a stream (stdout in a terminal). */
export function prettyDestination(out: NodeJS.WritableStream): DestinationStream {
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) if (line !== '') out.write(prettyLine(line));
    },
  };
}

export interface LoggerOptions {
  readonly level?: string;
  /** Where records go; default stdout (pretty when it is a TTY). */
  readonly destination?: DestinationStream;
  readonly pretty?: boolean;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const pretty = options.pretty ?? (options.destination === undefined && process.stdout.isTTY === true);
  const destination = options.destination ?? (pretty ? prettyDestination(process.stdout) : pino.destination({ dest: 1, sync: false }));
  return pino({ level: options.level ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.epochTime }, destination);
}
