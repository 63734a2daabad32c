// Nodes.Metrics and Admins.Metrics. Node metrics come live from a real agent daemon through
// its tunnel: host (the bare HostMetricsResponse), agent ({data}) and unified ({data, meta},
// best effort), by node id or alias; a node that is offline answers 503 for host/agent and
// "unavailable" parts for unified. Admin metrics: the reference's sections with this daemon's
// real counters (nodes by status, executions by status, tunnels, SSH, outbox), on both dialects.
import t from 'tap';
import { loadConfig } from '../daemon/config/config';
import { startDaemon } from '../daemon/daemon';
import { createLogger } from '../daemon/base/log';
import { iso, newId } from '../daemon/admin/store/util';
import { addNode, agentKey, attachTunnel, startTestAdmin } from './helpers/admin-ssh';
import { AGENT_OFF, tempDir } from './helpers/daemon';
import { bothDialects } from './helpers/postgres';
import { eventually } from './helpers/ssh';

const HOST_KEYS = ['cpu', 'memory', 'disk', 'uptime'];
const AGENT_KEYS = ['application', 'commands', 'discovery', 'health_check', 'oban_queues', 'proxy', 'ssh', 'vpn'];

t.test('node metrics through the tunnel: host, agent, unified; offline and unknown nodes', async (t) => {
  t.setTimeout(60_000);
  const a = await startTestAdmin(t);
  const { call } = a;
  const offline = newId();
  await addNode(a, offline, { name: 'cold-1' });

  // No tunnel on this admin yet: 503 / unavailable, 404 for an unknown node.
  const none = await call('GET', `/api/v1/nodes/${offline}/metrics/host`);
  t.equal(none.status, 503);
  t.equal(none.json.error.code, 'service_unavailable');
  t.equal((await call('GET', `/api/v1/nodes/${newId()}/metrics`)).status, 404);
  t.equal((await call('GET', '/api/v1/nodes/nope/metrics/agent')).status, 404);

  const tunnel = await attachTunnel(t, a);
  const cfg = loadConfig(['--data-dir', tempDir(t), '--api-port', '0', '--log-level', 'silent', ...AGENT_OFF], { ENROLLMENT_KEY: await agentKey(a, tunnel.url), OUTPOST_HEARTBEAT_INTERVAL_MS: '200' });
  const d = await startDaemon(cfg, createLogger(cfg.log_level));
  t.teardown(() => d.close());
  await d.tunnel!.whenEnrolled();
  await d.tunnel!.client!.whenUp();
  const nodeId = d.tunnel!.state!.node_id;
  t.equal((await call('POST', `/api/v1/nodes/${nodeId}/aliases`, { name: 'edge-a' })).status, 201);

  const host = await call('GET', `/api/v1/nodes/${nodeId}/metrics/host`);
  t.equal(host.status, 200, host.text);
  t.notOk('data' in host.json, 'the bare HostMetricsResponse of the reference');
  t.match(host.json, { node_id: nodeId, cluster_name: 'main', timestamp: /^\d{4}-\d\d-\d\dT/ });
  t.match(host.json.cpu, { cores: Number, load_1m: Number, load_5m: Number, load_15m: Number });
  t.ok(host.json.cpu.cores >= 1);
  for (const part of ['memory', 'disk']) t.match(host.json[part], { total_bytes: Number, available_bytes: Number, used_bytes: Number, usage_percent: Number, total_gb: Number }, part);
  t.ok(host.json.memory.total_bytes > 0, 'memory total');
  t.match(host.json.uptime, { seconds: Number, human: String });

  const agent = await call('GET', '/api/v1/nodes/edge-a/metrics/agent');
  t.equal(agent.status, 200, agent.text);
  t.match(agent.json, { data: { node_id: nodeId, cluster_name: 'main' }, meta: { request_id: String } }, 'by alias, {data, meta}');
  for (const k of AGENT_KEYS) t.ok(k in agent.json.data, `agent.${k}`);
  t.match(agent.json.data.application, { uptime_seconds: Number, memory_total_bytes: Number, process_count: Number });
  t.match(agent.json.data.commands, { completed_total: Number, enqueued_total: Number, reported_total: Number, synced_total: Number });
  t.match(agent.json.data.ssh, { authentications_total: Number, connections_total: Number });

  const unified = await call('GET', `/api/v1/nodes/${nodeId}/metrics`);
  t.equal(unified.status, 200);
  const u = unified.json.data;
  t.match(u, { node_id: nodeId, cluster_name: 'main', host: { available: true }, agent: { available: true } });
  for (const k of HOST_KEYS) t.type(u.host[k], 'object', `host.${k}`);
  for (const k of AGENT_KEYS) t.ok(u.agent[k] !== null && u.agent[k] !== undefined, `agent.${k}`);
  t.ok(unified.json.meta.request_id);

  // A node that is not connected: 503 for one source, unavailable parts for unified.
  const cold = await call('GET', '/api/v1/nodes/cold-1/metrics/host');
  t.equal(cold.status, 503);
  t.match(cold.json.error, { code: 'service_unavailable', message: /not connected/ });
  t.equal((await call('GET', `/api/v1/nodes/${offline}/metrics/agent`)).status, 503);
  const coldAll = await call('GET', `/api/v1/nodes/${offline}/metrics`);
  t.equal(coldAll.status, 200, 'best effort: unified still answers');
  t.match(coldAll.json.data, { node_id: offline, host: { available: false, cpu: null, unavailable_reason: /not connected/ }, agent: { available: false, application: null, ssh: null } });

  // Tunnel counters show up in the admin's metrics.
  const m = (await call('GET', '/api/v1/admins/me/metrics')).json.data;
  t.match(m.gateways, { active_count: 1, scrapes_total: 4 });
  t.ok(m.gateways.connections_total >= 1);
  t.ok(m.nodes.health_checks_total >= 0);

  // The agent goes away: its metrics become unavailable.
  await d.close();
  await eventually(async () => (await call('GET', `/api/v1/nodes/${nodeId}/metrics/host`)).status === 503, 5000);
  const gone = await call('GET', `/api/v1/nodes/${nodeId}/metrics`);
  t.match(gone.json.data, { host: { available: false }, agent: { available: false } });
});

