// The agent metrics service: host metrics, agent metrics, the unified view (the Edge Admin
// reference's HostMetricsResponse / AgentMetricsResponse / UnifiedMetricsResponse data, bare,
// without the control plane's {data, meta} envelope) and their Prometheus text.
import type { Logger } from '../../base/log';
import { application, commandsStats, proxyStats, sshStats, zeroExtras, type AgentMetricsBody, type AgentStatsSources } from './agent';
import { HostMetrics, type HostCpu, type HostSpace, type HostUptime } from './host';
import { PromText, renderAgent, renderHost } from './prometheus';


export interface HostMetricsBody {
  node_id: string;
  cluster_name: string | null;
  timestamp: string;
  cpu: HostCpu;
  memory: HostSpace;
  disk: HostSpace;
  uptime: HostUptime;
}

type AgentSection = Exclude<keyof AgentMetricsBody, 'node_id' | 'cluster_name' | 'timestamp'>;

export interface UnifiedMetricsBody {
  node_id: string;
  cluster_name: string | null;
  timestamp: string;
  host: { available: boolean; cpu: HostCpu | null; memory: HostSpace | null; disk: HostSpace | null; uptime: HostUptime | null };
  agent: { available: boolean } & { [K in AgentSection]: AgentMetricsBody[K] | null };
}

export interface AgentMetricsOptions {
  /** This host's node id: the fleet's once enrolled (daemon/agent/tunnel/host-identity.ts). */
  nodeId: () => string;
  /** When the agent started (ms since the epoch): application uptime counts from here. */
  startedAt: number;
  /** Bytes held by in-memory tables (the KV read cache), reported as memory_ets_*. */
  tablesBytes?: () => number;
  log?: Logger;
  /** How long a host sample is reused when background sampling is off (default 2000 ms). */
  hostCacheMs?: number;
  /** Background host sampling period once start() is called (default 5000 ms). */
  hostIntervalMs?: number;
  /** Filesystem reported as `disk` (default "/"). */
  diskPath?: string;
}

export class AgentMetricsService {
  /**
   * The services that own the commands / proxy / ssh counters plug their stats() in here
   * (daemon.ts); an absent source reads as the reference's fields at zero.
   */
  sources: AgentStatsSources = {};
  /** The cluster this node is enrolled in; null until enrollment. */
  clusterName: () => string | null = () => null;
  readonly hostMetrics: HostMetrics;
  private readonly diskPath: string;
  private readonly warnedAt = new Map<string, number>();

  constructor(private readonly opts: AgentMetricsOptions) {
    this.diskPath = opts.diskPath ?? '/';
    this.hostMetrics = new HostMetrics({ cacheMs: opts.hostCacheMs, intervalMs: opts.hostIntervalMs, diskPath: this.diskPath });
  }

  async host(): Promise<HostMetricsBody> {
    const s = await this.hostMetrics.sample();
    return { node_id: this.opts.nodeId(), cluster_name: this.clusterName(), timestamp: s.timestamp, cpu: s.cpu, memory: s.memory, disk: s.disk, uptime: s.uptime };
  }

  agent(): AgentMetricsBody {
    return {
      node_id: this.opts.nodeId(),
      cluster_name: this.clusterName(),
      timestamp: new Date().toISOString(),
      application: application({ startedAt: this.opts.startedAt, tablesBytes: this.opts.tablesBytes ?? (() => 0) }),
      commands: commandsStats(this.sources, this.onError('commands')),
      proxy: proxyStats(this.sources, this.onError('proxy')),
      ssh: sshStats(this.sources, this.onError('ssh')),
      ...zeroExtras(),
    };
  }

  /** Host and agent together; a part that cannot be read is marked unavailable, the rest is still returned. */
  async unified(): Promise<UnifiedMetricsBody> {
    let host: UnifiedMetricsBody['host'] = { available: false, cpu: null, memory: null, disk: null, uptime: null };
    try {
      const s = await this.hostMetrics.sample();
      host = { available: true, cpu: s.cpu, memory: s.errors.includes('memory') ? null : s.memory, disk: s.errors.includes('disk') ? null : s.disk, uptime: s.uptime };
    } catch (err) {
      this.opts.log?.warn({ err }, 'host metrics unavailable');
    }
    let agent: UnifiedMetricsBody['agent'];
    try {
      const { node_id: _n, cluster_name: _c, timestamp: _t, ...rest } = this.agent();
      agent = { available: true, ...rest };
    } catch (err) {
      this.opts.log?.warn({ err }, 'agent metrics unavailable');
      agent = { available: false, application: null, commands: null, proxy: null, ssh: null, discovery: null, health_check: null, vpn: null, oban_queues: null };
    }
    return { node_id: this.opts.nodeId(), cluster_name: this.clusterName(), timestamp: new Date().toISOString(), host, agent };
  }

  /** Background host sampling: a scrape or GET then reads the latest sample from memory. */
  start(): void { this.hostMetrics.start(); }
  close(): void { this.hostMetrics.close(); }

  /** outpost_host_* and outpost_agent_* families; host families are left out if sampling fails. */
  async render(p: PromText): Promise<void> {
    try {
      renderHost(p, await this.hostMetrics.sample());
    } catch (err) {
      this.opts.log?.warn({ err }, 'host metrics unavailable');
    }
    renderAgent(p, this.agent());
    // Which node these series are from: the fleet's node id once enrolled (join on it in PromQL).
    const cluster = this.clusterName();
    p.family('outpost_node_info', 'gauge', 'this host\'s node id (the fleet\'s once enrolled) and cluster; always 1', [[{ node_id: this.opts.nodeId(), ...(cluster ? { cluster_name: cluster } : {}) }, 1]]);
  }

  /** The same families as Prometheus text on their own. */
  async prometheus(): Promise<string> {
    const p = new PromText();
    await this.render(p);
    return p.text();
  }

  /** A source that throws reads as zero; it is logged at most once a minute. */
  private onError(name: string): (err: unknown) => void {
    return (err: unknown) => {
      const now = Date.now();
      if (now - (this.warnedAt.get(name) ?? 0) < 60_000) return;
      this.warnedAt.set(name, now);
      this.opts.log?.warn({ err, source: name }, 'agent stats source failed; its counters read as 0');
    };
  }
}
