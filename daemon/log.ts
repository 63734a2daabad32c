// Structured JSON logs to stdout (journald keeps them). One logger per process.
import pino from 'pino';

export type Logger = pino.Logger;

/** Per logger: this host's node id, added to every line as `node` once the daemon knows it. */
const hostNode = new WeakMap<Logger, { id?: string }>();

export function createLogger(level: string): Logger {
  const host: { id?: string } = {};
  const log = pino({
    level, base: { svc: 'outpostd', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime,
    // A fresh object per line: pino merges the line's fields into it (they win on a clash).
    mixin: () => (host.id ? { node: host.id } : {}),
  });
  hostNode.set(log, host);
  return log;
}

/**
 * Sets the `node` field of every later line: the data plane's node id at start, the fleet's node
 * id once the agent is enrolled (docs/tunnel.md "One node id"). No-op for other loggers.
 */
export function setLogNode(log: Logger, nodeId: string): void {
  const host = hostNode.get(log);
  if (host) host.id = nodeId;
}
