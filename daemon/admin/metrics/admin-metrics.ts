// Admins.Metrics: GET /api/v1/admins/me/metrics in the reference's AdminMetricsResponse shape,
// filled with this daemon's real figures: process uptime and memory (Node.js in place of the
// BEAM), nodes by status and heartbeats, command executions by status, tunnel connections
// (the reference's "gateways"), the event outbox and execution states as queues (its "Oban"),
// webhook counters when the webhooks are mounted. Sections with no counterpart here (VPN,
// membership, discovery, Quantum, reconciliation, proxy) are present with zeros.
import os from 'node:os';
import { sql } from 'kysely';
import type { HttpServer, Req, Res } from '../../http';
import type { AdminCtx, WebhookCounters } from '../api/context';
import type { Db } from '../store/db';
import { MAX_PEERS } from '../fleet/admins';
import { ok } from '../api/envelope';
import type { NodeMetricsCounters } from './node-metrics';
import { single } from '../api/schemas';

const TAGS = ['Admins.Metrics'];
const MB = 1024 * 1024;
const mb = (b: number) => Math.round((b / MB) * 100) / 100;

export function humanUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m`;
  return `${m}m`;
}

async function countBy(db: Db, table: 'nodes' | 'command_executions' | 'self_update_requests', column: 'status'): Promise<Record<string, number>> {
  const rows = await db.selectFrom(table).select([column, sql<number>`count(*)`.as('n')]).groupBy(column).execute() as Array<{ status: string; n: number | string }>;
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

async function count(db: Db, table: 'clusters' | 'commands' | 'ssh_usernames' | 'ssh_public_keys' | 'nodes'): Promise<number> {
  const r = await db.selectFrom(table).select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  return Number(r.n);
}

const ZERO_WEBHOOKS: WebhookCounters = { fan_outs_total: 0, deliveries_total: 0, deliveries_ok_total: 0, deliveries_recoverable_total: 0, deliveries_terminal_total: 0 };

/** The AdminMetricsResponse data. */
export async function adminMetrics(ctx: AdminCtx, nodeMetrics?: NodeMetricsCounters): Promise<Record<string, unknown>> {
  const { db } = ctx;
  const [nodes, executions, updates, clusters, commands, usernames, keys] = await Promise.all([
    countBy(db, 'nodes', 'status'), countBy(db, 'command_executions', 'status'), countBy(db, 'self_update_requests', 'status'),
    count(db, 'clusters'), count(db, 'commands'), count(db, 'ssh_usernames'), count(db, 'ssh_public_keys'),
  ]);
  const outbox = await db.selectFrom('events').select([
    sql<number>`sum(case when dispatched_at is null then 1 else 0 end)`.as('pending'),
    sql<number>`sum(case when dispatched_at is null then 0 else 1 end)`.as('done'),
  ]).executeTakeFirstOrThrow();
  const synced = await db.selectFrom('node_credentials').select([
    sql<number>`count(*)`.as('n'),
    sql<number>`sum(case when synced_version is not null and synced_version >= version then 1 else 0 end)`.as('in_sync'),
  ]).executeTakeFirstOrThrow();
  const ex = (s: string) => executions[s] ?? 0;
  const totalNodes = Object.values(nodes).reduce((a, b) => a + b, 0);
  const tunnel = ctx.hub?.stats();
  const mem = process.memoryUsage();
  const uptime = Math.floor((Date.now() - ctx.startedAt) / 1000);
  const webhook = ctx.webhookStats?.() ?? ZERO_WEBHOOKS;
  const sinks = ctx.eventSinkStats?.() ?? [];
  const sum = (k: 'published_total' | 'failures_total' | 'lag') => sinks.reduce((a, s) => a + (s[k] ?? 0), 0);
  return {
    timestamp: new Date().toISOString(),
    application: {
      uptime_seconds: uptime, uptime_human: humanUptime(uptime),
      memory_total_bytes: mem.rss, memory_total_mb: mb(mem.rss),
      memory_processes_bytes: mem.heapUsed, memory_processes_mb: mb(mem.heapUsed),
      memory_binary_bytes: mem.arrayBuffers, memory_binary_mb: mb(mem.arrayBuffers),
      memory_code_bytes: null, memory_code_mb: null,
      memory_ets_bytes: null, memory_ets_mb: null,
      memory_atom_bytes: null, memory_atom_mb: null,
      memory_external_bytes: mem.external, memory_external_mb: mb(mem.external),
      process_count: process.getActiveResourcesInfo().length,
      port_count: tunnel?.connected ?? 0,
      atom_count: null, ets_count: null,
      load_1m: os.loadavg()[0],
    },
    metadata: { assigned_clusters: clusters, degraded: totalNodes > MAX_PEERS, orphaned_clusters: 0, recomputations_total: 0 },
    membership: { complete_total: 1, steps_completed_total: 0 },
    discovery: { dns_resolutions_total: 0, peer_connections_total: 0, scans_total: 0 },
    nodes: {
      health_checks_total: tunnel?.heartbeats_total ?? 0,
      total: totalNodes, healthy: nodes.healthy ?? 0, unhealthy: nodes.unhealthy ?? 0, unreachable: nodes.unreachable ?? 0,
    },
    commands: {
      delivery_total: tunnel?.deliveries_total ?? 0,
      delivery_delivered_count: ex('sent'),
      execution_delivered_total: ex('sent') + ex('completed') + ex('failed') + ex('cancelled') + ex('expired'),
      execution_completed_total: tunnel?.results_total ?? ex('completed') + ex('failed'),
      expiration_total: ex('expired'),
      commands_total: commands,
      executions_by_status: { pending: ex('pending'), sent: ex('sent'), completed: ex('completed'), failed: ex('failed'), cancelled: ex('cancelled'), expired: ex('expired') },
    },
    ssh: {
      verifications_total: 0, verifications_failed: 0,
      usernames_total: usernames, public_keys_total: keys,
      nodes_with_credentials: Number(synced.n ?? 0), nodes_in_sync: Number(synced.in_sync ?? 0),
    },
    reconciliation: { errors: 0, total: 0 },
    self_updates: { completed_total: updates.completed ?? 0 },
    gateways: {
      active_count: tunnel?.connected ?? 0,
      connections_total: tunnel?.connections_total ?? 0,
      scrapes_total: nodeMetrics?.requests_total ?? 0,
      rejected_total: tunnel?.rejected_total ?? 0,
      replaced_total: tunnel?.replaced_total ?? 0,
    },
    event_broker: {
      enabled: sinks.length > 0, enqueues_total: Number(outbox.pending ?? 0) + Number(outbox.done ?? 0),
      publishes_total: sum('published_total') + sum('failures_total'), publishes_ok_total: sum('published_total'), publishes_error_total: sum('failures_total'), lag: sum('lag'),
      sinks: sinks.map((s) => ({ sink: s.sink, published_total: s.published_total, duplicates_total: s.duplicates_total, failures_total: s.failures_total, lag: s.lag, position: s.position, failing: s.failing, last_error: s.last_error })),
    },
    oban_queues: [
      { queue: 'command_executions', available: ex('pending'), scheduled: 0, executing: ex('sent'), retryable: 0, completed: ex('completed') + ex('failed'), cancelled: ex('cancelled'), discarded: ex('expired') },
      { queue: 'event_outbox', available: Number(outbox.pending ?? 0), scheduled: 0, executing: 0, retryable: 0, completed: Number(outbox.done ?? 0), cancelled: 0, discarded: 0 },
    ],
    quantum: { jobs_executed_total: 0, jobs_exceptions_total: 0 },
    proxy: {
      auth_failures_total: 0, bytes_down_mb: 0, bytes_down_total: 0, bytes_up_mb: 0, bytes_up_total: 0, connections_auth_failed_total: 0, connections_failure_total: 0,
      connections_success_total: 0, connections_total: 0, tunnels_closed_deadline_total: 0, tunnels_closed_drain_timeout_total: 0, tunnels_closed_normal_total: 0, tunnels_closed_total: 0,
    },
    vpn: { zombie_cleanup_deleted_count: 0, zombie_cleanup_total: 0 },
    webhook,
  };
}

const section = (props: string[], description: string) => ({ type: 'object', description, properties: Object.fromEntries(props.map((p) => [p, {}])) });

export const adminMetricsSchema = {
  type: 'object',
  properties: {
    timestamp: { type: 'string', format: 'date-time' },
    application: section(['uptime_seconds', 'uptime_human', 'memory_total_bytes', 'memory_total_mb', 'memory_processes_bytes', 'memory_processes_mb', 'memory_binary_bytes', 'memory_binary_mb', 'process_count', 'port_count'], 'Process uptime and memory (rss as total, V8 heap as processes, ArrayBuffers as binary); BEAM-only figures are null'),
    metadata: section(['assigned_clusters', 'degraded', 'orphaned_clusters', 'recomputations_total'], 'Cluster assignment (one admin owns every cluster)'),
    nodes: section(['health_checks_total', 'total', 'healthy', 'unhealthy', 'unreachable'], 'Heartbeats received and nodes by status'),
    commands: section(['delivery_total', 'delivery_delivered_count', 'execution_delivered_total', 'execution_completed_total', 'expiration_total', 'commands_total', 'executions_by_status'], 'Deliveries over the tunnel and executions by status'),
    ssh: section(['verifications_total', 'verifications_failed', 'usernames_total', 'public_keys_total', 'nodes_with_credentials', 'nodes_in_sync'], 'SSH credentials and how many nodes acknowledged their current set'),
    gateways: section(['active_count', 'connections_total', 'scrapes_total'], 'Agent tunnels: connected now, opened in total, live metric requests'),
    event_broker: section(['enabled', 'enqueues_total', 'publishes_total', 'publishes_ok_total', 'publishes_error_total', 'lag', 'sinks'], 'Event outbox and the event sinks (NATS JetStream): events accepted by the broker (ok), failed publish attempts (error, retried), events not yet published (lag), per sink'),
    oban_queues: { type: 'array', items: { type: 'object' }, description: 'command_executions and event_outbox as queues' },
    webhook: section(['fan_outs_total', 'deliveries_total', 'deliveries_ok_total', 'deliveries_recoverable_total', 'deliveries_terminal_total'], 'Webhook deliveries'),
    membership: { type: 'object' }, discovery: { type: 'object' }, reconciliation: { type: 'object' }, self_updates: { type: 'object' }, quantum: { type: 'object' }, proxy: { type: 'object' }, vpn: { type: 'object' },
  },
};

export function adminMetricsRoutes(http: HttpServer, ctx: AdminCtx, nodeMetrics?: NodeMetricsCounters): void {
  http.add({
    method: 'get', path: '/api/v1/admins/me/metrics', auth: 'api', tags: TAGS, summary: "This admin's metrics (AdminMetricsResponse): process, nodes, commands, tunnels, SSH, events, webhooks",
    responses: { 200: { description: 'metrics', schema: single(adminMetricsSchema) } },
    async handler(req: Req, res: Res) { ok(req, res, await adminMetrics(ctx, nodeMetrics)); },
  });
}
