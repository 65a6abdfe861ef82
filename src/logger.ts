// The process logger: pino records, as JSON lines or as one readable line each on a terminal.
// Formatting lives in log-pretty.ts (the one pretty printer); this module picks the level, the
// timestamp and the destination.

import pino, { type DestinationStream, type Logger } from 'pino';
import { createLogDestination, type LogFormat } from './log-pretty.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  readonly level?: string;
  /** Where records go; default stdout in `format`. */
  readonly destination?: DestinationStream;
  /** json, pretty, or auto (pretty when stdout is a TTY); default auto. Ignored with `destination`. */
  readonly format?: LogFormat;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination = options.destination ?? createLogDestination(options.format ?? 'auto');
  return pino({ level: options.level ?? 'info', base: undefined, timestamp: pino.stdTimeFunctions.epochTime }, destination);
}