bothDialects(t, 'admin metrics: the reference sections with real counters', async (t, ctx) => {
  const a = await startTestAdmin(t, ctx.databaseUrl);
  const { call, db } = a;
  const n1 = newId(), n2 = newId(), n3 = newId();
  for (const n of [n1, n2, n3]) await addNode(a, n);
  await db.updateTable('nodes').set({ status: 'healthy' }).where('id', '=', n1).execute();
  await db.updateTable('nodes').set({ status: 'unhealthy' }).where('id', '=', n2).execute();
  const at = iso();
  const cmd = newId();
  await db.insertInto('commands').values({ id: cmd, command_text: 'uptime', targeting: '{"type":"all"}', timeout: null, expired_at: null, inserted_at: at, updated_at: at }).execute();
  const statuses = ['pending', 'pending', 'sent', 'completed', 'completed', 'completed', 'failed', 'cancelled', 'expired'];
  await db.insertInto('command_executions').values(statuses.map((status) => ({
    id: newId(), command_id: cmd, node_id: n1, cluster_name: null, target_all: 1 as const, status, exit_code: null, output: null, sent_at: null, completed_at: null,
    cancelled_at: null, cancel_requested_at: null, timeout: null, expired_at: null, inserted_at: at, updated_at: at,
  }))).execute();

  const r = await call('GET', '/api/v1/admins/me/metrics');
  t.equal(r.status, 200);
  t.ok(r.json.meta.request_id);
  const m = r.json.data;
  for (const k of ['application', 'commands', 'discovery', 'event_broker', 'gateways', 'membership', 'metadata', 'nodes', 'oban_queues', 'proxy', 'quantum', 'reconciliation', 'self_updates', 'ssh', 'timestamp', 'vpn', 'webhook']) t.ok(k in m, `section ${k}`);
  t.match(m.application, { uptime_seconds: Number, uptime_human: /^\d+m$|h|d/, memory_total_bytes: Number, memory_total_mb: Number, memory_processes_bytes: Number, process_count: Number });
  t.ok(m.application.memory_total_bytes > 1_000_000, 'rss is real');
  t.match(m.nodes, { total: 3, healthy: 1, unhealthy: 1, unreachable: 1 });
  t.match(m.metadata, { assigned_clusters: 1, degraded: false, orphaned_clusters: 0 });
  t.same(m.commands.executions_by_status, { pending: 2, sent: 1, completed: 3, failed: 1, cancelled: 1, expired: 1 });
  t.match(m.commands, { commands_total: 1, expiration_total: 1, delivery_delivered_count: 1 });
  t.match(m.oban_queues.find((q: { queue: string }) => q.queue === 'command_executions'), { available: 2, executing: 1, completed: 4, cancelled: 1, discarded: 1 });
  const outbox = m.oban_queues.find((q: { queue: string }) => q.queue === 'event_outbox');
  t.ok(outbox.available >= 3, 'node registrations queued in the outbox');
  t.match(m.gateways, { active_count: 0, connections_total: 0, scrapes_total: 0 }, 'no tunnel mounted');
  t.same(m.webhook, { fan_outs_total: 0, deliveries_total: 0, deliveries_ok_total: 0, deliveries_recoverable_total: 0, deliveries_terminal_total: 0 });
  t.match(m.event_broker, { enabled: false });

  // A webhook counter provider, once mounted, is reported as is.
  a.admin.ctx.webhookStats = () => ({ fan_outs_total: 5, deliveries_total: 7, deliveries_ok_total: 6, deliveries_recoverable_total: 1, deliveries_terminal_total: 0 });
  t.match((await call('GET', '/api/v1/admins/me/metrics')).json.data.webhook, { fan_outs_total: 5, deliveries_ok_total: 6 });
});
