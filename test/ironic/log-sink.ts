// A pino logger whose records land in an array, so tests read what the source logged (and can
// check that no secret ever reaches a log line).

import { pino, type Logger } from 'pino';

export interface LogSink {
  readonly logger: Logger;
  readonly records: Array<Record<string, unknown>>;
  /** Every record as its JSON line. */
  text(): string;
}

export function logSink(): LogSink {
  const lines: string[] = [];
  const records: Array<Record<string, unknown>> = [];
  const logger = pino(
    { level: 'debug', base: undefined },
    {
      write(line: string): void {
        lines.push(line);
        records.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  );
  return { logger, records, text: () => lines.join('') };
}
