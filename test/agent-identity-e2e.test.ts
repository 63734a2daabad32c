// Real daemons (issue 11, items 9 and 13): an agent outpostd enrolls into an admin outpostd with
// a one-use ENROLLMENT_KEY. From then on the host has one node id, the fleet's: health,
// metrics (JSON and the outpost_node_info series) and every log line carry it. The agent is
// SIGKILLed and started again WITHOUT the key: it reconnects with the identity kept in its data
// dir and the node is healthy again in the admin API. The admin is SIGKILLed: the agent says
// once, clearly, that the admin is unreachable (not once per retry), and comes back when the
// admin does.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { spawnDaemon, tempDir, type Child } from './helpers/daemon';
import { freePort } from './helpers/tunnel';
import { until as waitUntil } from './helpers/wait';

const MASTER = 'identity-e2e-master-key-0123';
const until = <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000) => waitUntil(what, fn, ms, { everyMs: 100, tolerateErrors: true });

/* eslint-disable @typescript-eslint/no-explicit-any */
async function get(url: string, auth = true): Promise<{ status: number; text: string; json: any }> {
  const r = await request(url, { headers: auth ? { authorization: `Bearer ${MASTER}` } : {} });
  const text = await r.body.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.statusCode, text, json };
}

const lines = (c: Child) => c.stdout().split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } });

