// Where pino's records go: JSON lines (for log collectors, the default when the output is not a
// terminal) or one readable line per record for people at a terminal (`npm start` and
// `isoproxy serve` on a TTY). No pino-pretty dependency: the pretty destination parses each JSON
// line pino writes and prints
//
//   12:00:01.234Z INFO  transfer node=n1 status=206 range="bytes=0-262143" bytes=262144 durationMs=3.1 reqId=r1
//
// time (UTC, as in the JSON), level, message, then the fields people look for first (node,
// method, status, range, bytes, duration, code) and the rest in the order pino wrote them. An
// error's stack follows on indented lines for warnings and worse. Lines that are not JSON pass
// through unchanged. Colours only on a terminal, and never with NO_COLOR set.

import type { DestinationStream } from 'pino';
import { batchedDestination } from './log-batch.js';
import { fdWriter } from './log-fd.js';

export type LogFormat = 'json' | 'pretty' | 'auto';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty', 'auto'];

/** The value of `--log-format`, or an Error naming the accepted values. */
export function parseLogFormat(value: string): LogFormat {
  if ((LOG_FORMATS as readonly string[]).includes(value)) return value as LogFormat;
  throw new Error(`log format must be one of ${LOG_FORMATS.join(', ')}, got ${JSON.stringify(value)}`);
}

interface OutStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

export interface LogDestinationOptions {
  /** Default process.stdout. */
  readonly stream?: OutStream;
  /** Default: the stream is a TTY, NO_COLOR is unset and TERM is not dumb. */
  readonly color?: boolean;
  /** Default process.env (NO_COLOR, TERM). */
  readonly env?: NodeJS.ProcessEnv;
}

/** 'auto' resolved: pretty on a TTY, JSON otherwise. */
export function resolveLogFormat(format: LogFormat, stream: OutStream = process.stdout): 'json' | 'pretty' {
  if (format !== 'auto') return format;
  return stream.isTTY === true ? 'pretty' : 'json';
}

/**
 * The destination for `pino(options, destination)`: JSON lines or readable lines on the stream.
 * JSON to stdout goes through an asynchronous writer (log-fd.ts), in batches (log-batch.ts).
 */
export function createLogDestination(format: LogFormat, options: LogDestinationOptions = {}): DestinationStream {
  const stream = options.stream ?? process.stdout;
  if (resolveLogFormat(format, stream) === 'json') {
    return stream === process.stdout ? batchedDestination(() => fdWriter(1)) : { write: (s: string) => void stream.write(s) };
  }
  const env = options.env ?? process.env;
  const color = options.color ?? (stream.isTTY === true && env.NO_COLOR === undefined && env.TERM !== 'dumb');
  return prettyDestination(stream, { color });
}

/** A destination that turns each JSON line written to it into a readable line on `stream`. */
export function prettyDestination(stream: OutStream, options: { color?: boolean } = {}): DestinationStream {
  let partial = '';
  return {
    write(chunk: string): void {
      const text = partial + chunk;
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      // A record is at most a few KiB; something without newlines this long is not pino's.
      if (partial.length > 1024 * 1024) {
        lines.push(partial);
        partial = '';
      }
      let out = '';
      for (const line of lines) if (line !== '') out += formatLogLine(line, options);
      if (out !== '') stream.write(out);
    },
  };
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLOR: Record<string, string> = { TRACE: '90', DEBUG: '36', INFO: '32', WARN: '33', ERROR: '31', FATAL: '35;1' };
/** Not printed as fields: shown in their own place, or noise on a terminal. */
const OMIT = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'v']);
/** Printed first, in this order, when present. */
const FIRST = ['node', 'method', 'path', 'status', 'range', 'served', 'bytes', 'expectedBytes', 'durationMs', 'outcome', 'code', 'base', 'url'];

function paint(color: boolean, code: string, s: string): string {
  return color ? `\u001b[${code}m${s}\u001b[0m` : s;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=\\]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return JSON.stringify(v) ?? String(v);
}

function levelName(level: unknown): string {
  if (typeof level === 'number') return LEVELS[level] ?? String(level);
  return typeof level === 'string' ? level.toUpperCase() : '?';
}

function timeOf(t: unknown): string {
  const ms = typeof t === 'number' ? t : typeof t === 'string' ? Date.parse(t) : NaN;
  return Number.isFinite(ms) ? `${new Date(ms).toISOString().slice(11, 23)}Z` : '';
}

/** One JSON log record as a readable line (with a trailing newline). Non-JSON passes through. */
export function formatLogLine(json: string, options: { color?: boolean } = {}): string {
  const color = options.color ?? false;
  let rec: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(json);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return `${json}\n`;
    rec = parsed as Record<string, unknown>;
  } catch {
    return `${json}\n`;
  }
  const level = levelName(rec.level);
  const parts: string[] = [];
  const time = timeOf(rec.time);
  if (time !== '') parts.push(paint(color, '2', time));
  parts.push(paint(color, LEVEL_COLOR[level] ?? '0', level.padEnd(5)));
  if (rec.msg !== undefined && rec.msg !== '') parts.push(color ? paint(color, '1', String(rec.msg)) : String(rec.msg));
  const keys = [...FIRST.filter((k) => k in rec), ...Object.keys(rec).filter((k) => !FIRST.includes(k))].filter((k) => !OMIT.has(k));
  let stack: string | undefined;
  for (const k of keys) {
    const v = rec[k];
    if (v === undefined) continue;
    // pino's err serializer: show the message inline and, for warnings and worse, the stack below.
    if ((k === 'err' || k === 'error') && typeof v === 'object' && v !== null && 'message' in v) {
      const e = v as { message?: unknown; code?: unknown; stack?: unknown };
      parts.push(`${paint(color, '2', `${k}=`)}${formatValue(String(e.message))}`);
      if (e.code !== undefined && !('code' in rec)) parts.push(`${paint(color, '2', 'code=')}${formatValue(e.code)}`);
      if (typeof e.stack === 'string' && (typeof rec.level !== 'number' || rec.level >= 40)) stack = e.stack;
      continue;
    }
    parts.push(`${paint(color, '2', `${k}=`)}${formatValue(v)}`);
  }
  let line = parts.join(' ');
  if (stack)
    line += `\n${stack
      .split('\n')
      .slice(1)
      .map((l) => `    ${l.trim()}`)
      .join('\n')}`;
  return `${line}\n`;
}
