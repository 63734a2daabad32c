// Prometheus text exposition (format 0.0.4) of the host and agent metrics: outpost_host_* and
// outpost_agent_*. Every family gets HELP and TYPE lines; label values and HELP text are
// escaped as the format requires, so a reason string from a service cannot break a scrape.
import type { AgentMetricsBody } from './agent';
import type { HostSample } from './host';

export type Labels = Record<string, string>;
export type Sample = [Labels | undefined, number | null | undefined];

/** Label value escaping: backslash, double quote and line feed. */
export const escapeLabel = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
/** HELP text escaping: backslash and line feed. */
export const escapeHelp = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
/** A valid metric / label name: [a-zA-Z_:][a-zA-Z0-9_:]*. */
export const promName = (v: string): string => v.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^([^a-zA-Z_:])/, '_$1');

const fmt = (v: number): string => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));

/** Collects metric families; a family with no present sample is left out entirely. */
export class PromText {
  private readonly out: string[] = [];
  private readonly names = new Set<string>();

  family(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[]): this {
    const n = promName(name);
    const rows = samples.filter((s): s is [Labels | undefined, number] => typeof s[1] === 'number');
    if (!rows.length || this.names.has(n)) return this;
    this.names.add(n);
    this.out.push(`# HELP ${n} ${escapeHelp(help)}`, `# TYPE ${n} ${type}`);
    for (const [labels, v] of rows) {
      const l = labels && Object.keys(labels).length
        ? `{${Object.entries(labels).map(([k, val]) => `${promName(k)}="${escapeLabel(val)}"`).join(',')}}`
        : '';
      this.out.push(`${n}${l} ${fmt(v)}`);
    }
    return this;
  }

  text(): string {
    return this.out.length ? this.out.join('\n') + '\n' : '';
  }
}

export function renderHost(p: PromText, h: HostSample, diskPath: string): void {
  const g = (name: string, help: string, v: number | null, labels?: Labels) => p.family(`outpost_host_${name}`, 'gauge', help, [[labels, v]]);
  g('cpu_cores', 'CPU cores detected on the host', h.cpu.cores);
  g('load1', 'host load average over 1 minute', h.cpu.load_1m);
  g('load5', 'host load average over 5 minutes', h.cpu.load_5m);
  g('load15', 'host load average over 15 minutes', h.cpu.load_15m);
  g('cpu_usage_percent', 'busy share of all CPU cores since the previous sample, percent', h.cpu.usage_percent);
  g('memory_total_bytes', 'total RAM in bytes', h.memory.total_bytes);
  g('memory_available_bytes', 'available RAM in bytes (includes reclaimable buffers/cache)', h.memory.available_bytes);
  g('memory_used_bytes', 'used RAM in bytes (total - available)', h.memory.used_bytes);
  g('memory_usage_percent', 'used RAM, percent of total', h.memory.usage_percent);
  const mp = { mountpoint: diskPath };
  g('disk_total_bytes', 'size of the root filesystem in bytes', h.disk.total_bytes, mp);
  g('disk_available_bytes', 'bytes of the root filesystem available to unprivileged users', h.disk.available_bytes, mp);
  g('disk_used_bytes', 'used bytes of the root filesystem (total - available)', h.disk.used_bytes, mp);
  g('disk_usage_percent', 'used share of the root filesystem, percent', h.disk.usage_percent, mp);
  g('uptime_seconds', 'seconds since the host booted', h.uptime.seconds);
}

/** HELP texts of the reference's fields (AgentMetricsResponse descriptions). */
const HELP: Record<string, string> = {
  commands_completed_total: 'command executions completed',
  commands_enqueued_total: 'command executions enqueued for local execution',
  commands_reported_total: 'command results reported back to the admin',
  commands_synced_total: 'command sync calls made to the admin',
  proxy_http_connections_total: 'HTTP proxy connections',
  proxy_http_blocked_total: 'HTTP proxy requests blocked by security rules',
  proxy_http_blocked_by_reason_total: 'HTTP proxy requests blocked, by reason',
  proxy_socks5_connections_total: 'SOCKS5 proxy connections',
  proxy_socks5_blocked_total: 'SOCKS5 proxy requests blocked by security rules',
  proxy_socks5_blocked_by_reason_total: 'SOCKS5 proxy requests blocked, by reason',
  proxy_bytes_up_total: 'bytes forwarded client to target across all tunnels',
  proxy_bytes_down_total: 'bytes forwarded target to client across all tunnels',
  proxy_tunnels_closed_total: 'tunnels that reached end of life (all close reasons)',
  proxy_tunnels_closed_normal_total: 'tunnels closed normally (both sides closed cleanly)',
  proxy_tunnels_closed_deadline_total: 'tunnels force-closed by their deadline',
  proxy_tunnels_closed_drain_timeout_total: 'tunnels force-closed after the drain grace window',
  ssh_authentications_total: 'SSH authentication attempts (all methods)',
  ssh_connections_total: 'SSH connections established',
};

/**
 * One family per numeric field of a section (`outpost_agent_<section>_<field>`; counters when the
 * field ends in _total, gauges otherwise; the derived *_mb figures are left out) and one labelled
 * family per `<x>_by_reason` map (`outpost_agent_<section>_<x>_by_reason_total{reason="…"}`).
 */
function renderSection(p: PromText, section: string, obj: object): void {
  for (const [field, v] of Object.entries(obj)) {
    if (typeof v === 'number' && Number.isFinite(v) && !field.endsWith('_mb')) {
      const key = `${section}_${field}`;
      p.family(`outpost_agent_${key}`, field.endsWith('_total') ? 'counter' : 'gauge', HELP[key] ?? `${section} ${field.replace(/_/g, ' ')}`, [[undefined, v]]);
    } else if (field.endsWith('_by_reason') && v && typeof v === 'object') {
      const key = `${section}_${field}_total`;
      const rows: Sample[] = Object.entries(v as Record<string, unknown>)
        .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]))
        .map(([reason, n]) => [{ reason }, n]);
      p.family(`outpost_agent_${key}`, 'counter', HELP[key] ?? `${section} ${field.replace(/_/g, ' ')}`, rows);
    }
  }
}

export function renderAgent(p: PromText, a: AgentMetricsBody): void {
  const app = a.application;
  p.family('outpost_agent_uptime_seconds', 'gauge', 'seconds since the agent started', [[undefined, app.uptime_seconds]]);
  p.family('outpost_agent_memory_bytes', 'gauge', 'agent process memory by kind (rss, heap_used, array_buffers, external, read_cache)', [
    [{ kind: 'rss' }, app.memory_total_bytes],
    [{ kind: 'heap_used' }, app.memory_processes_bytes],
    [{ kind: 'array_buffers' }, app.memory_binary_bytes],
    [{ kind: 'external' }, app.memory_external_bytes],
    [{ kind: 'read_cache' }, app.memory_ets_bytes],
  ]);
  p.family('outpost_agent_active_resources', 'gauge', 'active libuv resources of the agent (sockets, timers, child processes)', [[undefined, app.process_count]]);
  renderSection(p, 'commands', a.commands);
  renderSection(p, 'proxy', a.proxy);
  renderSection(p, 'ssh', a.ssh);
}