t.test('one node id per host, and an agent restarted without ENROLLMENT_KEY comes back online', async (t) => {
  t.setTimeout(180_000);
  const adminPort = await freePort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const adminDir = tempDir(t);
  const adminArgs = ['--data-dir', path.join(adminDir, 'data'), '--admin', 'true', '--admin-port', String(adminPort), '--log-level', 'info'];
  const adminEnv = { MASTER_KEY: MASTER, OUTPOST_ADMIN_SELF_ENROLL: 'false', OUTPOST_HEARTBEAT_INTERVAL_MS: '300' };
  let admin = await spawnDaemon(t, adminArgs, adminEnv);
  const post = async (p: string, body: unknown) => {
    const r = await request(`${adminUrl}${p}`, { method: 'POST', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.statusCode, json: await r.body.json() as any };
  };
  t.equal((await post('/api/v1/clusters', { name: 'edge' })).status, 201);
  // One use: a restarted agent cannot lean on the key, it must use what it stored.
  const k = await post('/api/v1/clusters/edge/enrollment_keys', { uses_remaining: 1 });
  t.equal(k.status, 201);

  const agentDir = tempDir(t);
  const agentArgs = ['--data-dir', agentDir, '--node-name', 'edge-1', '--log-level', 'debug'];
  let agent = await spawnDaemon(t, agentArgs, { ENROLLMENT_KEY: k.json.data.key, MASTER_KEY: MASTER, OUTPOST_HEARTBEAT_INTERVAL_MS: '300' });
  const dataPlaneId = (await get(`${agent.url}/api/v1/health`, false)).json.node_id as string;
  const node = await until('the agent is healthy in the admin', async () => {
    const l = await get(`${adminUrl}/api/v1/nodes?cluster_name=edge`);
    const n = l.json?.data?.[0];
    return n?.status === 'healthy' && n;
  });
  const fleetId = node.id as string;
  t.not(fleetId, dataPlaneId, 'the data plane had an id of its own before enrollment');

  // Item 13: the fleet id everywhere, without a restart.
  await until('health shows the fleet id', async () => (await get(`${agent.url}/api/v1/health`, false)).json.node_id === fleetId);
  const host = await get(`${agent.url}/api/v1/agent/metrics/host`);
  t.match(host.json, { node_id: fleetId, cluster_name: 'edge' }, 'host metrics: fleet id and cluster');
  t.match((await get(`${agent.url}/api/v1/agent/metrics`)).json, { node_id: fleetId, cluster_name: 'edge' }, 'agent metrics');
  t.match((await get(`${agent.url}/api/v1/agent/metrics/unified`)).json, { node_id: fleetId }, 'unified metrics');
  const prom = (await get(`${agent.url}/metrics`)).text;
  t.match(prom, new RegExp(`^outpost_node_info\\{node_id="${fleetId}",cluster_name="edge"\\} 1$`, 'm'), 'Prometheus: outpost_node_info carries the fleet id');
  t.notOk(prom.includes(dataPlaneId), 'the data plane id is gone from the metrics');
  const enrolledAt = lines(agent).findIndex((l) => /the fleet's node id is this host's node id/.test(l.msg ?? ''));
  t.ok(enrolledAt >= 0, 'enrollment is logged');
  const after = lines(agent).slice(enrolledAt);
  t.ok(after.length > 0 && after.every((l) => l.node === fleetId), 'every log line after enrollment has node = the fleet id');
  t.ok(lines(agent).slice(0, enrolledAt).some((l) => l.node === dataPlaneId), 'before it, node = the data plane id');

  // Item 9: SIGKILL, restart without ENROLLMENT_KEY.
  agent.proc.kill('SIGKILL');
  await agent.exited;
  await until('the admin sees the node go down', async () => {
    const n = (await get(`${adminUrl}/api/v1/nodes/${fleetId}`)).json?.data;
    return n && n.status !== 'healthy' && n.status !== 'unhealthy';
  });
  agent = await spawnDaemon(t, agentArgs, { MASTER_KEY: MASTER, OUTPOST_HEARTBEAT_INTERVAL_MS: '300' });
  t.equal(lines(agent).find((l) => l.msg === 'outpostd listening')?.node_id, fleetId, 'restarted: the fleet id from the first line');
  t.equal((await get(`${agent.url}/api/v1/health`, false)).json.node_id, fleetId);
  await until('the restarted agent is healthy again', async () => (await get(`${adminUrl}/api/v1/nodes/${fleetId}`)).json?.data?.status === 'healthy');
  t.ok(lines(agent).some((l) => /no ENROLLMENT_KEY: connecting with the identity enrolled earlier/.test(l.msg ?? '')), 'says it uses the stored identity');
  t.equal((await get(`${adminUrl}/api/v1/nodes?cluster_name=edge`)).json.data.length, 1, 'still one node');

  // The admin goes away: one clear warning, not one per retry; back when the admin is.
  admin.proc.kill('SIGKILL');
  await admin.exited;
  const down = (c: Child) => lines(c).filter((l) => ['warn', 'error', 'fatal'].includes(l.level) && /tunnel to the admin is down/.test(l.msg ?? ''));
  await until('the agent says the admin is unreachable', async () => down(agent).some((l) => /unreachable/.test(l.msg)));
  const attempts = () => lines(agent).filter((l) => /tunnel to the admin is down/.test(l.msg ?? '')).length;
  await until('several reconnect attempts fail', async () => attempts() >= 5, 60_000);
  const loud = down(agent);
  t.ok(loud.length <= 2, `${loud.length} warnings for ${attempts()} failed attempts (the loss, then the cause)`);
  t.match(loud.at(-1)!.msg, /the admin is unreachable at 127\.0\.0\.1:\d+ \(connect ECONNREFUSED/, 'names the cause');
  admin = await spawnDaemon(t, adminArgs, adminEnv);
  // The admin's row may still say healthy from before its SIGKILL: wait for the agent's side.
  const back = await until('the agent reconnects to the restarted admin', async () => lines(agent).find((l) => l.msg === 'tunnel up again'), 90_000);
  t.ok(back.failed_attempts >= 5 && back.down_s >= 0, 'the recovery is logged with the outage');
  await until('healthy again after the admin restart', async () => (await get(`${adminUrl}/api/v1/nodes/${fleetId}`)).json?.data?.status === 'healthy');
});

t.test('an agent whose enrollment never completed, started without a key, says so at warn', async (t) => {
  t.setTimeout(30_000);
  const dir = tempDir(t);
  fs.mkdirSync(path.join(dir, 'agent'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'agent', 'node_id'), '11111111-2222-5333-8444-555555555555 persistent\n');
  const agent = await spawnDaemon(t, ['--data-dir', dir, '--log-level', 'info']);
  const line = lines(agent).find((l) => /tunnel\.json is missing/.test(l.msg ?? ''));
  t.equal(line?.level, 'warn', 'warn');
  t.match(line?.msg, /no ENROLLMENT_KEY: set one to enroll/);
  // A daemon that never tried to enroll is told so at info only.
  const plain = await spawnDaemon(t, ['--data-dir', tempDir(t), '--log-level', 'info']);
  t.equal(lines(plain).find((l) => /no control plane/.test(l.msg ?? ''))?.level, 'info');
});
