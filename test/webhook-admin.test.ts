// Webhooks on the real admin, end to end: an in-process admin (admin.enabled, on SQLite and on PostgreSQL,
// WEBHOOK_ALLOW_PRIVATE_IPS=true) and a loopback receiver. A webhook created through the admin
// API gets signed CloudEvents (X-Edge-Signature verified over the raw body) when a real agent
// daemon enrolls with an enrollment key made through the API (edge.node.registered) and its
// tunnel comes up (status_changed → healthy), and when the agent stops (→ offline). Then the
// receiver goes down, an event fails, the admin restarts: what was still owed is delivered.
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { loadConfig } from '../daemon/config/config';
import { startDaemon, type Daemon } from '../daemon/daemon';
import { createLogger } from '../daemon/base/log';
import { AGENT_OFF, tempDir } from './helpers/daemon';
import { bothDialects } from './helpers/postgres';
import { until } from './helpers/wait';

const KEY = 'webhook-admin-test-master-key';
const SECRET = 'whsec-admin-e2e-0123456789abcdef0123';
const log = createLogger('silent');

interface Hit { raw: Buffer; headers: http.IncomingHttpHeaders; ce: { id: string; type: string; source: string; subject?: string; data: Record<string, unknown> } }

/** A loopback receiver that can go down (port closed: connection refused) and come back on the same port. */
async function receiver(t: Test) {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      hits.push({ raw, headers: req.headers, ce: JSON.parse(raw.toString('utf8')) });
      res.end('ok');
    });
  });
  const listen = (port: number) => new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const down = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  t.teardown(() => (server.listening ? down() : undefined));
  return { hits, url: `http://127.0.0.1:${port}/edge-events`, down, up: () => listen(port) };
}

