// Configuration: a TOML file (--config), then environment variables, then flags, each source
// overriding the one before. Every setting is declared once, in SETTINGS: its TOML key, kind,
// default, environment variable, flag, bounds, reload and secret marks and doc. The Config type
// is derived from that table by the compiler (see "The Config type" below), the flag parser
// (node:util parseArgs through argv.ts) and `outpostd --help` read it, and the README's
// configuration table is checked against it by a test.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { scanArgv, type ArgSpec } from './argv';

interface FieldBase {
  key: string; // dotted TOML path: a top-level name or section.name
  env?: string;
  flag?: `--${string}`;
  secret?: boolean;
  /** SIGHUP applies a new value to the running daemon (see Daemon.reload); others need a restart. */
  reload?: true;
  doc: string;
}
interface IntField extends FieldBase { kind: 'int'; def: number | undefined; min: number; max: number }
interface BoolField extends FieldBase { kind: 'bool'; def: boolean | undefined }
interface StringField extends FieldBase { kind: 'string'; def: string | undefined }
interface EnumField extends FieldBase { kind: 'enum'; def: string | undefined; values: readonly string[] }

/** One setting; `def: undefined` makes it optional (unset) in Config. */
export type FieldSpec = IntField | BoolField | StringField | EnumField;

const SETTINGS = [
  { key: 'data_dir', kind: 'string', def: './data', env: 'OUTPOST_DATA_DIR', flag: '--data-dir', doc: 'where LMDB partitions and node state live' },
  { key: 'bind', kind: 'string', def: '127.0.0.1', env: 'OUTPOST_BIND', flag: '--bind', doc: 'address the API listens on; a non-loopback address needs API_KEY or MASTER_KEY' },
  { key: 'api_port', kind: 'int', def: 44000, min: 0, max: 65535, env: 'OUTPOST_API_PORT', flag: '--api-port', doc: 'HTTP/WebSocket API port (0 = pick a free port)' },
  { key: 'api_key', kind: 'string', def: undefined, env: 'API_KEY', secret: true, doc: 'Bearer token for the data-plane API' },
  { key: 'master_key', kind: 'string', def: undefined, env: 'MASTER_KEY', secret: true, doc: 'Bearer token with every scope (data plane and administration)' },
  { key: 'metrics_key', kind: 'string', def: undefined, env: 'METRICS_KEY', secret: true, doc: 'Bearer token accepted only by /metrics (both roles), for Prometheus; API_KEY and MASTER_KEY work there too' },
  { key: 'log_level', kind: 'enum', def: 'info', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], env: 'OUTPOST_LOG_LEVEL', flag: '--log-level', reload: true, doc: 'pino log level' },
  { key: 'core.partitions', kind: 'int', def: 1, min: 1, max: 64, env: 'OUTPOST_PARTITIONS', flag: '--partitions', doc: 'LMDB partitions (fixed when the data dir is created)' },
  { key: 'core.workers', kind: 'int', def: 2, min: 1, max: 64, env: 'OUTPOST_WORKERS', flag: '--workers', doc: 'worker threads of the pool (commit writes in batch mode; started on demand in main mode)' },
  { key: 'core.write_mode', kind: 'enum', def: 'main', values: ['main', 'batch'], env: 'OUTPOST_WRITE_MODE', flag: '--write-mode', doc: 'write hot path: main (group commit through lmdb-js\'s native write thread, overlapping syncs; fastest measured), batch (group commit in pool workers)' },
  { key: 'core.max_inflight', kind: 'int', def: 10000, min: 1, max: 10_000_000, env: 'OUTPOST_MAX_INFLIGHT', flag: '--max-inflight', doc: 'writes queued or committing before new ones get 429 overloaded' },
  { key: 'core.max_batch', kind: 'int', def: 1000, min: 1, max: 100_000, env: 'OUTPOST_MAX_BATCH', doc: 'most writes committed in one transaction' },
  { key: 'kv.max_value_bytes', kind: 'int', def: 1 << 20, min: 1, max: 64 << 20, env: 'OUTPOST_KV_MAX_VALUE_BYTES', doc: 'largest KV value (decoded bytes)' },
  { key: 'kv.auto_create_namespaces', kind: 'bool', def: true, env: 'OUTPOST_KV_AUTO_CREATE_NAMESPACES', doc: 'a PUT to an unknown namespace creates it (reads of an unknown namespace are always 404)' },
  { key: 'kv.reap_interval_ms', kind: 'int', def: 1000, min: 0, max: 3_600_000, env: 'OUTPOST_KV_REAP_INTERVAL_MS', doc: 'how often expired keys are reclaimed (0 = never; they are still never returned)' },
  { key: 'kv.read_cache_bytes', kind: 'int', def: 16 << 20, min: 0, max: 4 * 1024 ** 3, env: 'OUTPOST_KV_READ_CACHE_BYTES', doc: 'memory for rendered GET responses and batch-protocol kv_get entries of keys without TTL, dropped when the key is written (0 = off)' },
  { key: 'queue.max_deliveries', kind: 'int', def: 5, min: 1, max: 1000, env: 'OUTPOST_QUEUE_MAX_DELIVERIES', doc: 'deliveries of one message before it moves to the dead-letter queue' },
  { key: 'queue.lease_sweep_interval_ms', kind: 'int', def: 1000, min: 0, max: 3_600_000, env: 'OUTPOST_QUEUE_LEASE_SWEEP_INTERVAL_MS', doc: 'how often expired leases (and due delayed messages) go back to the queue in the background (0 = only when the queue is read: dequeue, ack, nack, stats, DLQ)' },
  { key: 'queue.dedup_window_ms', kind: 'int', def: 300000, min: 0, max: 604800000, env: 'OUTPOST_QUEUE_DEDUP_WINDOW_MS', doc: 'how long an enqueue dedup_key is remembered' },
  { key: 'stream.max_records', kind: 'int', def: 0, min: 0, max: Number.MAX_SAFE_INTEGER, env: 'OUTPOST_STREAM_MAX_RECORDS', doc: 'default retention of a new stream: records kept (0 = unlimited)' },
  { key: 'stream.max_age_ms', kind: 'int', def: 0, min: 0, max: Number.MAX_SAFE_INTEGER, env: 'OUTPOST_STREAM_MAX_AGE_MS', doc: 'default retention of a new stream: age of the oldest record kept (0 = unlimited)' },
  { key: 'stream.trim_interval_ms', kind: 'int', def: 1000, min: 0, max: 3_600_000, env: 'OUTPOST_STREAM_TRIM_INTERVAL_MS', doc: 'how often retention trims streams in the background (0 = only when retention is set)' },
  { key: 'ts.rollup_interval_ms', kind: 'int', def: 10000, min: 0, max: 3_600_000, env: 'OUTPOST_TS_ROLLUP_INTERVAL_MS', doc: 'how often 1-minute and 1-hour rollups are brought up to date (points older than a minute; late points recompute their bucket); queries use them for windows that are multiples of their resolution (0 = off)' },
  { key: 'ts.trim_interval_ms', kind: 'int', def: 5000, min: 0, max: 3_600_000, env: 'OUTPOST_TS_TRIM_INTERVAL_MS', doc: 'how often time-series retention deletes old points (0 = never)' },
  { key: 'ssh.enabled', kind: 'bool', def: true, env: 'OUTPOST_SSH_ENABLED', flag: '--ssh-enabled', doc: 'run the agent\'s SSH server' },
  { key: 'ssh.port', kind: 'int', def: 42222, min: 0, max: 65535, env: 'OUTPOST_SSH_PORT', flag: '--ssh-port', doc: 'SSH server port (0 = pick a free port)' },
  { key: 'ssh.bind', kind: 'string', def: undefined, env: 'OUTPOST_SSH_BIND', flag: '--ssh-bind', doc: 'address the SSH server listens on (default: the same as bind)' },
  { key: 'ssh.run_as', kind: 'string', def: 'outpost', env: 'OUTPOST_SSH_RUN_AS', flag: '--ssh-run-as', doc: 'account that SSH sessions and commands run as when the daemon runs as root (never root unless set to root); ignored when the daemon runs as another user' },
  { key: 'ssh.idle_timeout_ms', kind: 'int', def: 900000, min: 0, max: 86_400_000, env: 'OUTPOST_SSH_IDLE_TIMEOUT_MS', doc: 'close an SSH connection with no traffic for this long (0 = never)' },
  { key: 'ssh.preauth_timeout_ms', kind: 'int', def: 10000, min: 100, max: 600_000, env: 'OUTPOST_SSH_PREAUTH_TIMEOUT_MS', doc: 'close an SSH connection (agent SSH server, admin SSH jump) that has not started authentication (version banner and key exchange done) this long after connecting; the 60 s login grace then bounds authentication itself' },
  { key: 'ssh.keepalive_interval_ms', kind: 'int', def: 15000, min: 0, max: 3_600_000, env: 'OUTPOST_SSH_KEEPALIVE_INTERVAL_MS', doc: 'SSH keep-alive probe interval (0 = off)' },
  { key: 'ssh.auth_failures_per_minute', kind: 'int', def: 10, min: 1, max: 100_000, env: 'OUTPOST_SSH_AUTH_FAILURES_PER_MINUTE', doc: 'failed SSH authentications allowed per source address per minute before it is refused' },
  { key: 'ssh.recording', kind: 'bool', def: true, env: 'OUTPOST_SSH_RECORDING', reload: true, doc: 'record every SSH shell and exec as an asciicast v2 file' },
  { key: 'ssh.recording_max_bytes', kind: 'int', def: 16 << 20, min: 1024, max: 4 * 1024 ** 3, env: 'OUTPOST_SSH_RECORDING_MAX_BYTES', reload: true, doc: 'size cap of one recording; output past it is not recorded (the recording says so)' },
  { key: 'ssh.audit_max_bytes', kind: 'int', def: 16 << 20, min: 0, max: 1024 ** 4, env: 'OUTPOST_SSH_AUDIT_MAX_BYTES', doc: 'rotate the SSH audit log (audit.log → audit.log.1 … .5) past this size; 0 = never (rotate it yourself)' },
  { key: 'ssh.recordings_max_total_bytes', kind: 'int', def: 1024 ** 3, min: 1024, max: 1024 ** 4, env: 'OUTPOST_SSH_RECORDINGS_MAX_TOTAL_BYTES', reload: true, doc: 'total size of kept recordings; the oldest are deleted past it' },
  { key: 'proxy.enabled', kind: 'bool', def: true, env: 'OUTPOST_PROXY_ENABLED', flag: '--proxy-enabled', doc: 'run the agent\'s HTTP and SOCKS5 proxies' },
  { key: 'proxy.http_port', kind: 'int', def: 44880, min: 0, max: 65535, env: 'OUTPOST_HTTP_PROXY_PORT', flag: '--http-proxy-port', doc: 'HTTP proxy port (CONNECT and absolute-URI requests; 0 = pick a free port)' },
  { key: 'proxy.socks5_port', kind: 'int', def: 44180, min: 0, max: 65535, env: 'OUTPOST_SOCKS5_PORT', flag: '--socks5-port', doc: 'SOCKS5 proxy port (0 = pick a free port)' },
  { key: 'proxy.bind', kind: 'string', def: undefined, env: 'OUTPOST_PROXY_BIND', flag: '--proxy-bind', doc: 'address the proxies listen on (default: the same as bind)' },
  { key: 'proxy.password', kind: 'string', def: undefined, env: 'PROXY_PASSWORD', secret: true, doc: 'password of proxy user `_` (generated and stored in the data dir when unset)' },
  { key: 'proxy.auth_failures_per_minute', kind: 'int', def: 20, min: 1, max: 100_000, env: 'OUTPOST_PROXY_AUTH_FAILURES_PER_MINUTE', doc: 'wrong proxy logins allowed per source address per minute before the address is refused (HTTP 429, SOCKS5 closed)' },
  { key: 'proxy.idle_timeout_ms', kind: 'int', def: 300000, min: 1000, max: 86_400_000, env: 'OUTPOST_PROXY_IDLE_TIMEOUT_MS', doc: 'close a proxy tunnel with no traffic either way for this long' },
  { key: 'proxy.allow_cidrs', kind: 'string', def: undefined, env: 'OUTPOST_PROXY_ALLOW_CIDRS', doc: 'comma-separated CIDRs allowed even though a built-in rule denies them (never the agent\'s own ports); applies to the proxies and ssh -L' },
  { key: 'proxy.deny_cidrs', kind: 'string', def: undefined, env: 'OUTPOST_PROXY_DENY_CIDRS', doc: 'comma-separated CIDRs denied in addition to the built-in rules; applies to the proxies and ssh -L' },
  { key: 'commands.max_concurrent', kind: 'int', def: 4, min: 1, max: 1024, env: 'OUTPOST_COMMANDS_MAX_CONCURRENT', reload: true, doc: 'commands running at once on this host; more wait in order' },
  { key: 'commands.output_cap_bytes', kind: 'int', def: 1 << 20, min: 1024, max: 256 << 20, env: 'OUTPOST_COMMANDS_OUTPUT_CAP_BYTES', reload: true, doc: 'output kept per command: the first and last halves of this many bytes, marked as truncated past it' },
  { key: 'commands.kill_grace_ms', kind: 'int', def: 5000, min: 0, max: 600_000, env: 'OUTPOST_COMMANDS_KILL_GRACE_MS', reload: true, doc: 'after SIGTERM on timeout or cancel, how long before SIGKILL' },
  { key: 'commands.shell', kind: 'string', def: 'bash', env: 'OUTPOST_COMMANDS_SHELL', doc: 'shell that runs command_text' },
  { key: 'admin.enabled', kind: 'bool', def: false, env: 'OUTPOST_ADMIN', flag: '--admin', doc: 'also run the control plane (admin role); `npm start` turns it on (all-in-one: the local agent enrolls into it)' },
  { key: 'admin.port', kind: 'int', def: 4000, min: 0, max: 65535, env: 'OUTPOST_ADMIN_PORT', flag: '--admin-port', doc: 'control-plane API port (0 = pick a free port)' },
  { key: 'admin.bind', kind: 'string', def: undefined, env: 'OUTPOST_ADMIN_BIND', flag: '--admin-bind', doc: 'address the control-plane API listens on (default: the same as bind); a non-loopback address needs MASTER_KEY or API_KEY' },
  { key: 'admin.database_url', kind: 'string', def: undefined, env: 'DATABASE_URL', secret: true, doc: 'PostgreSQL URL for the control-plane store (default: embedded SQLite at data_dir/admin.sqlite)' },
  { key: 'admin.default_cluster_name', kind: 'string', def: undefined, env: 'DEFAULT_CLUSTER_NAME', doc: 'cluster used by the default-cluster enrollment-key routes (created on start when missing; a cluster name: at most 24 lowercase letters, digits and inner hyphens, else the admin refuses to start)' },
  { key: 'admin.public_enrollment_key_enabled', kind: 'bool', def: false, env: 'PUBLIC_ENROLLMENT_KEY_ENABLED', doc: 'serve the public (unauthenticated) enrollment-key route; needs DEFAULT_CLUSTER_NAME' },
  { key: 'admin.self_enroll', kind: 'bool', def: true, env: 'OUTPOST_ADMIN_SELF_ENROLL', flag: '--admin-self-enroll', doc: 'with the admin role and no ENROLLMENT_KEY, the local agent enrolls into this admin (all-in-one; cluster DEFAULT_CLUSTER_NAME or "local")' },
  { key: 'admin.public_url', kind: 'string', def: undefined, env: 'OUTPOST_ADMIN_PUBLIC_URL', flag: '--admin-public-url', doc: 'URL agents use to reach this admin, put in enrollment keys (default: http://<admin bind>:<admin port>)' },
  { key: 'admin.ssh_port', kind: 'int', def: 4022, min: 0, max: 65535, env: 'OUTPOST_ADMIN_SSH_PORT', flag: '--admin-ssh-port', doc: 'SSH jump endpoint of the admin (ssh -J); 0 = pick a free port' },
  { key: 'admin.ssh_authorized_keys', kind: 'string', def: undefined, env: 'OUTPOST_ADMIN_SSH_AUTHORIZED_KEYS', flag: '--admin-ssh-authorized-keys', doc: 'authorized_keys file of operators allowed to use the SSH jump (the jump is off without it)' },
  { key: 'admin.enroll_failures_per_minute', kind: 'int', def: 10, min: 1, max: 100_000, env: 'OUTPOST_ADMIN_ENROLL_FAILURES_PER_MINUTE', doc: 'unknown enrollment keys allowed per source address per minute before the address gets 429 on the enrollment route' },
  { key: 'admin.event_retention_days', kind: 'int', def: 30, min: 1, max: 3650, env: 'OUTPOST_ADMIN_EVENT_RETENTION_DAYS', reload: true, doc: 'dispatched events, finished webhook deliveries (with their attempt log) and agent events older than this are deleted (checked hourly)' },
  { key: 'admin.heartbeat_interval_ms', kind: 'int', def: 10000, min: 100, max: 3_600_000, env: 'OUTPOST_HEARTBEAT_INTERVAL_MS', doc: 'how often agents heartbeat over the tunnel; a node is unhealthy after 3 missed, unreachable when its tunnel is down' },
  { key: 'admin.webhook_allow_private_ips', kind: 'bool', def: false, env: 'WEBHOOK_ALLOW_PRIVATE_IPS', doc: 'let webhooks target loopback, RFC 1918, link-local addresses (metadata addresses stay denied)' },
  { key: 'admin.webhook_max_attempts', kind: 'int', def: 3, min: 1, max: 100, env: 'WEBHOOK_MAX_ATTEMPTS', doc: 'delivery attempts per webhook event before it is given up' },
  { key: 'admin.event_sinks', kind: 'string', def: 'nats', env: 'EVENT_SINKS', doc: 'event sinks that publish every control-plane event, comma-separated names of plugins (plugins/README.md); a listed sink runs once its settings are set (nats: admin.nats_url); an unknown name stops the start' },
  { key: 'admin.nats_url', kind: 'string', def: undefined, env: 'NATS_URL', secret: true, doc: 'NATS server URL(s), comma-separated (nats://[user:pass@]host:4222): publish every control-plane event to JetStream (docs/events.md); off when unset' },
  { key: 'admin.nats_subject_prefix', kind: 'string', def: 'outpost.events', env: 'NATS_SUBJECT_PREFIX', doc: 'subject prefix of published events: `<prefix>.<event type>` (dot-separated tokens of letters, digits, `_`, `-`)' },
  { key: 'admin.nats_stream', kind: 'string', def: 'OUTPOST_EVENTS', env: 'NATS_STREAM', doc: 'JetStream stream the events go to; created at the first connection when missing (subjects `<prefix>.>`, file storage), else used as it is (it must capture `<prefix>.>`)' },
  { key: 'admin.nats_duplicate_window_ms', kind: 'int', def: 120000, min: 1000, max: 604_800_000, env: 'NATS_DUPLICATE_WINDOW_MS', doc: 'duplicate window of the stream when the admin creates it: a re-published event id (after a crash) is dropped within it; an existing stream keeps its own' },
  { key: 'agent.enrollment_key', kind: 'string', def: undefined, env: 'ENROLLMENT_KEY', secret: true, doc: 'enrollment key blob from an admin; the agent enrolls on start and then holds a tunnel to it' },
  { key: 'agent.name', kind: 'string', def: undefined, env: 'OUTPOST_NODE_NAME', flag: '--node-name', doc: 'node name reported at enrollment (default: the host name)' },
  { key: 'http.max_body_bytes', kind: 'int', def: 2 << 20, min: 1024, max: 256 << 20, env: 'OUTPOST_HTTP_MAX_BODY_BYTES', reload: true, doc: 'largest request body; bigger ones get 413' },
  { key: 'http.max_inflight_requests', kind: 'int', def: 20000, min: 1, max: 10_000_000, env: 'OUTPOST_HTTP_MAX_INFLIGHT_REQUESTS', reload: true, doc: 'requests in progress before new ones get 429 overloaded' },
  { key: 'http.drain_timeout_ms', kind: 'int', def: 10000, min: 0, max: 600_000, env: 'OUTPOST_HTTP_DRAIN_TIMEOUT_MS', reload: true, doc: 'how long SIGTERM waits for in-flight requests' },
] as const satisfies readonly FieldSpec[];

