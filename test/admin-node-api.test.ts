// NodeResponse as Edge Admin has it, on SQLite and PostgreSQL: a real agent (proxies on, port 0)
// enrolls and its Hello reports its ports and proxy password; MASTER_KEY callers read the
// real proxy password and the port serving its Prometheus metrics, API_KEY callers get null;
// api_token and wireguard_metrics_port are null; the proxy password is encrypted at rest.
// Status is the reference's enum (unreachable, not offline). A malformed node id or cluster
// name is a 400 in every route taking one.
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import t from 'tap';
import { request } from 'undici';
import { migrate } from '../daemon/admin/store/migrations';
import { loadConfig } from '../daemon/config/config';
import { startDaemon } from '../daemon/daemon';
import { createLogger } from '../daemon/base/log';
import { startAdminApi, until } from './helpers/admin-api';
import { tempDir } from './helpers/daemon';
import { bothDialects } from './helpers/postgres';

const API_KEY = 'admin-test-api-key-not-master';

async function agent(t: Test, dataDir: string, key: string) {
  const cfg = loadConfig([
    '--data-dir', dataDir, '--api-port', '0', '--log-level', 'silent', '--ssh-enabled', 'false', '--admin-self-enroll', 'false',
    '--proxy-enabled', 'true', '--http-proxy-port', '0', '--socks5-port', '0',
  ], { ENROLLMENT_KEY: key, OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  const d = await startDaemon(cfg, createLogger('silent'));
  t.teardown(() => d.close());
  return d;
}

bothDialects(t, 'node response: proxy password and metrics port for MASTER_KEY only, sealed at rest, status unreachable', async (t, ctx) => {
  const { call, base, db } = await startAdminApi(t, ctx, [], { API_KEY, OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  const asApi = async (p: string) => {
    const r = await request(`${base}${p}`, { headers: { authorization: `Bearer ${API_KEY}` } });
    return { status: r.statusCode, json: await r.body.json() as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  await call('POST', '/api/v1/clusters', { name: 'prod' });
  const key = (await call('POST', '/api/v1/clusters/prod/enrollment_keys', {})).json.data.key;
  const dir = tempDir(t);
  const d = await agent(t, dir, key);
  await d.tunnel!.whenEnrolled();
  await d.tunnel!.client!.whenUp();
  const nodeId = d.tunnel!.state!.node_id;
  await until(async () => (await call('GET', `/api/v1/nodes/${nodeId}`)).json.data.status === 'healthy', 10_000, 'node healthy');

  const password = fs.readFileSync(path.join(dir, 'agent', 'proxy_password'), 'utf8').trim();
  const master = (await call('GET', `/api/v1/nodes/${nodeId}`)).json.data;
  t.match(master, {
    id: nodeId, status: 'healthy', api_token: null, wireguard_metrics_port: null, proxy_password: password,
    http_port: d.port, host_metrics_port: d.port, http_proxy_port: d.proxy.httpPort, socks5_proxy_port: d.proxy.socks5Port,
  });
  t.equal(typeof master.proxy_password, 'string', 'a string, as in the reference');
  t.ok(Number.isInteger(master.host_metrics_port), 'an integer, as in the reference');
  const listed = (await call('GET', '/api/v1/nodes')).json.data.find((n: { id: string }) => n.id === nodeId);
  t.equal(listed.proxy_password, password, 'the list shows it to MASTER_KEY too');

  // The metrics port really serves Prometheus text.
  const scrape = await request(`http://127.0.0.1:${master.host_metrics_port}/metrics`);
  t.equal(scrape.statusCode, 200);
  t.match(await scrape.body.text(), /^# (HELP|TYPE) /m);

  // API_KEY: no secrets, the rest alike.
  const one = await asApi(`/api/v1/nodes/${nodeId}`);
  t.equal(one.status, 200);
  t.match(one.json.data, { id: nodeId, proxy_password: null, api_token: null, host_metrics_port: d.port });
  const page = await asApi('/api/v1/nodes');
  t.equal(page.json.data.find((n: { id: string }) => n.id === nodeId).proxy_password, null, 'API_KEY list: null');

  // Encrypted at rest, bound to the node's row.
  const row = await db.selectFrom('nodes').select('proxy_password').where('id', '=', nodeId).executeTakeFirstOrThrow();
  t.match(row.proxy_password, /^v1:[0-9a-f]{8}:/, 'sealed');
  t.notMatch(row.proxy_password!, password, 'not in clear');

  // Unreachable (the reference's word) once the tunnel is down, in the API and its filter.
  await d.close();
  await until(async () => (await call('GET', `/api/v1/nodes/${nodeId}`)).json.data.status === 'unreachable', 10_000, 'node unreachable');
  t.equal((await call('GET', '/api/v1/nodes?status=unreachable')).json.data.length, 1);
  t.equal((await call('GET', '/api/v1/nodes?status=offline')).status, 400);
  const changed = await db.selectFrom('events').select('data').where('type', '=', 'edge.node.status_changed').execute();
  t.ok(changed.some((e) => JSON.parse(e.data).status === 'unreachable'), 'status_changed says unreachable');
  t.notOk(changed.some((e) => /offline/.test(e.data)), 'no event says offline');
}, 90_000);

bothDialects(t, 'migration 7: nodes stored as offline become unreachable', async (t, ctx) => {
  const store = await ctx.open();
  const { db } = store;
  const at = new Date().toISOString();
  await db.insertInto('clusters').values({ id: '00000000-0000-4000-8000-000000000001', name: 'old', ipv4_range: '100.64.0.0/24', node_limit: null, inserted_at: at, updated_at: at }).execute();
  await db.insertInto('nodes').values({
    id: '00000000-0000-4000-8000-000000000002', cluster_id: '00000000-0000-4000-8000-000000000001', id_type: 'random', node_name: 'n', api_token_hash: '0'.repeat(64),
    status: 'offline' as never, tunnel_connected: 0, self_update_enabled: 0, inserted_at: at, updated_at: at,
  } as never).execute();
  await db.deleteFrom('schema_migrations').where('version', '=', 7).execute();
  t.same(await migrate(db, store.dialect), [7]);
  t.equal((await db.selectFrom('nodes').select('status').executeTakeFirstOrThrow()).status, 'unreachable');
});

bothDialects(t, 'a malformed node id or cluster name is 400 (not 404) in every route taking one', async (t, ctx) => {
  const { call, enrollNode } = await startAdminApi(t, ctx);
  const nodeId = await enrollNode('prod');
  const unknownNode = '00000000-0000-4000-8000-00000000abcd';
  const cases: Array<[string, string, unknown?]> = [
    ['GET', '/api/v1/nodes/%s'],
    ['DELETE', '/api/v1/nodes/%s'],
    ['PATCH', '/api/v1/nodes/%s/change_cluster', { cluster_name: 'prod' }],
    ['POST', '/api/v1/nodes/%s/aliases', { name: 'web' }],
  ];
  for (const [method, p, body] of cases) {
    for (const bad of ['not-a-uuid', 'node-1', '0123456789abcdef0123456789abcdef']) {
      const r = await call(method, p.replace('%s', bad), body);
      t.equal(r.status, 400, `${method} ${p} with ${bad}: 400`);
      t.equal(r.json?.error?.code, 'bad_request');
      t.ok(r.json?.error?.details?.id ?? r.json?.error?.details?.node_id, 'details name the parameter');
    }
    if (method !== 'DELETE') t.equal((await call(method, p.replace('%s', unknownNode), body)).status, 404, `${method} ${p} with an unknown UUID: 404`);
  }
  for (const q of ['/api/v1/aliases?node_id=nope', '/api/v1/ssh_usernames?node_id=nope', '/api/v1/command_executions?node_id=nope']) {
    t.equal((await call('GET', q)).status, 400, `${q}: 400`);
  }
  const clusterCases: Array<[string, string, unknown?]> = [
    ['GET', '/api/v1/clusters/%s'],
    ['PATCH', '/api/v1/clusters/%s', { node_limit: 5 }],
    ['DELETE', '/api/v1/clusters/%s'],
    ['POST', '/api/v1/clusters/%s/enrollment_keys', {}],
  ];
  for (const [method, p, body] of clusterCases) {
    for (const bad of ['Prod', 'a_b', '-edge', 'x'.repeat(25), 'edge-']) {
      const r = await call(method, p.replace('%s', encodeURIComponent(bad)), body);
      t.equal(r.status, 400, `${method} ${p} with ${bad}: 400`);
      t.ok(r.json?.error?.details?.name ?? r.json?.error?.details?.cluster_name, 'details name the parameter');
    }
    t.equal((await call(method, p.replace('%s', 'nosuch'), body)).status, 404, `${method} ${p} with an unknown name: 404`);
  }
  t.equal((await call('GET', `/api/v1/nodes/${nodeId}`)).status, 200, 'a well-formed id still works');
});

t.test('DEFAULT_CLUSTER_NAME must follow the cluster name rule (its routes would 400 otherwise)', async (t) => {
  const { startInProc } = await import('./helpers/daemon');
  await t.rejects(startInProc(t, ['--admin', 'true', '--admin-port', '0'], { DEFAULT_CLUSTER_NAME: 'Prod_1' }), /DEFAULT_CLUSTER_NAME "Prod_1" is not a valid cluster name/);
});
