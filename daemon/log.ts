// Structured JSON logs to stdout (journald keeps them). One logger per process.
// Every line: "level" as a name ("info", "warn", …, what journald users and jq filters read),
// "time" ISO-8601, "svc", "pid" (this process), "msg". No key twice in one line: a field of a
// log call that would repeat one of those is renamed (`pid` → `field_pid`), since JSON parsers
// disagree on duplicates (most keep the last, some reject the line).
import pino from 'pino';

export type Logger = pino.Logger;

const RESERVED = new Set(['level', 'time', 'msg', 'svc', 'pid', 'hostname']);

/** `obj` with each reserved key renamed to `field_<key>` (the same object when there is none). */
function renameReserved<T extends Record<string, unknown>>(obj: T): T {
  let out = obj;
  for (const k of Object.keys(obj)) {
    if (!RESERVED.has(k)) continue;
    if (out === obj) out = { ...obj };
    (out as Record<string, unknown>)[`field_${k}`] = out[k];
    delete out[k];
  }
  return out;
}

export function createLogger(level: string): Logger {
  const root = pino({
    level,
    base: { svc: 'outpostd', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: renameReserved,
    },
  });
  // Child bindings are written as they are (no formatter sees them): the same rule applies.
  // Children are created from their parent's prototype chain, so they inherit this child().
  const child = root.child;
  root.child = function (this: Logger, bindings, options) { return child.call(this, renameReserved(bindings), options); } as typeof root.child;
  return root;
}
