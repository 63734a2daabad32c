// Structured JSON logs to stdout (journald keeps them). One logger per process.
import pino from 'pino';

export type Logger = pino.Logger;

/** Per logger: this host's node id, added to every line as `node` once the daemon knows it. */
const hostNode = new WeakMap<Logger, { id?: string }>();

export function createLogger(level: string): Logger {
  // Synchronous writes to fd 1, on purpose. pino's default asynchronous destination flushes
  // at process exit with sonic-boom's flushSync, which retries a failed write forever (it
  // sleeps and loops on any error but EAGAIN it is told to give up on): with stdout a closed
  // pipe (EPIPE), `process.exit()` after the SIGTERM drain never returned. A synchronous
  // destination has no exit hook; its first EPIPE turns logging off (pino's broken-pipe filter)
  // and shutdown goes on. Log lines are few (no per-request logging), so one write(2) per line
  // costs nothing measurable, and a line is on its way to journald before a crash.
  const host: { id?: string } = {};
  const log = pino({
    level, base: { svc: 'outpostd', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime,
    // A fresh object per line: pino merges the line's fields into it (they win on a clash).
    mixin: () => (host.id ? { node: host.id } : {}),
  }, pino.destination({ fd: 1, sync: true }));
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
