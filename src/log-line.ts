// Records written on every request, built by hand: pino's generic serializer walks the object's
// keys with a megamorphic load for each and asks a serializer table per key, and the object itself
// (with optional fields spread in) costs map transitions. For an image transfer, the line was
// about 7% of the serving thread's time on random 256 KiB ranges; a caller that knows its fields
// writes them as a JSON fragment instead.
//
// The line is what pino itself writes for the same fields: its level and time fragments, the
// logger's child bindings, the fields, the message and its line end, to the same destination.
// Anything that would change that (a mixin, a log formatter, a stream hook, a destination that
// wants pino's metadata, a nested key, a message prefix) turns this off: the caller then logs
// through pino as usual.

import pino, { type Logger } from 'pino';

/** Writes one record with `fields` (a JSON fragment: `,"a":1,"b":"x"`) and message `msg`, when its level is on. */
export type LineWriter = (fields: string, msg: string) => void;

const S = pino.symbols;
// In pino's symbols, not in its type declarations.
const msgPrefixSym = (pino.symbols as unknown as Record<string, symbol | undefined>).msgPrefixSym;

/** A writer of `level` records for `logger`, or undefined when its lines would differ from pino's. */
export function lineWriter(logger: Logger, level: 'info' | 'warn' | 'error'): LineWriter | undefined {
  const l = logger as unknown as Record<symbol, unknown>;
  const value = logger.levels.values[level]!;
  const stream = l[S.streamSym] as { write(s: string): unknown; [k: symbol]: unknown } | undefined;
  const time = l[S.timeSym] as (() => string) | undefined;
  const chindings = l[S.chindingsSym];
  const levelPrefix = (l[S.lsCacheSym] as Record<string, string> | undefined)?.[String(value)];
  const end = l[S.endSym];
  const messageKey = l[S.messageKeySym];
  const formatters = l[S.formattersSym] as { log?: unknown } | undefined;
  const hooks = l[S.hooksSym] as { streamWrite?: unknown } | undefined;
  if (
    !stream ||
    typeof stream.write !== 'function' ||
    stream[S.needsMetadataGsym] === true ||
    typeof time !== 'function' ||
    typeof chindings !== 'string' ||
    typeof levelPrefix !== 'string' ||
    typeof end !== 'string' ||
    typeof messageKey !== 'string' ||
    l[S.mixinSym] ||
    formatters?.log ||
    hooks?.streamWrite ||
    l[S.nestedKeySym] ||
    (msgPrefixSym !== undefined && l[msgPrefixSym])
  )
    return undefined;
  const msgPart = `,${JSON.stringify(messageKey)}:`;
  return (fields, msg) => {
    if (logger.levelVal > value) return;
    // As pino orders a record: level, time, the child bindings, the record's own fields, message.
    stream.write(levelPrefix + time.call(logger) + chindings + fields + msgPart + JSON.stringify(msg) + end);
  };
}

/** A number as pino writes it in a record: non-finite ones as null. */
export function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}
