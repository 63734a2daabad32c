// Counters sampled once a second into rates; rendered as Flo's JSON shape and as Prometheus text
// (data plane here, host and agent families from daemon/agent/metrics, process and HTTP families
// from daemon/metrics). Prometheus gets counters only, never a rate: rate() works on any window.
import type { KvStore } from '../../core';
import type { HttpServer } from '../http';
import { processMetrics, PromText, renderBuildInfo } from '../metrics';
import { VERSION } from '../base/version';

export class Metrics {
  private lastOps: number[] = [];
  private lastTotal = 0;
  private rates: number[] = [];
  private rate = 0;
  private timer?: NodeJS.Timeout;
  private lastAt = Date.now();

  /** Host and agent families (outpost_host_*, outpost_agent_*) appended to the Prometheus text. */
  agent?: { render(p: PromText): Promise<void> };

  /** Open WebSocket connections, counted into connections_active (set once the hub exists). */
  wsConnections: () => number = () => 0;
  /** Time-series background work (set once the store exists). */
  timeseries: () => { rollup_points_total: number; rollup_buckets_recomputed_total: number; trimmed_total: number } = () => ({ rollup_points_total: 0, rollup_buckets_recomputed_total: 0, trimmed_total: 0 });

  constructor(private readonly engine: KvStore, private readonly http: HttpServer) {
    this.timer = setInterval(() => this.sample(), 1000);
    this.timer.unref();
    processMetrics.acquire();
  }

  private sample(): void {
    const now = Date.now();
    const dt = Math.max(1, now - this.lastAt) / 1000;
    const stats = this.engine.stats();
    let total = 0;
    this.rates = stats.map((s, i) => {
      const ops = s.reads + s.writes;
      total += ops;
      const r = (ops - (this.lastOps[i] ?? 0)) / dt;
      this.lastOps[i] = ops;
      return Math.round(r);
    });
    this.rate = Math.round((total - this.lastTotal) / dt);
    this.lastTotal = total;
    this.lastAt = now;
  }

  json(): Record<string, unknown> {
    const stats = this.engine.stats();
    const ops = stats.reduce((a, s) => a + s.reads + s.writes, 0);
    const mem = process.memoryUsage();
    return {
      ops_total: ops,
      ops_per_second: this.rate,
      connections_active: this.http.inflight + this.wsConnections(),
      websocket_connections: this.wsConnections(),
      memory_used_bytes: mem.rss,
      shards: stats.map((s, i) => ({
        id: s.id,
        partitions: 1,
        connections: 0,
        ops_per_second: this.rates[i] ?? 0,
        reads_total: s.reads,
        writes_total: s.writes,
        commits_total: s.batches,
        writes_pending: s.pending + s.inflight,
      })),
      http_requests_total: this.http.requestsTotal,
      writes_inflight: this.engine.inflight,
      keys_reaped_total: this.engine.reaped,
      read_cache: { entries: this.engine.cache.size, bytes: this.engine.cache.usedBytes, hits_total: this.engine.cache.hits, misses_total: this.engine.cache.misses },
      heap_used_bytes: mem.heapUsed,
      timeseries: this.timeseries(),
    };
  }

  async prometheus(): Promise<string> {
    const p = new PromText();
    renderBuildInfo(p, { version: VERSION, role: 'agent' });
    processMetrics.render(p);
    this.http.httpMetrics.render(p);
    this.dataPlane(p);
    if (this.agent) await this.agent.render(p);
    return p.text();
  }

  private dataPlane(p: PromText): void {
    const stats = this.engine.stats();
    const metric = (name: string, type: 'counter' | 'gauge', help: string, rows: Array<[string, number]>) => {
      p.family(name, type, help, rows.map(([partition, v]) => [partition ? { partition } : undefined, v]));
    };
    metric('outpost_kv_reads_total', 'counter', 'KV reads served', stats.map((s) => [String(s.id), s.reads]));
    metric('outpost_kv_writes_total', 'counter', 'KV writes submitted', stats.map((s) => [String(s.id), s.writes]));
    metric('outpost_kv_commits_total', 'counter', 'LMDB write transactions committed', stats.map((s) => [String(s.id), s.batches]));
    metric('outpost_kv_writes_pending', 'gauge', 'writes queued or committing', stats.map((s) => [String(s.id), s.pending + s.inflight]));
    metric('outpost_kv_keys_reaped_total', 'counter', 'expired keys reclaimed', [['', this.engine.reaped]]);
    metric('outpost_kv_read_cache_hits_total', 'counter', 'GETs answered from the rendered-response cache', [['', this.engine.cache.hits]]);
    metric('outpost_kv_read_cache_misses_total', 'counter', 'GETs that read LMDB', [['', this.engine.cache.misses]]);
    metric('outpost_kv_read_cache_bytes', 'gauge', 'approximate bytes held by the read cache', [['', this.engine.cache.usedBytes]]);
    metric('outpost_ops_total', 'counter', 'data operations (KV reads and writes, all partitions); rate() it for operations per second', [['', stats.reduce((a, s) => a + s.reads + s.writes, 0)]]);
    const tsm = this.timeseries();
    metric('outpost_ts_rollup_points_total', 'counter', 'raw time-series points folded into rollup buckets', [['', tsm.rollup_points_total]]);
    metric('outpost_ts_rollup_buckets_recomputed_total', 'counter', 'rollup buckets recomputed after late points', [['', tsm.rollup_buckets_recomputed_total]]);
    metric('outpost_ts_trimmed_total', 'counter', 'time-series entries deleted by retention', [['', tsm.trimmed_total]]);
    metric('outpost_http_requests_total', 'counter', 'HTTP requests received', [['', this.http.requestsTotal]]);
    metric('outpost_http_requests_inflight', 'gauge', 'HTTP requests in progress', [['', this.http.inflight]]);
    metric('outpost_websocket_connections', 'gauge', 'open WebSocket connections', [['', this.wsConnections()]]);
  }

  close(): void {
    if (this.timer) processMetrics.release();
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