/** Every setting, in table order (help, README and diff order). */
export const FIELDS: readonly FieldSpec[] = SETTINGS;

// The Config type, derived from SETTINGS: a top-level row becomes a property, a `section.name`
// row a property of the section's object; the kind gives the type (an enum its values), and a
// row whose default is undefined is optional. Adding, renaming or removing a row changes the
// type, so every use of the setting is checked by tsc against the table; there is no second
// declaration to keep in step. test/config-type.test.ts pins a few derived types.
type Row = (typeof SETTINGS)[number];
type ValueOf<F> = F extends { kind: 'int' } ? number
  : F extends { kind: 'bool' } ? boolean
    : F extends { kind: 'enum'; values: readonly (infer V)[] } ? V
      : string;
type Unset<F> = F extends { def: undefined } ? true : false;
type Leaf<K> = K extends `${string}.${infer L}` ? L : K;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Group<Fs extends Row> = Simplify<
  { [F in Fs as Unset<F> extends true ? never : Leaf<F['key']>]: ValueOf<F> } &
  { [F in Fs as Unset<F> extends true ? Leaf<F['key']> : never]?: ValueOf<F> }>;
type TopRows = Row extends infer F ? (F extends { key: `${string}.${string}` } ? never : F) : never;
type SectionOf<K> = K extends `${infer S}.${string}` ? S : never;
type Sections = { [S in SectionOf<Row['key']>]: Group<Extract<Row, { key: `${S}.${string}` }>> };

