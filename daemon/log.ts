// Structured JSON logs to stdout (journald keeps them). One logger per process.
// Every line: "level" as a name ("info", "warn", …, what journald users and jq filters read),
// "time" ISO-8601, "svc", "pid" (this process), "msg". No key twice in one line: a field of a
// log call that would repeat one of those is renamed (`pid` → `field_pid`), since JSON parsers
// disagree on duplicates (most keep the last, some reject the line).
import pino from 'pino';

export type Logger = pino.Logger;

const RESERVED = new Set(['level', 'time', 'msg', 'svc', 'pid', 'hostname']);

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { svc: 'outpostd', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log(obj) {
        let out = obj;
        for (const k of Object.keys(obj)) {
          if (!RESERVED.has(k)) continue;
          if (out === obj) out = { ...obj };
          out[`field_${k}`] = out[k];
          delete out[k];
        }
        return out;
      },
    },
  });
}
