// GET /metrics on the admin API: the fleet in Prometheus text. Counts that need the database
// (nodes by status, executions by state, webhook deliveries waiting or failed, the event outbox)
// are refreshed in the background every FLEET_REFRESH_MS with one grouped query each (all on
// indexed columns), so a scrape only reads memory; in-memory counters (tunnels, webhook attempts,
// the background jobs) are read as they are. Process, build and HTTP families come from the floor.
import { sql } from 'kysely';
import type { HttpServer, Req, Res } from '../../http';
import { processMetrics, PromText, PROM_CONTENT_TYPE, renderBuildInfo, type Sample } from '../../metrics';
import { VERSION } from '../../base/version';
import type { AdminCtx } from '../api/context';
import type { Db } from '../store/db';
import type { ExecutionStatus, NodeStatus } from '../store/schema';
import type { NodeMetricsCounters } from './node-metrics';

export const FLEET_REFRESH_MS = 5000;

// Every known state is exported, at 0 when no row has it, so a series does not vanish.
const NODE_STATUSES: NodeStatus[] = ['healthy', 'unhealthy', 'unreachable'];
const EXECUTION_STATES: ExecutionStatus[] = ['pending', 'sent', 'completed', 'failed', 'cancelled', 'expired'];
const DELIVERY_STATES = ['pending', 'failed'];

interface FleetCounts {
  nodes: Map<string, number>;
  tunnelsConnected: number;
  executions: Map<string, number>;
  deliveries: Map<string, number>;
  outboxPending: number;
  at: number;
}

/** Runs of the admin's background jobs (singletons per admin: there is no lease table). */
export class JobStats {
  private readonly runs = new Map<string, { ok: number; failed: number; lastSuccess?: number; lastSeconds?: number }>();

  record(job: string, ok: boolean, startedMs: number): void {
    let r = this.runs.get(job);
    if (!r) this.runs.set(job, (r = { ok: 0, failed: 0 }));
    if (ok) { r.ok++; r.lastSuccess = Date.now() / 1000; } else r.failed++;
    r.lastSeconds = (performance.now() - startedMs) / 1000;
  }

  /** Wraps one run of `job`: its outcome and duration are recorded, its result passed through. */
  track<T>(job: string, run: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    return run().then((v) => { this.record(job, true, t0); return v; }, (err: unknown) => { this.record(job, false, t0); throw err; });
  }

  render(p: PromText): void {
    const rows = [...this.runs];
    p.counter('outpost_admin_job_runs_total', 'runs of the admin background jobs, by job and outcome', rows.flatMap(([job, r]): Sample[] => [[{ job, outcome: 'ok' }, r.ok], [{ job, outcome: 'failed' }, r.failed]]));
    p.gauge('outpost_admin_job_last_success_timestamp_seconds', 'when each background job last succeeded (Unix time)', rows.map(([job, r]): Sample => [{ job }, r.lastSuccess]));
    p.gauge('outpost_admin_job_last_duration_seconds', 'how long the last run of each background job took', rows.map(([job, r]): Sample => [{ job }, r.lastSeconds]));
  }
}

async function grouped(db: Db, table: 'nodes' | 'command_executions' | 'webhook_deliveries', statuses?: string[]): Promise<Map<string, number>> {
  let q = db.selectFrom(table).select(['status', sql<number | string>`count(*)`.as('n')]).groupBy('status');
  if (statuses) q = q.where('status', 'in', statuses);
  const rows = await q.execute() as Array<{ status: string; n: number | string }>;
  return new Map(rows.map((r) => [r.status, Number(r.n)]));
}

export class FleetMetrics {
  readonly jobs = new JobStats();
  private counts?: FleetCounts;
  private pending?: Promise<FleetCounts>;
  private timer?: NodeJS.Timeout;

  private readonly ctx: AdminCtx;
  private readonly http?: HttpServer;
  private readonly nodeMetrics?: NodeMetricsCounters;
  private readonly leased: () => number;

  constructor(o: { ctx: AdminCtx; http?: HttpServer; nodeMetrics?: NodeMetricsCounters; leased?: () => number }) {
    this.ctx = o.ctx;
    this.http = o.http;
    this.nodeMetrics = o.nodeMetrics;
    this.leased = o.leased ?? (() => 0);
  }

  start(intervalMs = FLEET_REFRESH_MS): void {
    if (this.timer) return;
    processMetrics.acquire();
    const tick = () => { this.refresh().catch((err) => this.ctx.log.warn({ err }, 'admin: fleet metrics refresh failed (the last counts are served)')); };
    this.timer = setInterval(tick, intervalMs);
    this.timer.unref();
    tick();
  }

  close(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    processMetrics.release();
  }

  /** Recounts now (shared with a recount in flight). */
  refresh(): Promise<FleetCounts> {
    this.pending ??= this.jobs.track('fleet_metrics', async () => {
      const db = this.ctx.db;
      const [nodes, tunnels, executions, deliveries, outbox] = await Promise.all([
        grouped(db, 'nodes'),
        db.selectFrom('nodes').select(sql<number | string>`count(*)`.as('n')).where('tunnel_connected', '=', 1).executeTakeFirstOrThrow(),
        grouped(db, 'command_executions'),
        grouped(db, 'webhook_deliveries', DELIVERY_STATES),
        db.selectFrom('events').select(sql<number | string>`count(*)`.as('n')).where('dispatched_at', 'is', null).executeTakeFirstOrThrow(),
      ]);
      return { nodes, tunnelsConnected: Number(tunnels.n), executions, deliveries, outboxPending: Number(outbox.n), at: Date.now() / 1000 };
    }).then((c) => { this.counts = c; return c; }).finally(() => { this.pending = undefined; });
    return this.pending;
  }