// Compile-time checks of the table itself (a failing one makes `tsc` reject this file):
// keys nest one level at most, and an enum's default is one of its values.
type TooDeep = Extract<Row, { key: `${string}.${string}.${string}` }>['key'];
type BadEnumDefault = Row extends infer F ? (F extends { key: infer K; kind: 'enum'; def: infer D; values: readonly (infer V)[] } ? (D extends V | undefined ? never : K) : never) : never;
const tableChecks: { tooDeep: [TooDeep] extends [never] ? true : TooDeep; badEnumDefault: [BadEnumDefault] extends [never] ? true : BadEnumDefault } = { tooDeep: true, badEnumDefault: true };
void tableChecks;

export type Config = Simplify<Group<TopRows> & Sections & {
  /** Where each setting came from, for the startup log. */
  sources: Record<string, 'default' | 'file' | 'env' | 'flag'>;
  config_file?: string;
}>;

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(message: string) { super(message); this.name = 'ConfigError'; }
}

function coerce(f: FieldSpec, raw: unknown, where: string): string | number | boolean {
  // A secret's value is never echoed (it would reach stderr at start, the log on SIGHUP).
  const bad = (why: string) => new ConfigError(`${where}: ${f.key} ${why}` + (f.secret ? ' (value not shown: it is a secret)' : ` (got ${JSON.stringify(raw)})`) + HINT);
  switch (f.kind) {
    case 'string':
      if (typeof raw !== 'string' || raw === '') throw bad('must be a non-empty string');
      return raw;
    case 'enum':
      if (typeof raw !== 'string' || !f.values!.includes(raw)) throw bad(`must be one of ${f.values!.join(', ')}`);
      return raw;
    case 'bool':
      if (typeof raw === 'boolean') return raw;
      if (typeof raw === 'string' && /^(true|1|yes|on)$/i.test(raw)) return true;
      if (typeof raw === 'string' && /^(false|0|no|off)$/i.test(raw)) return false;
      throw bad('must be true or false');
    case 'int': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'bigint' ? Number(raw) : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isInteger(n)) throw bad('must be an integer');
      if ((f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max)) throw bad(`must be between ${f.min} and ${f.max}`);
      return n;
    }
  }
}

