// Prometheus families of the host and agent metrics: outpost_host_* and outpost_agent_*. The
// text writer lives on the floor (daemon/metrics) because the admin renders with it too.
import { PromText, type Sample } from '../../metrics';
import type { AgentMetricsBody } from './agent';
import type { HostSample } from './host';
import { CPU_MODES } from './procfs';

export { PromText, escapeLabel, escapeHelp, promName, type Labels, type Sample } from '../../metrics';

export function renderHost(p: PromText, h: HostSample): void {
  const g = (name: string, help: string, v: number | null) => p.gauge(`outpost_host_${name}`, help, [[undefined, v]]);
  g('cpu_cores', 'CPU cores detected on the host', h.cpu.cores);
  g('load1', 'host load average over 1 minute', h.cpu.load_1m);
  g('load5', 'host load average over 5 minutes', h.cpu.load_5m);
  g('load15', 'host load average over 15 minutes', h.cpu.load_15m);
  g('cpu_usage_ratio', 'busy share of all CPU cores between the last two background samples, 0..1 (rate(outpost_host_cpu_seconds_total) gives any window)', h.cpuRatio);
  if (h.cpuTimes) {
    const t = h.cpuTimes;
    p.counter('outpost_host_cpu_seconds_total', 'CPU time of all cores by mode, seconds (/proc/stat)', CPU_MODES.map((mode): Sample => [{ mode }, t[mode]]));
  }
  g('memory_total_bytes', 'total RAM in bytes', h.memory.total_bytes);
  g('memory_available_bytes', 'available RAM in bytes (MemAvailable: includes reclaimable buffers/cache)', h.memory.available_bytes);
  g('memory_used_bytes', 'used RAM in bytes (total - available)', h.memory.used_bytes);
  g('memory_usage_ratio', 'used share of RAM, 0..1', h.memory.total_bytes ? h.memory.used_bytes! / h.memory.total_bytes : null);
  g('uptime_seconds', 'seconds since the host booted', h.uptime.seconds);

  const net = (field: keyof Omit<typeof h.network[number], 'device'>): Sample[] => h.network.map((n) => [{ device: n.device }, n[field]]);
  p.counter('outpost_host_network_receive_bytes_total', 'bytes received by interface (/proc/net/dev)', net('receive_bytes'));
  p.counter('outpost_host_network_receive_packets_total', 'packets received by interface', net('receive_packets'));
  p.counter('outpost_host_network_receive_errors_total', 'receive errors by interface', net('receive_errors'));
  p.counter('outpost_host_network_receive_drop_total', 'received packets dropped by interface', net('receive_drop'));
  p.counter('outpost_host_network_transmit_bytes_total', 'bytes sent by interface', net('transmit_bytes'));
  p.counter('outpost_host_network_transmit_packets_total', 'packets sent by interface', net('transmit_packets'));
  p.counter('outpost_host_network_transmit_errors_total', 'transmit errors by interface', net('transmit_errors'));
  p.counter('outpost_host_network_transmit_drop_total', 'outgoing packets dropped by interface', net('transmit_drop'));

  const disk = (field: keyof Omit<typeof h.disks[number], 'device'>): Sample[] => h.disks.map((d) => [{ device: d.device }, d[field]]);
  p.counter('outpost_host_disk_reads_completed_total', 'reads completed by block device (/proc/diskstats; whole disks, no partitions)', disk('reads_completed'));
  p.counter('outpost_host_disk_read_bytes_total', 'bytes read by block device', disk('read_bytes'));
  p.counter('outpost_host_disk_writes_completed_total', 'writes completed by block device', disk('writes_completed'));
  p.counter('outpost_host_disk_written_bytes_total', 'bytes written by block device', disk('written_bytes'));
  p.counter('outpost_host_disk_io_time_seconds_total', 'time the block device spent doing I/O, seconds', disk('io_time_seconds'));

  const fs = (field: 'size_bytes' | 'avail_bytes' | 'free_bytes' | 'files' | 'files_free'): Sample[] =>
    h.filesystems.map((f) => [{ mountpoint: f.mountpoint, fstype: f.fstype, device: f.device }, f[field]]);
  p.gauge('outpost_host_filesystem_size_bytes', 'size of each mounted filesystem, bytes (statfs blocks x block size)', fs('size_bytes'));
  p.gauge('outpost_host_filesystem_avail_bytes', 'bytes available to unprivileged users on each mounted filesystem', fs('avail_bytes'));
  p.gauge('outpost_host_filesystem_free_bytes', 'free bytes on each mounted filesystem (including root-reserved blocks)', fs('free_bytes'));
  p.gauge('outpost_host_filesystem_files', 'inodes of each mounted filesystem', fs('files'));
  p.gauge('outpost_host_filesystem_files_free', 'free inodes of each mounted filesystem', fs('files_free'));
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
  ssh_authentications_total: 'SSH authentication attempts (all methods)',
  ssh_connections_total: 'SSH connections established',
};