  async prometheus(): Promise<string> {
    // Only the very first scrape (before the first background count) waits for the database.
    const c = this.counts ?? await this.refresh();
    const p = new PromText();
    renderBuildInfo(p, { version: VERSION, role: 'admin', admin_id: this.ctx.identity.id });
    processMetrics.render(p);
    const http = this.http;
    if (http) {
      http.httpMetrics.render(p);
      p.counter('outpost_http_requests_total', 'HTTP requests received by the admin API', [[undefined, http.requestsTotal]]);
      p.gauge('outpost_http_requests_inflight', 'HTTP requests in progress on the admin API', [[undefined, http.inflight]]);
    }
    const byState = (m: Map<string, number>, known: string[], label: string): Sample[] =>
      [...new Set([...known, ...m.keys()])].map((s): Sample => [{ [label]: s }, m.get(s) ?? 0]);
    p.gauge('outpost_admin_nodes', 'enrolled nodes by status (recounted in the background)', byState(c.nodes, NODE_STATUSES, 'status'));
    p.gauge('outpost_admin_nodes_tunnel_connected', 'nodes whose tunnel is connected, per the store (all admins)', [[undefined, c.tunnelsConnected]]);
    p.gauge('outpost_admin_command_executions', 'command executions by state (recounted in the background)', byState(c.executions, EXECUTION_STATES, 'state'));
    p.gauge('outpost_admin_webhook_deliveries', 'webhook deliveries waiting to be sent (pending, including retries) or given up (failed)', byState(c.deliveries, DELIVERY_STATES, 'state'));
    p.gauge('outpost_admin_webhook_deliveries_leased', 'webhook deliveries this admin has claimed and is sending now', [[undefined, this.leased()]]);
    p.gauge('outpost_admin_event_outbox_pending', 'events not yet fanned out to webhooks (the event sink queue)', [[undefined, c.outboxPending]]);
    p.gauge('outpost_admin_fleet_refresh_timestamp_seconds', 'when the database counts above were taken (Unix time)', [[undefined, c.at]]);

    const t = this.ctx.hub?.stats();
    if (t) {
      p.gauge('outpost_admin_tunnels_connected', 'agent tunnels connected to this admin', [[undefined, t.connected]]);
      const ctr = (name: string, help: string, v: number) => p.counter(`outpost_admin_tunnel_${name}`, help, [[undefined, v]]);
      ctr('connections_total', 'agent tunnels accepted', t.connections_total);
      ctr('rejected_total', 'agent tunnel connections rejected (bad token, protocol)', t.rejected_total);
      ctr('replaced_total', 'agent tunnels replaced by a newer connection of the same node', t.replaced_total);
      ctr('heartbeats_total', 'heartbeats received from agents', t.heartbeats_total);
      ctr('deliveries_total', 'command executions delivered to agents', t.deliveries_total);
      ctr('results_total', 'command results received from agents', t.results_total);
      ctr('events_total', 'agent events received', t.events_total);
      ctr('backend_errors_total', 'store errors while handling tunnel messages', t.backend_errors_total);
    }
    const w = this.ctx.webhookStats?.();
    if (w) {
      p.counter('outpost_admin_webhook_fan_outs_total', 'events fanned out to their webhooks', [[undefined, w.fan_outs_total]]);
      p.counter('outpost_admin_webhook_attempts_total', 'webhook delivery attempts by outcome (ok; recoverable: retried later; terminal: given up)', [
        [{ outcome: 'ok' }, w.deliveries_ok_total], [{ outcome: 'recoverable' }, w.deliveries_recoverable_total], [{ outcome: 'terminal' }, w.deliveries_terminal_total],
      ]);
    }
    const sinks = this.ctx.eventSinkStats?.() ?? [];
    if (sinks.length) {
      p.counter('outpost_admin_event_sink_published_total', 'events an event sink\'s broker accepted (JetStream PubAcks, re-publishes included)', sinks.map((s): Sample => [{ sink: s.sink }, s.published_total]));
      p.counter('outpost_admin_event_sink_duplicates_total', 'accepted events the broker reported as duplicates (re-publishes inside its duplicate window)', sinks.map((s): Sample => [{ sink: s.sink }, s.duplicates_total]));
      p.counter('outpost_admin_event_sink_failures_total', 'failed publish attempts of an event sink (the batch is retried with backoff)', sinks.map((s): Sample => [{ sink: s.sink }, s.failures_total]));
      p.gauge('outpost_admin_event_sink_lag', 'events in the outbox an event sink has not published yet', sinks.map((s): Sample => [{ sink: s.sink }, s.lag ?? undefined]));
    }
    if (this.nodeMetrics) {
      p.counter('outpost_admin_node_metrics_requests_total', 'live node metric requests relayed through tunnels', [[undefined, this.nodeMetrics.requests_total]]);
      p.counter('outpost_admin_node_metrics_failures_total', 'live node metric requests that failed', [[undefined, this.nodeMetrics.failures_total]]);
    }
    this.jobs.render(p);
    return p.text();
  }
}

export function adminPrometheusRoutes(http: HttpServer, fleet: FleetMetrics): void {
  http.add({
    method: 'get', path: '/metrics', auth: 'metrics', tags: ['Admins.Metrics'],
    summary: 'Prometheus metrics of this admin (text format 0.0.4): nodes by status, tunnels, command executions by state, webhook and outbox queues, event sinks, background jobs, HTTP request durations, process; METRICS_KEY, API_KEY or MASTER_KEY',
    responses: { 200: { description: 'metrics', contentType: 'text/plain; version=0.0.4' }, 403: { description: 'a token that does not open this route' } },
    async handler(_req: Req, res: Res) { res.send(200, await fleet.prometheus(), PROM_CONTENT_TYPE); },
  });
}
