// Structured JSON logs to stdout (journald keeps them). One logger per process.
import pino from 'pino';

export type Logger = pino.Logger;

export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'outpostd', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