/** Proxy close reasons: one labelled family instead of one family per reason (the JSON keeps the reference's fields). */
const CLOSE_REASONS = { tunnels_closed_normal_total: 'normal', tunnels_closed_deadline_total: 'deadline', tunnels_closed_drain_timeout_total: 'drain_timeout' } as Record<string, string>;

/**
 * One family per numeric field of a section (`outpost_agent_<section>_<field>`; counters when the
 * field ends in _total, gauges otherwise; the derived *_mb figures are left out) and one labelled
 * family per `<x>_by_reason` map (`outpost_agent_<section>_<x>_by_reason_total{reason="…"}`).
 */
function renderSection(p: PromText, section: string, obj: object, skip: (field: string) => boolean = () => false): void {
  for (const [field, v] of Object.entries(obj)) {
    if (skip(field)) continue;
    if (typeof v === 'number' && Number.isFinite(v) && !field.endsWith('_mb')) {
      const key = `${section}_${field}`;
      p.family(`outpost_agent_${key}`, field.endsWith('_total') ? 'counter' : 'gauge', HELP[key] ?? `${section} ${field.replace(/_/g, ' ')}`, [[undefined, v]]);
    } else if (field.endsWith('_by_reason') && v && typeof v === 'object') {
      const key = `${section}_${field}_total`;
      const rows: Sample[] = Object.entries(v as Record<string, unknown>)
        .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]))
        .map(([reason, n]) => [{ reason }, n]);
      p.counter(`outpost_agent_${key}`, HELP[key] ?? `${section} ${field.replace(/_/g, ' ')}`, rows);
    }
  }
}

export function renderAgent(p: PromText, a: AgentMetricsBody): void {
  const app = a.application;
  // Memory is in process_resident_memory_bytes / nodejs_* and the read cache in
  // outpost_kv_read_cache_bytes (the same figures, exported once).
  p.gauge('outpost_agent_uptime_seconds', 'seconds since the agent started', [[undefined, app.uptime_seconds]]);
  p.gauge('outpost_agent_active_resources', 'active libuv resources of the agent (sockets, timers, child processes)', [[undefined, app.process_count]]);
  renderSection(p, 'commands', a.commands);
  const proxy = a.proxy as unknown as Record<string, number>;
  p.counter('outpost_agent_proxy_tunnels_closed_total', 'proxy tunnels that reached end of life, by close reason (normal: both sides closed; deadline: force-closed by their deadline; drain_timeout: force-closed after the drain grace window)',
    Object.entries(CLOSE_REASONS).map(([field, reason]): Sample => [{ reason }, proxy[field]]));
  renderSection(p, 'proxy', a.proxy, (f) => f === 'tunnels_closed_total' || f in CLOSE_REASONS);
  renderSection(p, 'ssh', a.ssh);
}
