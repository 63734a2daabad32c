// Agent metrics: host / agent / unified bodies checked against the reference's shapes (schemas)
// and against the os module, pluggable stats sources, and the Prometheus text format.
import os from 'node:os';
import Ajv from 'ajv';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { HostMetrics } from '../daemon/agent/metrics';
import { humanUptime, percent, toGb, toMb } from '../daemon/metrics/format';
import { PromText, escapeLabel } from '../daemon/agent/metrics/prometheus';
import { agentMetricsSchema, hostMetricsSchema, unifiedMetricsSchema } from '../daemon/tunnel/metrics-schemas';
import { startInProc } from './helpers/daemon';
import { find, parseExposition } from './helpers/prom';

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const KEY = 'k'.repeat(32);
const auth = { authorization: `Bearer ${KEY}` };

async function get(url: string, headers: Record<string, string> = auth): Promise<{ status: number; body: string; type: string }> {
  const r = await request(url, { headers });
  return { status: r.statusCode, body: await r.body.text(), type: String(r.headers['content-type']) };
}
async function getJson<T = Record<string, any>>(url: string): Promise<T> {
  const r = await get(url);
  if (r.status !== 200) throw new Error(`${url}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}
function valid(t: Test, schema: object, body: unknown, what: string): void {
  const v = ajv.compile(schema);
  t.ok(v(body), `${what} matches its schema`, { errors: v.errors });
}

t.test('formatting follows the reference examples', async (t) => {
  t.equal(humanUptime(90061), '1d 1h 1m');
  t.equal(humanUptime(172800), '2d 0h 0m');
  t.equal(humanUptime(5 * 3600 + 15 * 60 + 59), '5h 15m');
  t.equal(humanUptime(30 * 60), '30m');
  t.equal(humanUptime(0), '0m');
  t.equal(toGb(8589934592), 8);
  t.equal(toGb(2814377984), 2.6);
  t.equal(toGb(107374182400), 100);
  t.equal(toMb(125829120), 120);
  t.equal(toMb(943718400), 900);
  t.equal(percent(49125145600, 107374182400), 45.8);
  t.equal(percent(5, 0), 0, 'no division by zero');
  t.equal(percent(12, 10), 100, 'clamped to 100');
});

t.test('host metrics: reference shape, figures agree with the os module', async (t) => {
  t.setTimeout(30_000);
  const { url, daemon } = await startInProc(t, [], { MASTER_KEY: KEY });
  const h = await getJson(`${url}/api/v1/agent/metrics/host`);
  valid(t, hostMetricsSchema, h, 'host body');
  t.notOk(ajv.compile(hostMetricsSchema)({ ...h, memory: { ...h.memory, used_gb: undefined } }), 'the schema rejects a missing field');
  t.equal(h.node_id, daemon.dataPlane.nodeId);
  t.equal(h.cluster_name, null, 'not enrolled');
  t.ok(!Number.isNaN(Date.parse(h.timestamp)), 'timestamp is a date');
  t.equal(h.cpu.cores, os.cpus().length, 'cores = os.cpus().length');
  for (const k of ['load_1m', 'load_5m', 'load_15m']) t.ok(h.cpu[k] >= 0, `${k} >= 0`);
  t.ok(h.cpu.usage_percent >= 0 && h.cpu.usage_percent <= 100, 'cpu usage_percent in [0,100]');
  t.equal(h.memory.total_bytes, os.totalmem(), 'memory total = os.totalmem()');
  for (const part of ['memory', 'disk'] as const) {
    const m = h[part];
    t.ok(m.total_bytes > 0, `${part} total > 0`);
    t.ok(m.available_bytes >= 0 && m.available_bytes <= m.total_bytes, `${part} available within total`);
    t.equal(m.used_bytes, m.total_bytes - m.available_bytes, `${part} used = total - available`);
    t.ok(m.usage_percent >= 0 && m.usage_percent <= 100, `${part} usage_percent in [0,100]`);
    t.equal(m.usage_percent, Math.round((m.used_bytes / m.total_bytes) * 1000) / 10, `${part} usage_percent rounded to one decimal`);
    t.equal(m.total_gb, Math.round((m.total_bytes / 1024 ** 3) * 10) / 10, `${part} total_gb`);
    t.equal(m.used_gb, Math.round((m.used_bytes / 1024 ** 3) * 10) / 10, `${part} used_gb`);
  }
  t.ok(Math.abs(h.uptime.seconds - os.uptime()) < 60, 'uptime close to os.uptime()');
  t.match(h.uptime.human, /^(\d+d \d+h \d+m|\d+h \d+m|\d+m)$/);
  t.equal(h.uptime.human, humanUptime(h.uptime.seconds));
});

t.test('host sampling is cached and shared by concurrent callers', async (t) => {
  t.setTimeout(30_000);
  const cached = new HostMetrics({ cacheMs: 600_000 });
  const [a, b] = await Promise.all([cached.sample(), cached.sample()]);
  t.equal(a, b, 'concurrent callers share one sampling');
  t.equal(await cached.sample(), a, 'a sample younger than cacheMs is reused');
  const fresh = new HostMetrics({ cacheMs: 0 });
  const c = await fresh.sample();
  t.not(await fresh.sample(), c, 'with cacheMs 0 every call samples again');
  const missing = await new HostMetrics({ diskPath: '/nonexistent-outpost-path' }).sample();
  t.same(missing.errors, ['disk'], 'an unreadable part is reported');
  t.equal(missing.disk.total_bytes, null, 'and its figures are null');
  t.ok(missing.memory.total_bytes! > 0, 'the other parts are still there');
  // Background sampling: with cacheMs 0 every call would sample, but the background sample is served.
  const bg = new HostMetrics({ cacheMs: 0, intervalMs: 60_000 });
  t.teardown(() => bg.close());
  bg.start();
  const first = await bg.sample();
  t.equal(await bg.sample(), first, 'with background sampling a call reads the latest sample');
  t.ok(first.filesystems.some((f) => f.mountpoint === '/'), 'filesystems include /');
  t.ok(first.network.some((n) => n.device === 'lo'), 'network includes the loopback interface');
  t.ok(first.cpuRatio !== null && first.cpuRatio >= 0 && first.cpuRatio <= 1, 'cpu ratio in 0..1');
});

t.test('agent metrics: reference shape, zeroed sources, application figures', async (t) => {
  t.setTimeout(30_000);
  const { url, daemon } = await startInProc(t, [], { MASTER_KEY: KEY });
  const a = await getJson(`${url}/api/v1/agent/metrics`);
  valid(t, agentMetricsSchema, a, 'agent body');
  t.equal(a.node_id, daemon.dataPlane.nodeId);
  t.equal(a.cluster_name, null);
  t.same(a.commands, { completed_total: 0, enqueued_total: 0, reported_total: 0, synced_total: 0 }, 'absent commands source reads 0');
  t.same(a.ssh, { authentications_total: 0, connections_total: 0 }, 'absent ssh source reads 0');
  t.equal(a.proxy.http_connections_total, 0);
  t.same(a.proxy.http_blocked_by_reason, {});
  t.same(a.vpn, { pulls_total: 0 });
  t.same(a.oban_queues, []);
  const app = a.application;
  t.ok(app.memory_total_bytes > 0 && app.memory_total_bytes <= os.totalmem(), 'rss within host memory');
  t.ok(app.memory_processes_bytes > 0 && app.memory_processes_bytes < app.memory_total_bytes, 'heap used within rss');
  t.equal(app.memory_total_mb, Math.round((app.memory_total_bytes / 1024 ** 2) * 10) / 10);
  t.ok(app.uptime_seconds >= 0 && app.uptime_seconds < 600, 'uptime counts from this daemon start');
  t.equal(app.uptime_human, humanUptime(app.uptime_seconds));
  t.ok(Number.isInteger(app.process_count) && app.process_count >= 0);
  await request(`${url}/api/v1/kv/ns1/k`, { method: 'PUT', headers: auth, body: 'x'.repeat(1000) }).then((r) => r.body.dump());
  await request(`${url}/api/v1/kv/ns1/k`, { headers: auth }).then((r) => r.body.dump());
  const after = await getJson(`${url}/api/v1/agent/metrics`);
  t.equal(after.application.memory_ets_bytes, daemon.dataPlane.kv.cache.usedBytes, 'memory_ets_bytes is the read cache');
});

t.test('sources plugged in appear in JSON and Prometheus; a failing source reads 0', async (t) => {
  t.setTimeout(30_000);
  const { url, daemon } = await startInProc(t, [], { MASTER_KEY: KEY });
  const weird = 'we"ird\\re\nason';
  daemon.agentMetrics.sources = {
    ssh: () => ({ authentications_total: 45, connections_total: 44, authentication_failures_total: 3 } as { authentications_total: number }),
    proxy: () => ({ http_connections_total: 523, http_blocked_total: 16, http_blocked_by_reason: { localhost_blocked: 8, [weird]: 8 }, socks5_blocked_by_reason: { docker_port_blocked: 2 }, bytes_up_total: 157286400, tunnels_closed_normal_total: 590 }),
    commands: () => ({ completed_total: 150, enqueued_total: 152 }),
  };
  const a = await getJson(`${url}/api/v1/agent/metrics`);
  valid(t, agentMetricsSchema, a, 'agent body with sources');
  t.same(a.ssh, { authentications_total: 45, connections_total: 44, authentication_failures_total: 3 }, 'ssh source, extra field passed through');
  t.equal(a.proxy.http_connections_total, 523);
  t.same(a.proxy.http_blocked_by_reason, { localhost_blocked: 8, [weird]: 8 });
  t.equal(a.proxy.bytes_up_mb, 150, 'MB derived from the byte total');
  t.equal(a.proxy.bytes_down_total, 0, 'fields the source omits read 0');
  t.same(a.commands, { completed_total: 150, enqueued_total: 152, reported_total: 0, synced_total: 0 });

  const prom = await get(`${url}/metrics`);
  t.equal(prom.status, 200);
  t.match(prom.body, /^outpost_agent_ssh_authentications_total 45$/m);
  t.match(prom.body, /^outpost_agent_ssh_authentication_failures_total 3$/m, 'extra numeric fields are exported');
  t.match(prom.body, /^outpost_agent_proxy_http_connections_total 523$/m);
  t.match(prom.body, /^outpost_agent_proxy_http_blocked_by_reason_total\{reason="localhost_blocked"\} 8$/m);
  t.ok(prom.body.includes('outpost_agent_proxy_http_blocked_by_reason_total{reason="we\\"ird\\\\re\\nason"} 8'), 'label value with quote, backslash and newline is escaped');
  t.match(prom.body, /^outpost_agent_proxy_socks5_blocked_by_reason_total\{reason="docker_port_blocked"\} 2$/m);
  t.match(prom.body, /^outpost_agent_commands_completed_total 150$/m);
  t.notMatch(prom.body, /_mb /, 'derived MB figures are not exported');

  daemon.agentMetrics.sources.commands = () => ({ completed_total: 'many' as unknown as number, enqueued_total: NaN, reported_total: 4 });
  const c = await getJson(`${url}/api/v1/agent/metrics`);
  t.same(c.commands, { completed_total: 0, enqueued_total: 0, reported_total: 4, synced_total: 0 }, 'a field that is not a finite number reads 0');

  daemon.agentMetrics.sources.ssh = () => { throw new Error('ssh stats broke'); };
  const b = await getJson(`${url}/api/v1/agent/metrics`);
  t.same(b.ssh, { authentications_total: 0, connections_total: 0 }, 'a throwing source reads 0');
  t.equal(b.proxy.http_connections_total, 523, 'other sources unaffected');
});

t.test('/metrics is valid Prometheus text with host, agent and data-plane families', async (t) => {
  t.setTimeout(30_000);
  const { url } = await startInProc(t, [], { MASTER_KEY: KEY });
  const unauth = await get(`${url}/metrics`, {});
  t.equal(unauth.status, 401, 'needs a key');
  const r = await get(`${url}/metrics`);
  t.equal(r.status, 200);
  t.match(r.type, /^text\/plain; version=0\.0\.4/);
  const e = parseExposition(t, r.body);
  const one = (name: string) => find(e, name).find((s) => Object.keys(s.labels).length === 0)?.value;
  for (const name of ['outpost_host_cpu_cores', 'outpost_host_load1', 'outpost_host_load5', 'outpost_host_load15', 'outpost_host_memory_total_bytes', 'outpost_host_memory_available_bytes', 'outpost_host_uptime_seconds', 'outpost_agent_uptime_seconds', 'outpost_agent_ssh_authentications_total', 'outpost_agent_ssh_connections_total', 'outpost_agent_proxy_http_connections_total', 'outpost_agent_proxy_tunnels_closed_total', 'outpost_agent_commands_completed_total', 'outpost_kv_reads_total', 'outpost_http_requests_total']) {
    t.ok(e.types.has(name), `${name} is exported`);
  }
  t.equal(one('outpost_host_cpu_cores'), os.cpus().length);
  t.equal(one('outpost_host_memory_total_bytes'), os.totalmem());
  t.equal(e.types.get('outpost_agent_ssh_connections_total'), 'counter');
  t.ok(find(e, 'outpost_host_filesystem_size_bytes', { mountpoint: '/' })[0]?.value > 0, 'root filesystem size > 0');
});

t.test('PromText escapes and leaves out empty families', async (t) => {
  t.equal(escapeLabel('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const p = new PromText()
    .family('x_total', 'counter', 'help with \\ and\nnewline', [[{ reason: 'q"' }, 1]])
    .family('absent', 'gauge', 'no value', [[undefined, null]])
    .family('bad-name', 'gauge', 'sanitized', [[undefined, 2]]);
  t.equal(p.text(), '# HELP x_total help with \\\\ and\\nnewline\n# TYPE x_total counter\nx_total{reason="q\\""} 1\n# HELP bad_name sanitized\n# TYPE bad_name gauge\nbad_name 2\n');
});

t.test('unified metrics and auth on the agent routes', async (t) => {
  t.setTimeout(30_000);
  const { url, daemon } = await startInProc(t, [], { MASTER_KEY: KEY });
  const u = await getJson(`${url}/api/v1/agent/metrics/unified`);
  valid(t, unifiedMetricsSchema, u, 'unified body');
  t.equal(u.node_id, daemon.dataPlane.nodeId);
  t.equal(u.host.available, true);
  t.equal(u.agent.available, true);
  t.equal(u.host.cpu.cores, os.cpus().length);
  t.same(u.agent.ssh, { authentications_total: 0, connections_total: 0 });
  t.notOk('node_id' in u.agent, 'identity fields only at the top level');
  for (const p of ['/api/v1/agent/metrics', '/api/v1/agent/metrics/host', '/api/v1/agent/metrics/unified']) {
    const r = await get(`${url}${p}`, {});
    t.equal(r.status, 401, `${p} needs a key`);
    t.equal(JSON.parse(r.body).error, 'unauthorized');
  }
});
