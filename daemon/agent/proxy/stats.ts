// Proxy counters, reported in the shape of the `proxy` object of the reference's agent metrics
// (AgentMetricsResponse). Bytes of live tunnels are included as they flow.
import { toMb as mb } from '../../metrics/format';
import type { EgressReason } from '../../net';

export interface ProxyStats {
  bytes_down_mb: number;
  bytes_down_total: number;
  bytes_up_mb: number;
  bytes_up_total: number;
  http_blocked_by_reason: Record<string, number>;
  http_blocked_total: number;
  http_connections_total: number;
  socks5_blocked_by_reason: Record<string, number>;
  socks5_blocked_total: number;
  socks5_connections_total: number;
  tunnels_closed_deadline_total: number;
  tunnels_closed_drain_timeout_total: number;
  tunnels_closed_normal_total: number;
  tunnels_closed_total: number;
}

export type CloseReason = 'normal' | 'deadline' | 'drain_timeout';
export type ProxyKind = 'http' | 'socks5';

/** Something that moved bytes and has not been folded into the totals yet. */
export interface ByteSource { bytesUp(): number; bytesDown(): number }


export class ProxyCounters {
  private bytesUp = 0;
  private bytesDown = 0;
  private readonly connections = { http: 0, socks5: 0 };
  private readonly blocked = { http: new Map<string, number>(), socks5: new Map<string, number>() };
  private readonly closed = { normal: 0, deadline: 0, drain_timeout: 0 };
  /** Live tunnels and forwarded requests, whose bytes count before they end. */
  readonly live = new Set<ByteSource>();

  connection(kind: ProxyKind): void {
    this.connections[kind]++;
  }

  block(kind: ProxyKind, reason: EgressReason): void {
    const m = this.blocked[kind];
    m.set(reason, (m.get(reason) ?? 0) + 1);
  }

  /** Folds a finished byte source into the totals. */
  finish(src: ByteSource): void {
    if (!this.live.delete(src)) return;
    this.bytesUp += src.bytesUp();
    this.bytesDown += src.bytesDown();
  }

  tunnelClosed(reason: CloseReason): void {
    this.closed[reason]++;
  }

  stats(): ProxyStats {
    let up = this.bytesUp;
    let down = this.bytesDown;
    for (const s of this.live) { up += s.bytesUp(); down += s.bytesDown(); }
    const byReason = (m: Map<string, number>) => Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)));
    const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
    return {
      bytes_down_mb: mb(down),
      bytes_down_total: down,
      bytes_up_mb: mb(up),
      bytes_up_total: up,
      http_blocked_by_reason: byReason(this.blocked.http),
      http_blocked_total: total(this.blocked.http),
      http_connections_total: this.connections.http,
      socks5_blocked_by_reason: byReason(this.blocked.socks5),
      socks5_blocked_total: total(this.blocked.socks5),
      socks5_connections_total: this.connections.socks5,
      tunnels_closed_deadline_total: this.closed.deadline,
      tunnels_closed_drain_timeout_total: this.closed.drain_timeout,
      tunnels_closed_normal_total: this.closed.normal,
      tunnels_closed_total: this.closed.normal + this.closed.deadline + this.closed.drain_timeout,
    };
  }
}

