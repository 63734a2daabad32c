// Issue 11 review finding: tunnel tokens are only checked at the upgrade, so deleting a node left
// the tunnel opened with its (now revoked) token up. The admin now closes it (4003) and the
// agent, reconnecting, is refused and says so. Real admin and agent daemons on loopback.
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { spawnDaemon, tempDir, type Child } from './helpers/daemon';
import { freePort } from './helpers/tunnel';
import { until as waitUntil } from './helpers/wait';

const MASTER = 'node-delete-master-key-0123';
const until = <T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000) => waitUntil(what, fn, ms, { everyMs: 100, tolerateErrors: true });
/* eslint-disable @typescript-eslint/no-explicit-any */
const lines = (c: Child): any[] => c.stdout().split('\n').filter(Boolean).map((l) => { try { return JSON.parse(l); } catch { return {}; } });

t.test('deleting a node closes its live tunnel; the agent is refused when it reconnects', async (t) => {
  t.setTimeout(120_000);
  const adminPort = await freePort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const admin = await spawnDaemon(t, ['--data-dir', path.join(tempDir(t), 'data'), '--admin', 'true', '--admin-port', String(adminPort), '--log-level', 'info'],
    { MASTER_KEY: MASTER, OUTPOST_ADMIN_SELF_ENROLL: 'false', OUTPOST_HEARTBEAT_INTERVAL_MS: '300' });
  const call = async (method: 'POST' | 'GET' | 'DELETE', p: string, body?: unknown) => {
    const r = await request(`${adminUrl}${p}`, { method, headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    return { status: r.statusCode, json: text ? JSON.parse(text) : undefined };
  };
  t.equal((await call('POST', '/api/v1/clusters', { name: 'edge' })).status, 201);
  const k = await call('POST', '/api/v1/clusters/edge/enrollment_keys', {});
  const agent = await spawnDaemon(t, ['--data-dir', tempDir(t), '--node-name', 'doomed', '--log-level', 'info'],
    { ENROLLMENT_KEY: k.json.data.key, MASTER_KEY: MASTER, OUTPOST_HEARTBEAT_INTERVAL_MS: '300' });
  const node = await until('the agent is healthy', async () => {
    const n = (await call('GET', '/api/v1/nodes?cluster_name=edge')).json?.data?.[0];
    return n?.status === 'healthy' && n;
  });
  t.equal((await call('DELETE', `/api/v1/nodes/${node.id}`)).status, 204);
  await until('the admin closed the tunnel', async () => lines(admin).some((l) => l.msg === 'tunnel closed: its token was revoked' && l.node_id === node.id));
  const refused = await until('the agent is refused on reconnect', async () => lines(agent).find((l) => /refused this node's api_token/.test(l.msg ?? '')));
  t.equal(refused.level, 'error', 'said at error, once');
  t.equal((await call('GET', `/api/v1/nodes/${node.id}`)).status, 404, 'and the node stays deleted');
});