function verify(raw: Buffer, header: unknown): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`);
  const got = Buffer.from(String(header ?? ''));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

async function startAdmin(t: Test, dataDir: string, databaseUrl?: string): Promise<Daemon> {
  const cfg = loadConfig(['--data-dir', dataDir, '--api-port', '0', '--log-level', 'silent', '--admin', 'true', '--admin-port', '0', ...AGENT_OFF], {
    MASTER_KEY: KEY, WEBHOOK_ALLOW_PRIVATE_IPS: 'true', OUTPOST_HEARTBEAT_INTERVAL_MS: '1000', ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  });
  const d = await startDaemon(cfg, log);
  t.teardown(() => d.close());
  return d;
}

async function startAgent(t: Test, dataDir: string, blob: string): Promise<Daemon> {
  const cfg = loadConfig(['--data-dir', dataDir, '--api-port', '0', '--log-level', 'silent', ...AGENT_OFF], { ENROLLMENT_KEY: blob });
  const d = await startDaemon(cfg, log);
  t.teardown(() => d.close());
  await d.tunnel!.whenEnrolled();
  await d.tunnel!.client!.whenUp();
  return d;
}

function api(admin: Daemon) {
  const base = `http://127.0.0.1:${admin.admin!.port}`;
  return async (method: string, path: string, body?: unknown) => {
    const r = await request(`${base}${path}`, { method: method as 'GET', headers: { authorization: `Bearer ${KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    return { status: r.statusCode, json: text ? JSON.parse(text) : undefined };
  };
}

const statusTo = (hits: Hit[], nodeId: string, to: string) => hits.filter((h) => h.ce.type === 'edge.node.status_changed' && h.ce.subject === nodeId && h.ce.data.status === to);

bothDialects(t, 'agent lifecycle events reach a webhook as signed CloudEvents, and survive an admin restart', async (t, ctx) => {
  const rx = await receiver(t);
  const adminDir = ctx.dataDir;
  let admin = await startAdmin(t, adminDir, ctx.databaseUrl);
  let call = api(admin);

  // The webhook, through the admin API (the routes live on the admin app).
  const types = await call('GET', '/api/v1/event_types');
  t.equal(types.status, 200);
  t.ok(types.json.data.includes('edge.node.registered'), 'one catalog');
  const created = await call('POST', '/api/v1/webhooks', { url: rx.url, secret: SECRET, subscribed_events: ['edge.node.registered', 'edge.node.status_changed'] });
  t.equal(created.status, 201, JSON.stringify(created.json));
  const hookId = created.json.data.id as string;
  t.notOk('secret' in created.json.data, 'secret is write-only');
  const invalid = await call('POST', '/api/v1/webhooks', { url: rx.url, secret: 'short', subscribed_events: ['edge.node.*'] });
  t.equal(invalid.status, 422);
  t.equal(invalid.json.error.code, 'validation_failed');
  t.ok(invalid.json.error.details.secret && invalid.json.error.details.subscribed_events, 'details name the fields');
  t.ok(invalid.json.meta.request_id, 'the admin envelope');
  t.equal((await call('GET', '/api/v1/webhooks')).json.meta.pagination.total_count, 1);

  // An enrollment key made through the API; a real agent enrolls with it.
  t.equal((await call('POST', '/api/v1/clusters', { name: 'edge-lab' })).status, 201);
  const key = await call('POST', '/api/v1/clusters/edge-lab/enrollment_keys', { uses_remaining: 5 });
  t.equal(key.status, 201);
  const agentDir = tempDir(t, 'outpost-agent-');
  let agent = await startAgent(t, agentDir, key.json.data.key);
  const nodeId = agent.tunnel!.state!.node_id;

  const registered = await until('edge.node.registered', () => rx.hits.find((h) => h.ce.type === 'edge.node.registered'));
  t.ok(verify(registered.raw, registered.headers['x-edge-signature']), 'X-Edge-Signature verifies over the raw body');
  t.match(String(registered.headers['content-type']), /^application\/cloudevents\+json/);
  t.match(registered.ce, { specversion: '1.0', type: 'edge.node.registered', subject: nodeId, source: `/outpost/admin/${admin.admin!.ctx.identity.id}`, data: { node_id: nodeId, cluster_name: 'edge-lab' } });
  const healthy = await until('status_changed → healthy', () => statusTo(rx.hits, nodeId, 'healthy')[0]);
  t.ok(verify(healthy.raw, healthy.headers['x-edge-signature']));
  t.match(healthy.ce.data, { node_id: nodeId, cluster_name: 'edge-lab', previous_status: 'unreachable', status: 'healthy' });
  t.notOk(rx.hits.some((h) => h.ce.type === 'edge.enrollment_key.verified'), 'unsubscribed events are not sent');

  // The agent stops: its tunnel goes down → unreachable.
  await agent.close();
  const offline = await until('status_changed → unreachable', () => statusTo(rx.hits, nodeId, 'unreachable')[0]);
  t.ok(verify(offline.raw, offline.headers['x-edge-signature']));
  t.equal(offline.ce.data.previous_status, 'healthy');
  // The receiver answers before the dispatcher records the attempt: wait for the third row.
  const log1 = await until('three attempts in the delivery log', async () => {
    const r = await call('GET', `/api/v1/webhooks/${hookId}/deliveries`);
    return r.json.data.length >= 3 ? r : undefined;
  });
  t.ok(log1.json.data.every((a: { outcome: string }) => a.outcome === 'ok'), 'the delivery log, every attempt ok');
  t.ok(admin.admin!.webhooks.stats().deliveries_ok_total >= 3, 'stats() for Admins.Metrics');

  // The receiver goes down; the agent comes back (status_changed → healthy, not deliverable now).
  await rx.down();
  const before = statusTo(rx.hits, nodeId, 'healthy').length;
  agent = await startAgent(t, agentDir, key.json.data.key);
  await until('a failed attempt in the log', async () => (await call('GET', `/api/v1/webhooks/${hookId}/deliveries`)).json.data.some((a: { outcome: string }) => a.outcome === 'recoverable'));
  const owed = (await admin.admin!.store.db.selectFrom('webhook_deliveries').select(['event_id']).where('status', '=', 'pending').execute()).map((r) => r.event_id);
  t.ok(owed.length >= 1, 'a delivery is still owed');
  await agent.close();
  await admin.close();

  // Receiver back, admin restarted on the same database: what was owed is delivered.
  await rx.up();
  admin = await startAdmin(t, adminDir, ctx.databaseUrl);
  call = api(admin);
  await until('owed deliveries after the restart', () => owed.every((id) => rx.hits.some((h) => h.ce.id === id)), 30_000);
  t.equal(statusTo(rx.hits, nodeId, 'healthy').length, before + 1, 'the healthy change that failed before the restart arrived once');
  t.ok(rx.hits.every((h) => verify(h.raw, h.headers['x-edge-signature'])), 'every request signed');
  await until('nothing pending', async () => (await admin.admin!.store.db.selectFrom('webhook_deliveries').select('id').where('status', '=', 'pending').execute()).length === 0);
}, 90_000);