function setPath(obj: Record<string, unknown>, key: string, v: unknown): void {
  const parts = key.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[parts[parts.length - 1]] = v;
}

/** The value of a dotted setting in a resolved Config. */
export function getPath(cfg: Config, key: string): unknown {
  let o: unknown = cfg;
  for (const p of key.split('.')) o = o === undefined || o === null ? undefined : (o as Record<string, unknown>)[p];
  return o;
}

/** Sets a dotted setting of a resolved Config in place (SIGHUP reload). */
export function setConfigValue(cfg: Config, key: string, v: unknown): void {
  setPath(cfg as unknown as Record<string, unknown>, key, v);
}

export interface ConfigChange { key: string; reloadable: boolean; secret: boolean; from: unknown; to: unknown }

/** Settings whose value differs between two resolved configurations, in FIELDS order. */
export function diffConfig(current: Config, next: Config): ConfigChange[] {
  const out: ConfigChange[] = [];
  for (const f of FIELDS) {
    const from = getPath(current, f.key);
    const to = getPath(next, f.key);
    if (from !== to) out.push({ key: f.key, reloadable: f.reload === true, secret: f.secret === true, from, to });
  }
  return out;
}

function flattenToml(obj: Record<string, unknown>, prefix = '', out: Record<string, unknown> = Object.create(null)): Record<string, unknown> {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) flattenToml(v as Record<string, unknown>, key, out);
    else out[key] = v;
  }
  return out;
}

