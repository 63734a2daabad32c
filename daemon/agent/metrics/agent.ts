// Agent metrics in the Edge Admin reference's AgentMetricsResponse shape. `application` is
// measured here (uptime, memory, handles); `commands`, `proxy` and `ssh` come from the services
// that own those counters through AgentStatsSources, and are zeroed while a service is absent.
// The reference's BEAM figures map onto Node's process.memoryUsage() (see docs/metrics.md):
//   memory_total_bytes     ← rss            (everything the OS has given the process)
//   memory_processes_bytes ← heapUsed       (JS objects, the analogue of process heaps)
//   memory_binary_bytes    ← arrayBuffers   (Buffers / ArrayBuffers, the analogue of binaries)
//   memory_ets_bytes       ← the KV read cache (the in-memory table of this process)
//   memory_external_bytes  ← external       (an addition: C++ memory bound to JS objects)
//   process_count          ← active libuv resources (sockets, timers, child processes…)
import type { CommandStats } from '../commands/service';
import type { ProxyStats } from '../proxy/stats';
import type { SshStats as SshServerStats } from '../ssh/server';
import { humanUptime, toMb } from '../../metrics/format';

export interface ApplicationStats {
  uptime_seconds: number;
  uptime_human: string;
  memory_total_bytes: number;
  memory_total_mb: number;
  memory_processes_bytes: number;
  memory_processes_mb: number;
  memory_binary_bytes: number;
  memory_binary_mb: number;
  memory_ets_bytes: number;
  memory_ets_mb: number;
  memory_external_bytes: number;
  memory_external_mb: number;
  process_count: number;
}

// The services' own stats types are the reference's sub-objects (the SSH server adds fields that
// are passed through to Prometheus).
export type CommandsStats = CommandStats;
export type { ProxyStats };
export type SshStats = Pick<SshServerStats, 'authentications_total' | 'connections_total'>;

/**
 * Where the service counters come from. Each agent service exposes `stats()` returning its
 * sub-object in the reference's shape; fields it leaves out read as 0, and extra numeric fields
 * (e.g. ssh `authentication_failures_total`) are passed through and exported to Prometheus.
 */
export interface AgentStatsSources {
  commands?: () => Partial<CommandsStats>;
  proxy?: () => Partial<ProxyStats>;
  ssh?: () => Partial<SshStats>;
}

export const ZERO_COMMANDS: Readonly<CommandsStats> = Object.freeze({ completed_total: 0, enqueued_total: 0, reported_total: 0, synced_total: 0 });
export const ZERO_SSH: Readonly<SshStats> = Object.freeze({ authentications_total: 0, connections_total: 0 });
export const zeroProxy = (): ProxyStats => ({
  http_connections_total: 0, http_blocked_total: 0, http_blocked_by_reason: {},
  socks5_connections_total: 0, socks5_blocked_total: 0, socks5_blocked_by_reason: {},
  bytes_up_total: 0, bytes_up_mb: 0, bytes_down_total: 0, bytes_down_mb: 0,
  tunnels_closed_total: 0, tunnels_closed_normal_total: 0, tunnels_closed_deadline_total: 0, tunnels_closed_drain_timeout_total: 0,
});

/** The reference's other sub-objects; this agent has no VPN, discovery or Oban, so they read 0. */
export const zeroExtras = () => ({
  discovery: { admins_found_last: 0, scans_total: 0 },
  health_check: { reports_total: 0 },
  vpn: { pulls_total: 0 },
  oban_queues: [] as Array<Record<string, unknown>>,
});

export interface AgentMetricsBody extends ReturnType<typeof zeroExtras> {
  node_id: string;
  cluster_name: string | null;
  timestamp: string;
  application: ApplicationStats;
  commands: CommandsStats;
  proxy: ProxyStats;
  ssh: SshStats;
}

export interface ApplicationInputs {
  startedAt: number;
  /** Bytes held by the in-memory KV read cache (reported as memory_ets_*). */
  tablesBytes: () => number;
}

export function application(inp: ApplicationInputs): ApplicationStats {
  const mem = process.memoryUsage();
  const up = Math.max(0, Math.floor((Date.now() - inp.startedAt) / 1000));
  const ets = Math.max(0, Math.floor(inp.tablesBytes()));
  return {
    uptime_seconds: up,
    uptime_human: humanUptime(up),
    memory_total_bytes: mem.rss,
    memory_total_mb: toMb(mem.rss),
    memory_processes_bytes: mem.heapUsed,
    memory_processes_mb: toMb(mem.heapUsed),
    memory_binary_bytes: mem.arrayBuffers,
    memory_binary_mb: toMb(mem.arrayBuffers),
    memory_ets_bytes: ets,
    memory_ets_mb: toMb(ets),
    memory_external_bytes: mem.external,
    memory_external_mb: toMb(mem.external),
    process_count: process.getActiveResourcesInfo().length,
  };
}

/** A source's own figures (undefined when absent or throwing: that source then reads as zero). */
function call<T>(source: (() => Partial<T>) | undefined, onError: (err: unknown) => void): Partial<T> | undefined {
  if (!source) return undefined;
  try {
    const v = source();
    return v && typeof v === 'object' ? v : undefined;
  } catch (err) {
    onError(err);
    return undefined;
  }
}

/**
 * The source's fields over the zeroed reference fields. A reference field the source gives as
 * something other than a finite number (or, for the *_by_reason maps, an object) keeps its zero.
 */
function merge<T extends object>(zero: T, given: Partial<T> | undefined): T {
  const out = { ...zero, ...given } as Record<string, unknown>;
  for (const [k, z] of Object.entries(zero)) {
    const v = out[k];
    const ok = typeof z === 'number' ? typeof v === 'number' && Number.isFinite(v) : v !== null && typeof v === 'object';
    if (!ok) out[k] = typeof z === 'object' && z !== null ? { ...z } : z;
  }
  return out as T;
}

export function commandsStats(src: AgentStatsSources, onError: (err: unknown) => void): CommandsStats {
  return merge(ZERO_COMMANDS, call(src.commands, onError));
}

export function sshStats(src: AgentStatsSources, onError: (err: unknown) => void): SshStats {
  return merge(ZERO_SSH, call(src.ssh, onError));
}

export function proxyStats(src: AgentStatsSources, onError: (err: unknown) => void): ProxyStats {
  const given = call(src.proxy, onError) ?? {};
  const p = merge(zeroProxy(), given);
  // The MB figures follow the byte totals unless the source gave its own.
  if (typeof given.bytes_up_mb !== 'number') p.bytes_up_mb = toMb(p.bytes_up_total);
  if (typeof given.bytes_down_mb !== 'number') p.bytes_down_mb = toMb(p.bytes_down_total);
  p.http_blocked_by_reason = { ...p.http_blocked_by_reason };
  p.socks5_blocked_by_reason = { ...p.socks5_blocked_by_reason };
  return p;
}
