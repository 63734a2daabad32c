// JSON schemas of the metric bodies (the Edge Admin reference's HostMetricsResponse,
// AgentMetricsResponse and UnifiedMetricsResponse data): the OpenAPI document uses them and
// the tests validate live responses against them.
import type { JsonSchema } from '../http';

const int = (description: string, nullable = false): JsonSchema => ({ type: nullable ? ['integer', 'null'] : 'integer', description });
const num = (description: string, nullable = false): JsonSchema => ({ type: nullable ? ['number', 'null'] : 'number', description });
const obj = (properties: Record<string, JsonSchema>, description?: string, nullable = false): JsonSchema => ({
  type: nullable ? ['object', 'null'] : 'object', ...(description ? { description } : {}), required: Object.keys(properties), properties,
});
const counters = (fields: Record<string, string>) => Object.fromEntries(Object.entries(fields).map(([k, d]) => [k, int(d)]));
const byReason = (description: string): JsonSchema => ({ type: 'object', description, additionalProperties: { type: 'integer' } });

const ident = {
  node_id: { type: 'string', description: 'node identifier' },
  cluster_name: { type: ['string', 'null'], description: 'cluster this node is enrolled in; null until enrolled' },
  timestamp: { type: 'string', format: 'date-time', description: 'when the metrics were collected (ISO 8601)' },
} satisfies Record<string, JsonSchema>;

const spaceProps = (what: string) => ({
  total_bytes: int(`total ${what} in bytes`, true),
  total_gb: num(`total ${what} in GB (GiB, one decimal)`, true),
  available_bytes: int(`available ${what} in bytes`, true),
  available_gb: num(`available ${what} in GB`, true),
  used_bytes: int(`used ${what} in bytes (total - available)`, true),
  used_gb: num(`used ${what} in GB`, true),
  usage_percent: num('(total - available) / total * 100, one decimal', true),
});

export const hostCpuSchema = obj({
  cores: int('CPU cores detected on the system'),
  load_1m: num('load average over 1 minute'),
  load_5m: num('load average over 5 minutes'),
  load_15m: num('load average over 15 minutes'),
  usage_percent: num('busy share of all cores since the previous sample, percent (null when unreadable)', true),
}, 'CPU metrics');
export const hostMemorySchema = obj(spaceProps('RAM'), 'memory metrics (available includes reclaimable buffers/cache)');
export const hostDiskSchema = obj(spaceProps('space of the root filesystem'), 'root filesystem (/) metrics; available is what unprivileged users can use');
export const hostUptimeSchema = obj({ seconds: int('seconds since boot', true), human: { type: ['string', 'null'], description: "e.g. '1d 2h 30m', '5h 15m', '30m'" } }, 'system uptime');

export const hostMetricsSchema = obj({ ...ident, cpu: hostCpuSchema, memory: hostMemorySchema, disk: hostDiskSchema, uptime: hostUptimeSchema }, 'host metrics (HostMetricsResponse)');

export const applicationSchema = obj({
  uptime_seconds: int('agent uptime in seconds'),
  uptime_human: { type: 'string', description: "e.g. '2d 5h 30m'" },
  memory_total_bytes: int('resident set size of the agent process (rss)'),
  memory_total_mb: num('rss in MB'),
  memory_processes_bytes: int('V8 heap in use (heapUsed)'),
  memory_processes_mb: num('heapUsed in MB'),
  memory_binary_bytes: int('Buffers and ArrayBuffers (arrayBuffers)'),
  memory_binary_mb: num('arrayBuffers in MB'),
  memory_ets_bytes: int('in-memory tables: the KV read cache'),
  memory_ets_mb: num('read cache in MB'),
  memory_external_bytes: int('C++ memory bound to JS objects (external, includes arrayBuffers)'),
  memory_external_mb: num('external in MB'),
  process_count: int('active libuv resources (sockets, timers, child processes)'),
}, 'application stats (Node.js in place of the BEAM VM; see docs/metrics.md)');

export const commandsSchema = obj(counters({
  completed_total: 'command executions completed',
  enqueued_total: 'command executions enqueued for local execution',
  reported_total: 'results reported back to the admin',
  synced_total: 'command sync calls made to the admin',
}), 'command execution metrics');

export const proxySchema = obj({
  ...counters({
    http_connections_total: 'HTTP proxy connections',
    http_blocked_total: 'HTTP requests blocked by security rules',
    socks5_connections_total: 'SOCKS5 proxy connections',
    socks5_blocked_total: 'SOCKS5 requests blocked by security rules',
    bytes_up_total: 'bytes forwarded client to target',
    bytes_down_total: 'bytes forwarded target to client',
    tunnels_closed_total: 'tunnels that reached end of life (all reasons)',
    tunnels_closed_normal_total: 'tunnels closed normally',
    tunnels_closed_deadline_total: 'tunnels force-closed by their deadline',
    tunnels_closed_drain_timeout_total: 'tunnels force-closed after the drain grace window',
  }),
  http_blocked_by_reason: byReason('HTTP blocked requests by reason'),
  socks5_blocked_by_reason: byReason('SOCKS5 blocked requests by reason'),
  bytes_up_mb: num('bytes up in MB'),
  bytes_down_mb: num('bytes down in MB'),
}, 'proxy metrics');

export const sshSchema = obj(counters({
  authentications_total: 'SSH authentication attempts (all methods)',
  connections_total: 'SSH connections established',
}), 'SSH server metrics');

const extras = {
  discovery: obj(counters({ admins_found_last: 'admins found by the last discovery scan (always 0 on this agent)', scans_total: 'discovery scans (always 0)' })),
  health_check: obj(counters({ reports_total: 'HTTP-fallback health reports (always 0)' })),
  vpn: obj(counters({ pulls_total: 'VPN config pulls (always 0: no VPN on this agent)' })),
  oban_queues: { type: 'array', items: { type: 'object' }, description: 'job queue states of the reference (always empty here)' },
} satisfies Record<string, JsonSchema>;

export const agentMetricsSchema = obj({ ...ident, application: applicationSchema, commands: commandsSchema, proxy: proxySchema, ssh: sshSchema, ...extras }, 'agent metrics (AgentMetricsResponse data)');

const nullable = (s: JsonSchema): JsonSchema => ({ ...s, type: [s.type as string, 'null'] });

export const unifiedMetricsSchema = obj({
  ...ident,
  host: obj({ available: { type: 'boolean' }, cpu: nullable(hostCpuSchema), memory: nullable(hostMemorySchema), disk: nullable(hostDiskSchema), uptime: nullable(hostUptimeSchema) }, 'host metrics; a part that could not be read is null'),
  agent: obj({
    available: { type: 'boolean' },
    application: nullable(applicationSchema), commands: nullable(commandsSchema), proxy: nullable(proxySchema), ssh: nullable(sshSchema),
    discovery: nullable(extras.discovery), health_check: nullable(extras.health_check), vpn: nullable(extras.vpn),
    oban_queues: { ...extras.oban_queues, type: ['array', 'null'] },
  }, 'agent metrics'),
}, 'host and agent metrics together (UnifiedMetricsResponse data)');