/** Appended to errors about a flag or a setting's value: where the flags and settings are listed. */
const HINT = ' (see outpostd --help)';

/**
 * The options of outpostd: every setting with a flag (a bool setting is a switch), then
 * --config, --wait-ready, --help and --version. parseArgs and helpText read it.
 */
export function argSpecs(): ArgSpec[] {
  const fields = FIELDS.filter((f) => f.flag).map((f): ArgSpec => ({
    name: f.flag!.slice(2),
    value: f.kind !== 'bool',
    arg: f.kind === 'int' ? 'N' : f.kind === 'enum' ? f.values.join('|') : f.kind === 'string' ? 'VALUE' : undefined,
  }));
  return [...fields,
    { name: 'config', value: true, arg: 'FILE' },
    { name: 'wait-ready', value: true, arg: 'SECONDS' },
    { name: 'help', short: 'h' },
    { name: 'version', short: 'v' }];
}

export interface ParsedArgs {
  /** Flag (`--api-port`) → its value: a string, or a boolean for a switch (`--admin`, `--admin=false`, `--no-admin`, `--admin true`). */
  flags: Map<string, string | boolean>;
  configFile?: string;
  help: boolean;
  version: boolean;
  waitReady?: number;
}

/**
 * outpostd's argv, on node:util parseArgs (argv.ts): unknown options, value options without a
 * value and bad switch values are a ConfigError naming the option. A switch works alone
 * (`--admin`), as `--admin=false` / `--no-admin`, and as `--admin true|false` (the word after a
 * switch is its value: outpostd takes no positional arguments, and `npm start`, systemd units
 * and scripts write `--admin true`).
 */
