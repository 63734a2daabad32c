// The control-plane API over HTTP on SQLite and PostgreSQL: envelope and errors, clusters,
// enrollment keys (default and public routes, key blob), nodes (filters, change_cluster,
// delete cascade), aliases (hosts export), admin metadata, event types, OpenAPI + Swagger UI.
import t from 'tap';
import { request } from 'undici';
import { consumeEnrollmentKey, recordHeartbeat, setTunnelState } from '../daemon/admin/store/enroll';
import { decodeKeyBlob as decodeEnrollmentKey } from '../daemon/tunnel/enrollment';
import { EVENT_TYPES } from '../daemon/admin/store/events';
import { newId } from '../daemon/admin/store/util';
import { spawnDaemon, startInProc } from './helpers/daemon';
import { bothDialects, type DialectCtx } from './helpers/postgres';
import type { Test } from 'tap';

const KEY = 'admin-test-master-key';

async function admin(t: Test, ctx: DialectCtx, args: string[] = [], env: Record<string, string> = {}) {
  const { daemon } = await startInProc(t, ['--admin', 'true', '--admin-port', '0', ...args], { MASTER_KEY: KEY, ...(ctx.databaseUrl ? { DATABASE_URL: ctx.databaseUrl } : {}), ...env });
  const a = daemon.admin!;
  const base = `http://127.0.0.1:${a.port}`;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await request(`${base}${path}`, { method: method as 'GET', headers: { authorization: `Bearer ${KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers }, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await r.body.text();
    let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: r.statusCode, headers: r.headers, json, text };
  };
  return { daemon, admin: a, base, call, db: a.store.db };
}

bothDialects(t, 'envelope, request ids, errors and auth', async (t, ctx) => {
  const { call } = await admin(t, ctx);
  const me = await call('GET', '/api/v1/admins/me', undefined, { 'x-request-id': 'req-123' });
  t.equal(me.status, 200);
  t.equal(me.headers['x-request-id'], 'req-123', 'x-request-id mirrored');
  t.equal(me.json.meta.request_id, 'req-123');
  t.match(me.json.meta.timestamp, /^\d{4}-\d{2}-\d{2}T.*Z$/);
  const gen = await call('GET', '/api/v1/admins/me');
  t.match(gen.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'generated when absent');
  t.equal(gen.json.meta.request_id, gen.headers['x-request-id']);

  const noAuth = await call('GET', '/api/v1/clusters', undefined, { authorization: '' });
  t.equal(noAuth.status, 401);
  t.equal(noAuth.json.error.code, 'unauthorized');
  t.ok(noAuth.json.meta.request_id, 'errors carry meta');
  const nf = await call('GET', '/api/v1/nope');
  t.equal(nf.status, 404);
  t.equal(nf.json.error.code, 'not_found');
  const badJson = await call('POST', '/api/v1/clusters', '{not json');
  t.equal(badJson.status, 400);
  t.equal(badJson.json.error.code, 'bad_request');
  const badQuery = await call('GET', '/api/v1/clusters?page_size=1000&order_by=password');
  t.equal(badQuery.status, 400);
  t.equal(badQuery.json.error.code, 'bad_request');
  t.ok(badQuery.json.error.details.page_size, 'details names page_size');
  const badOrder = await call('GET', '/api/v1/clusters?order_by=password');
  t.equal(badOrder.status, 400);
  t.match(badOrder.json.error.details.order_by[0], /cannot sort by 'password'/);
});

bothDialects(t, 'clusters: create, name rules, ranges, list, patch, delete', async (t, ctx) => {
  const { call, db } = await admin(t, ctx);
  const a = await call('POST', '/api/v1/clusters', { name: 'prod-east', node_limit: 1 });
  t.equal(a.status, 201);
  t.match(a.json.data, { name: 'prod-east', ipv4_range: '100.64.0.0/24', node_limit: 1, node_count: 0, nodes: [], network_name: 'cluster-prod-east' });
  t.equal((await call('POST', '/api/v1/clusters', { name: 'prod-west' })).json.data.ipv4_range, '100.64.1.0/24', 'next free /24');
  const free = await call('POST', '/api/v1/clusters', { name: 'lab2', ipv4_range: '100.64.4.0/22' });
  t.equal(free.status, 201);
  t.equal((await call('POST', '/api/v1/clusters', { name: 'auto' })).json.data.ipv4_range, '100.64.2.0/24', 'allocation fills the gap before the given range');
  t.equal((await call('POST', '/api/v1/clusters', { name: 'inside', ipv4_range: '100.64.5.0/24' })).status, 409, 'inside lab2: overlap');

  const reserved = await call('POST', '/api/v1/clusters', { name: 'default' });
  t.equal(reserved.status, 422);
  t.equal(reserved.json.error.code, 'validation_failed');
  t.same(reserved.json.error.details, { name: ['is reserved'] });
  const badName = await call('POST', '/api/v1/clusters', { name: 'Prod_East' });
  t.equal(badName.status, 422);
  t.ok(badName.json.error.details.name, 'details.name');
  t.equal((await call('POST', '/api/v1/clusters', { name: 'x'.repeat(25) })).status, 422, 'max 24 chars');
  t.equal((await call('POST', '/api/v1/clusters', { name: 'ok', extra: 1 })).status, 422, 'unknown field');
  const hostBits = await call('POST', '/api/v1/clusters', { name: 'hb', ipv4_range: '100.64.9.1/24' });
  t.equal(hostBits.status, 422);
  t.match(hostBits.json.error.details.ipv4_range[0], /host bits/);
  const overlap = await call('POST', '/api/v1/clusters', { name: 'ov', ipv4_range: '100.64.0.128/25' });
  t.equal(overlap.status, 409);
  t.match(overlap.json.error.message, /overlaps cluster 'prod-east'/);
  const dup = await call('POST', '/api/v1/clusters', { name: 'prod-east' });
  t.equal(dup.status, 409);
  t.equal(dup.json.error.code, 'conflict');

  const list = await call('GET', '/api/v1/clusters?name=prod*&page_size=1');
  t.equal(list.status, 200);
  t.same(list.json.data.map((c: { name: string }) => c.name), ['prod-east']);
  t.same(list.json.meta.pagination, { page: 1, page_size: 1, total_count: 2, total_pages: 2, has_next: true, has_prev: false, next_page: 2, prev_page: null });
  t.same((await call('GET', '/api/v1/clusters?has_node_limit=true')).json.data.map((c: { name: string }) => c.name), ['prod-east']);
  t.same((await call('GET', '/api/v1/clusters?order_by=name&order_directions=desc&page_size=2')).json.data.map((c: { name: string }) => c.name), ['prod-west', 'prod-east']);

  t.equal((await call('GET', '/api/v1/clusters/nope')).status, 404);
  const patched = await call('PATCH', '/api/v1/clusters/prod-east', { node_limit: null });
  t.equal(patched.status, 200);
  t.equal(patched.json.data.node_limit, null);
  t.equal((await call('PATCH', '/api/v1/clusters/prod-east', { node_limit: 0 })).status, 422, 'minimum 1');

  // A cluster with a node: cannot delete (409), cannot lower node_limit below its count (422).
  const key = await call('POST', '/api/v1/clusters/prod-east/enrollment_keys', {});
  await consumeEnrollmentKey(db, decodeEnrollmentKey(key.json.data.key).secret, { node_id: newId(), id_type: 'random' });
  await call('POST', '/api/v1/clusters/prod-west/enrollment_keys', {}).then(async (k) => consumeEnrollmentKey(db, decodeEnrollmentKey(k.json.data.key).secret, { node_id: newId(), id_type: 'random' }));
  await call('POST', '/api/v1/clusters/prod-west/enrollment_keys', {}).then(async (k) => consumeEnrollmentKey(db, decodeEnrollmentKey(k.json.data.key).secret, { node_id: newId(), id_type: 'random' }));
  t.equal((await call('GET', '/api/v1/clusters/prod-east')).json.data.node_count, 1);
  t.equal((await call('PATCH', '/api/v1/clusters/prod-west', { node_limit: 1 })).status, 422, 'below the current node count');
  t.same((await call('GET', '/api/v1/clusters?node_count__gte=2')).json.data.map((c: { name: string }) => c.name), ['prod-west'], 'node_count filter');
  const busy = await call('DELETE', '/api/v1/clusters/prod-east');
  t.equal(busy.status, 409);
  t.equal(busy.json.error.code, 'conflict');
  const del = await call('DELETE', '/api/v1/clusters/lab2');
  t.equal(del.status, 204);
  t.equal((await call('GET', '/api/v1/clusters/lab2')).status, 404);
});

bothDialects(t, 'enrollment keys: per cluster, default and public routes, blob, filters, patch, delete', async (t, ctx) => {
  const { call, admin: a } = await admin(t, ctx, [], { DEFAULT_CLUSTER_NAME: 'home' });
  const created = await call('POST', '/api/v1/clusters/default/enrollment_keys', { name: 'prod rollout' });
  t.equal(created.status, 201);
  t.match(created.json.data, { cluster_name: 'home', name: 'prod rollout', uses_remaining: 1, expired_at: null, last_used_at: null });
  const blob = decodeEnrollmentKey(created.json.data.key);
  t.same(blob.urls, [`http://127.0.0.1:${a.port}`], 'the blob holds the admin URL');
  t.equal(blob.cluster_name, 'home');

  t.equal((await call('POST', '/api/v1/clusters/default/enrollment_keys/public', undefined, { authorization: '' })).status, 403, 'public route off by default');
  t.equal((await call('POST', '/api/v1/clusters/nope/enrollment_keys', {})).status, 404);
  const unlimited = await call('POST', '/api/v1/clusters/home/enrollment_keys', { uses_remaining: null, expired_at: '2099-01-01T00:00:00Z' });
  t.equal(unlimited.json.data.uses_remaining, null);
  t.equal(unlimited.json.data.expired_at, '2099-01-01T00:00:00.000Z');
  const past = await call('POST', '/api/v1/clusters/home/enrollment_keys', { expired_at: '2001-01-01T00:00:00Z' });
  t.equal(past.status, 422);
  t.same(past.json.error.details, { expired_at: ['must be in the future'] });
  t.equal((await call('POST', '/api/v1/clusters/home/enrollment_keys', { uses_remaining: 0 })).status, 422);

  await consumeEnrollmentKey(a.store.db, blob.secret, { node_id: newId(), id_type: 'random' });
  const spent = await call('GET', '/api/v1/enrollment_keys?is_spent=true');
  t.same(spent.json.data.map((k: { id: string }) => k.id), [created.json.data.id]);
  t.ok(spent.json.data[0].last_used_at, 'last_used_at set');
  t.same((await call('GET', '/api/v1/enrollment_keys?is_unlimited=true')).json.data.map((k: { id: string }) => k.id), [unlimited.json.data.id]);
  t.same((await call('GET', '/api/v1/enrollment_keys?name=ROLL')).json.data.map((k: { id: string }) => k.id), [created.json.data.id], 'name: case-insensitive substring');
  t.same((await call('GET', `/api/v1/enrollment_keys?key=${encodeURIComponent(unlimited.json.data.key)}`)).json.data.length, 1);
  t.same((await call('GET', '/api/v1/enrollment_keys?expired_at__lte=2099-01-01')).json.data.length, 1, 'date-only __lte covers the day');
  t.same((await call('GET', '/api/v1/enrollment_keys?is_expired=false')).json.meta.pagination.total_count, 2);

  const patched = await call('PATCH', `/api/v1/enrollment_keys/${created.json.data.id}`, { uses_remaining: 5, name: null });
  t.match(patched.json.data, { uses_remaining: 5, name: null });
  t.equal((await call('GET', `/api/v1/enrollment_keys/${created.json.data.id}`)).json.data.uses_remaining, 5);
  t.equal((await call('GET', '/api/v1/enrollment_keys/not-a-uuid')).status, 400);
  t.equal((await call('GET', `/api/v1/enrollment_keys/${newId()}`)).status, 404);
  t.equal((await call('DELETE', `/api/v1/enrollment_keys/${created.json.data.id}`)).status, 204);
  t.equal((await call('DELETE', `/api/v1/enrollment_keys/${created.json.data.id}`)).status, 404);
});

bothDialects(t, 'public enrollment key route when enabled', async (t, ctx) => {
  const { call } = await admin(t, ctx, [], { DEFAULT_CLUSTER_NAME: 'edge', PUBLIC_ENROLLMENT_KEY_ENABLED: 'true' });
  const r = await call('POST', '/api/v1/clusters/default/enrollment_keys/public', undefined, { authorization: '' });
  t.equal(r.status, 201);
  t.match(r.json.data, { cluster_name: 'edge', uses_remaining: 1, name: null });
});

bothDialects(t, 'nodes: list filters, status, change_cluster with node_limit, delete cascade; aliases and hosts export', async (t, ctx) => {
  const { call, db } = await admin(t, ctx);
  await call('POST', '/api/v1/clusters', { name: 'prod' });
  await call('POST', '/api/v1/clusters', { name: 'tiny', node_limit: 1 });
  const key = decodeEnrollmentKey((await call('POST', '/api/v1/clusters/prod/enrollment_keys', { uses_remaining: null })).json.data.key).secret;
  const n1 = newId(), n2 = newId(), n3 = newId();
  await consumeEnrollmentKey(db, key, { node_id: n1, id_type: 'persistent', version: '1.2.0', ip_address: '10.0.0.1', node_name: 'web-1' });
  await consumeEnrollmentKey(db, key, { node_id: n2, id_type: 'random', version: '1.3.0' });
  await consumeEnrollmentKey(db, key, { node_id: n3, id_type: 'random', version: '2.0.0' });
  await setTunnelState(db, n1, true, 10_000);
  await recordHeartbeat(db, n1, new Date(), {}, 10_000);

  const all = await call('GET', '/api/v1/nodes');
  t.equal(all.json.meta.pagination.total_count, 3);
  const one = all.json.data.find((n: { id: string }) => n.id === n1);
  t.match(one, { id: n1, id_type: 'persistent', node_name: 'web-1', cluster_name: 'prod', status: 'healthy', version: '1.2.0', api_token: null, self_update_enabled: false });
  t.same((await call('GET', '/api/v1/nodes?status=healthy')).json.data.map((n: { id: string }) => n.id), [n1]);
  t.equal((await call('GET', '/api/v1/nodes?status=unreachable')).json.data.length, 2, 'the reference enum: unreachable');
  t.equal((await call('GET', '/api/v1/nodes?status=offline')).status, 400, 'offline is not a node status (the reference says unreachable)');
  t.equal((await call('GET', '/api/v1/nodes?status=sleepy')).status, 400);
  t.same((await call('GET', '/api/v1/nodes?version=1.*&order_by=version&order_directions=desc')).json.data.map((n: { id: string }) => n.id), [n2, n1]);
  t.equal((await call('GET', '/api/v1/nodes?id_type=persistent&cluster_name=pr*')).json.data.length, 1);
  t.equal((await call('GET', `/api/v1/nodes?last_seen_at__gte=${new Date(Date.now() - 60_000).toISOString()}`)).json.data.length, 1);
  t.equal((await call('GET', `/api/v1/nodes/${n1}`)).json.data.id, n1);
  t.equal((await call('GET', `/api/v1/nodes/${newId()}`)).status, 404);

  t.equal((await call('PATCH', `/api/v1/nodes/${n2}/change_cluster`, { cluster_name: 'tiny' })).json.data.cluster_name, 'tiny');
  const full = await call('PATCH', `/api/v1/nodes/${n3}/change_cluster`, { cluster_name: 'tiny' });
  t.equal(full.status, 409, 'node_limit respected');
  t.equal((await call('PATCH', `/api/v1/nodes/${n3}/change_cluster`, { cluster_name: 'ghost' })).status, 422);
  t.equal((await call('PATCH', `/api/v1/nodes/${newId()}/change_cluster`, { cluster_name: 'prod' })).status, 404);
  const ev = await db.selectFrom('events').select('data').where('type', '=', 'edge.node.cluster_changed').execute();
  t.equal(ev.length, 1, 'edge.node.cluster_changed queued');

  // Aliases.
  const al = await call('POST', `/api/v1/nodes/${n1}/aliases`, { name: 'web-server' });
  t.equal(al.status, 201);
  t.match(al.json.data, { name: 'web-server', node_id: n1, cluster_name: 'prod', vpn_hostname: 'web-server.cluster-prod.outpost.internal' });
  t.equal((await call('POST', `/api/v1/nodes/${n2}/aliases`, { name: 'web-server' })).status, 409, 'aliases are unique');
  t.equal((await call('POST', `/api/v1/nodes/${n2}/aliases`, { name: 'Bad Name' })).status, 422);
  t.equal((await call('POST', `/api/v1/nodes/${newId()}/aliases`, { name: 'x1' })).status, 404);
  await call('POST', `/api/v1/nodes/${n2}/aliases`, { name: 'db' });
  t.same((await call('GET', '/api/v1/aliases?cluster_name=prod')).json.data.map((a: { name: string }) => a.name), ['web-server']);
  t.same((await call('GET', `/api/v1/aliases?node_id=${n2}`)).json.data.map((a: { name: string }) => a.name), ['db']);
  t.equal((await call('GET', `/api/v1/aliases/${al.json.data.id}`)).json.data.name, 'web-server');
  const hosts = await call('GET', '/api/v1/aliases/hosts');
  t.equal(hosts.status, 200);
  t.match(hosts.headers['content-type'], /^text\/plain/);
  t.match(hosts.text, /^10\.0\.0\.1\tweb-1\.cluster-prod\.outpost\.internal\tweb-1$/m);
  t.match(hosts.text, /^10\.0\.0\.1\tweb-server\.cluster-prod\.outpost\.internal\tweb-server$/m);
  t.match(hosts.text, /# no address reported yet: .*db/, 'nodes without an address are named in a comment');

  // Delete: aliases (and SSH users) go, executions stay.
  t.equal((await call('DELETE', `/api/v1/nodes/${n1}`)).status, 204);
  t.equal((await call('GET', `/api/v1/aliases/${al.json.data.id}`)).status, 404, 'alias deleted with its node');
  t.equal((await call('DELETE', `/api/v1/nodes/${n1}`)).status, 404);
  t.equal((await call('DELETE', `/api/v1/aliases/${(await call('GET', '/api/v1/aliases')).json.data[0].id}`)).status, 204);
});

bothDialects(t, 'admin metadata, event catalog, OpenAPI and Swagger UI', async (t, ctx) => {
  const { call, base } = await admin(t, ctx);
  await call('POST', '/api/v1/clusters', { name: 'c1' });
  const me = (await call('GET', '/api/v1/admins/me')).json.data;
  t.match(me, { name: /^admin-[a-z0-9]{12}$/, admin_peer_count: 0 });
  const cl = (await call('GET', '/api/v1/admins/my_admin_cluster')).json.data;
  t.equal(cl.weak_leader, me.name, 'itself as weak leader');
  t.equal(cl.total_admins, 1);
  t.same(cl.topology.map((x: { name: string }) => x.name), [me.name]);
  t.same((await call('GET', '/api/v1/admins/edge_clusters')).json.data, { [me.name]: { c1: [] } });
  t.same((await call('GET', '/api/v1/admins/orphaned_clusters')).json.data, {});
  t.equal((await call('GET', '/api/v1/admins/admin_clusters')).json.data[0].admins[0].name, me.name);
  t.same((await call('GET', '/api/v1/event_types')).json.data, [...EVENT_TYPES]);

  const doc = await request(`${base}/openapi.json`);
  t.equal(doc.statusCode, 200, 'public');
  const oa = await doc.body.json() as { paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>>; components: { securitySchemes: Record<string, unknown> } };
  for (const p of ['/api/v1/clusters', '/api/v1/clusters/{name}', '/api/v1/enrollment_keys/{id}', '/api/v1/nodes/{id}/change_cluster', '/api/v1/aliases/hosts', '/api/v1/event_types', '/api/v1/admins/me']) t.ok(oa.paths[p], `documents ${p}`);
  t.ok(oa.paths['/api/v1/clusters'].post.responses['422'], 'documents 422');
  t.same(oa.paths['/api/v1/clusters/default/enrollment_keys/public'].post.security, [], 'public route marked');
  t.match(oa.components.securitySchemes.apiKey, { type: 'http', scheme: 'bearer' });
  const ui = await request(`${base}/swaggerui`);
  t.equal(ui.statusCode, 200);
  t.match(await ui.body.text(), /SwaggerUIBundle\(\{ url: '\/openapi.json'/);
  for (const [asset, type] of [['swagger-ui-bundle.js', /javascript/], ['swagger-ui.css', /text\/css/]] as const) {
    const a = await request(`${base}/swaggerui/${asset}`);
    t.equal(a.statusCode, 200, `${asset} served locally (no CDN)`);
    t.match(String(a.headers['content-type']), type);
    t.ok((await a.body.arrayBuffer()).byteLength > 10_000);
  }
});

t.test('outpostd --admin as a process: logs "admin listening" with its port, serves, stops on SIGTERM', async (t) => {
  t.setTimeout(30_000);
  const dataDir = (await import('node:fs')).mkdtempSync(`${(await import('node:os')).tmpdir()}/outpost-admin-proc-`);
  t.teardown(async () => (await import('node:fs')).rmSync(dataDir, { recursive: true, force: true }));
  const d = await spawnDaemon(t, ['--data-dir', dataDir, '--admin', 'true', '--admin-port', '0', '--log-level', 'info']);
  const m = d.stdout().match(/"port":(\d+)[^\n]*"msg":"admin listening"/);
  t.ok(m, 'admin listening logged with its port');
  const r = await request(`http://127.0.0.1:${m![1]}/api/v1/event_types`);
  t.equal(r.statusCode, 200);
  t.equal(((await r.body.json()) as { data: string[] }).data.length, EVENT_TYPES.length);
  t.ok(require('node:fs').existsSync(`${dataDir}/admin.sqlite`), 'embedded SQLite in the data dir');
  d.proc.kill('SIGTERM');
  t.same(await d.exited, { code: 0, signal: null });
});

bothDialects(t, 'every admin route schema compiles (validators compile lazily)', async (t, ctx) => {
  const { admin: a } = await admin(t, ctx);
  const { compile } = await import('../daemon/http/validate');
  for (const r of a.http.routes) {
    for (const where of ['params', 'query', 'body'] as const) {
      const schema = r[where];
      if (!schema) continue;
      try { compile(where, schema)({}); t.pass(`${r.method} ${r.path} ${where}`); } catch (e) {
        t.equal((e as { code?: string }).code, 'bad_request', `${r.method} ${r.path} ${where}: only validation errors, no schema errors`);
      }
    }
  }
});
