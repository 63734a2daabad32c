// Structured JSON logs to stdout (journald keeps them). One logger per process.
// Every line: "level" as a name ("info", "warn", …, what journald users and jq filters read),
// "time" ISO-8601, "svc", "pid" (this process), "msg". No key twice in one line: a field of a
// log call that would repeat one of those is renamed (`pid` → `field_pid`), since JSON parsers
// disagree on duplicates (most keep the last, some reject the line).
import pino from 'pino';

export type Logger = pino.Logger;

/** Per logger: this host's node id, added to every line as `node` once the daemon knows it. */
const hostNode = new WeakMap<Logger, { id?: string }>();

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
  // Synchronous writes to fd 1, on purpose. pino's default asynchronous destination flushes
  // at process exit with sonic-boom's flushSync, which retries a failed write forever (it
  // sleeps and loops on any error but EAGAIN it is told to give up on): with stdout a closed
  // pipe (EPIPE), `process.exit()` after the SIGTERM drain never returned. A synchronous
  // destination has no exit hook; its first EPIPE turns logging off (pino's broken-pipe filter)
  // and shutdown goes on. Log lines are few (no per-request logging), so one write(2) per line
  // costs nothing measurable, and a line is on its way to journald before a crash.
  const host: { id?: string } = {};
  const root = pino({
    level,
    base: { svc: 'outpostd', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ level: label }),
      log: renameReserved,
    },
    // This host's node id on every line (`node`; a line's own `node` field wins).
    mixin: () => (host.id ? { node: host.id } : {}),
  }, pino.destination({ fd: 1, sync: true }));
  hostNode.set(root, host);
  // Child bindings are written as they are (no formatter sees them): the same rule applies.
  // Children are created from their parent's prototype chain, so they inherit this child().
  const child = root.child;
  root.child = function (this: Logger, bindings, options) { return child.call(this, renameReserved(bindings), options); } as typeof root.child;
  return root;
}

/**
 * Sets the `node` field of every later line: the data plane's node id at start, the fleet's node
 * id once the agent is enrolled (docs/tunnel.md "One node id"). No-op for other loggers.
 */
export function setLogNode(log: Logger, nodeId: string): void {
  const host = hostNode.get(log);
  if (host) host.id = nodeId;
}