export function parseArgs(argv: string[]): ParsedArgs {
  const { values } = scanArgv(argv, argSpecs(), { switchValueAfter: true, fail: (m) => new ConfigError(m + HINT) });
  const flags = new Map<string, string | boolean>();
  for (const f of FIELDS) {
    const v = f.flag ? values[f.flag.slice(2)] : undefined;
    if (v !== undefined) flags.set(f.flag!, v);
  }
  let waitReady: number | undefined;
  if (values['wait-ready'] !== undefined) {
    waitReady = Number(values['wait-ready']);
    if (!(waitReady > 0)) throw new ConfigError(`--wait-ready needs a number of seconds (got ${JSON.stringify(values['wait-ready'])})${HINT}`);
  }
  return {
    flags,
    configFile: values.config as string | undefined,
    help: values.help === true,
    version: values.version === true,
    waitReady,
  };
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const args = parseArgs(argv);
  return resolveConfig(args, env);
}

export function resolveConfig(args: ParsedArgs, env: NodeJS.ProcessEnv = process.env): Config {
  const configFile = args.configFile ?? env.OUTPOST_CONFIG;
  let fileValues: Record<string, unknown> = Object.create(null);
  if (configFile) {
    let text: string;
    try { text = fs.readFileSync(configFile, 'utf8'); } catch (err) {
      throw new ConfigError(`cannot read config file ${configFile}: ${(err as Error).message}`);
    }
    try { fileValues = flattenToml(parseToml(text) as Record<string, unknown>); } catch (err) {
      throw new ConfigError(`config file ${configFile} is not valid TOML: ${(err as Error).message}`);
    }
    const knownKeys = new Set(FIELDS.map((f) => f.key));
    for (const k of Object.keys(fileValues)) {
      if (!knownKeys.has(k)) throw new ConfigError(`config file ${configFile}: unknown setting '${k}'`);
    }
  }
  const out: Record<string, unknown> = {};
  const sources: Config['sources'] = {};
  for (const f of FIELDS) {
    let v: unknown = f.def;
    let src: Config['sources'][string] = 'default';
    if (f.key in fileValues) { v = coerce(f, fileValues[f.key], `config file ${configFile}`); src = 'file'; }
    if (f.env && env[f.env] !== undefined && env[f.env] !== '') { v = coerce(f, env[f.env], `environment ${f.env}`); src = 'env'; }
    if (f.flag && args.flags.has(f.flag)) { v = coerce(f, args.flags.get(f.flag), `flag ${f.flag}`); src = 'flag'; }
    if (v !== undefined) setPath(out, f.key, v);
    else if (f.key.includes('.')) setPath(out, f.key.slice(0, f.key.lastIndexOf('.')) + '.__section', true); // the section exists even when all of it is unset
    sources[f.key] = src;
  }
  const strip = (o: Record<string, unknown>) => { delete o.__section; for (const v of Object.values(o)) if (v && typeof v === 'object') strip(v as Record<string, unknown>); };
  strip(out);
  const cfg = out as unknown as Config;
  cfg.sources = sources;
  cfg.config_file = configFile;
  cfg.data_dir = path.resolve(cfg.data_dir);
  if (net.isIP(cfg.bind) === 0 && cfg.bind !== 'localhost') {
    throw new ConfigError(`bind must be an IP address or localhost (got ${JSON.stringify(cfg.bind)})`);
  }
  if (!cfg.api_key && !cfg.master_key && !isLoopback(cfg.bind)) {
    throw new ConfigError(
      `refusing to listen on ${cfg.bind} without authentication: set API_KEY or MASTER_KEY, ` +
      `or bind to 127.0.0.1 / ::1 (an open data plane on a network interface is not a safe default)`);
  }
  return cfg;
}

export function isLoopback(addr: string): boolean {
  if (addr === 'localhost' || addr === '::1') return true;
  return net.isIPv4(addr) && addr.startsWith('127.');
}

export function helpText(): string {
  const lines = [
    'usage: outpostd [--config outpost.toml] [options]',
    '       outpostd [--config outpost.toml] [options] --wait-ready SECONDS   (exit 0 once that daemon answers /healthz)',
    '',
    'Precedence: defaults < config file < environment < flags.',
    'A switch (a true/false setting) is on alone: --admin; off as --admin=false or --no-admin;',
    '--admin true / --admin false work too. Other flags take a value: --api-port 4000 or --api-port=4000.',
    'SIGHUP re-reads the config file and applies the settings marked (reloadable); the others need a restart.',
    '',
    '  --config FILE  $OUTPOST_CONFIG',
    '      TOML configuration file',
    '  --wait-ready SECONDS',
    '      poll the configured daemon\'s /healthz; exit 0 once it answers, 1 after SECONDS',
    '  -h, --help  /  -v, --version',
    '',
  ];
  const byFlag = new Map(argSpecs().map((s) => [`--${s.name}`, s]));
  for (const f of FIELDS) {
    const spec = f.flag ? byFlag.get(f.flag) : undefined;
    const flag = f.flag && (spec?.value ? `${f.flag} ${spec.arg}` : `${f.flag}[=false]`);
    const names = [flag, f.env ? `$${f.env}` : undefined, `[${f.key}]`].filter(Boolean).join('  ');
    lines.push(`  ${names}${f.reload ? '  (reloadable)' : ''}`, `      ${f.doc}${f.def !== undefined && !f.secret ? ` (default ${JSON.stringify(f.def)})` : ''}`);
  }
  return lines.join('\n');
}
