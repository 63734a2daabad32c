// The docs stay true: every error code documented, every setting in the README, and the
// committed OpenAPI document equal to the one the daemon serves.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { CoreErrorCodes } from '../core';
import { FIELDS } from '../daemon/config/config';
import { HttpErrors } from '../daemon/base/errors';
import { ROOT, startInProc } from './helpers/daemon';

const read = (p: string) => fs.readFileSync(path.join(ROOT, p), 'utf8');

t.test('every error code is documented', async (t) => {
  const doc = read('docs/errors.md');
  for (const [code, { status }] of Object.entries(HttpErrors)) {
    t.match(doc, new RegExp(`\\| ${status} \\| \`${code}\` \\|`), `${status} ${code}`);
  }
  for (const code of Object.keys(CoreErrorCodes)) t.match(doc, `\`${code}\``, code);
});

t.test('every setting is in the README configuration table', async (t) => {
  const readme = read('README.md');
  for (const f of FIELDS) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${f.key}\` |`));
    t.ok(row, `README has a row for ${f.key}`);
    if (f.flag) t.match(row ?? '', `\`${f.flag}\``, `${f.key} row names ${f.flag}`);
    if (f.env) t.match(row ?? '', `\`${f.env}\``, `${f.key} row names ${f.env}`);
  }
});

t.test('docs/openapi.json is what the daemon serves', async (t) => {
  const { url } = await startInProc(t);
  const served = await (await request(`${url}/openapi.json`)).body.json();
  const committed = JSON.parse(read('docs/openapi.json'));
  t.same(committed, served, 'run `npm run openapi` after changing a route');
});

t.test('every route schema compiles (validators are compiled lazily at run time)', async (t) => {
  const { daemon } = await startInProc(t);
  const { compile } = await import('../daemon/http/validate');
  for (const r of daemon.http.routes) {
    for (const where of ['params', 'query', 'body'] as const) {
      const schema = r[where];
      if (!schema) continue;
      const v = compile(where, schema);
      try { v(where === 'body' ? {} : {}); } catch (e) {
        t.equal((e as { code?: string }).code, 'bad_request', `${r.method} ${r.path} ${where}: only validation errors, no schema errors`);
        continue;
      }
      t.pass(`${r.method} ${r.path} ${where} compiles`);
    }
  }
});

// Client generators (openapi-generator, oapi-codegen, orval) name functions after operationId
// and group them by tag: both documents need one unique id per operation, a description per
// tag, and every registered route in them.
t.test('both OpenAPI documents: unique operationIds, described tags, every route', async (t) => {
  const { daemon, url } = await startInProc(t, ['--admin', 'true', '--admin-port', '0']);
  const admin = daemon.admin!;
  const docs = [
    { name: 'data plane', doc: await (await request(`${url}/openapi.json`)).body.json() as any, routes: daemon.http.routes, wsRoutes: daemon.http.wsRoutes }, // eslint-disable-line @typescript-eslint/no-explicit-any
    { name: 'admin', doc: await (await request(`http://127.0.0.1:${admin.port}/openapi.json`)).body.json() as any, routes: admin.http.routes, wsRoutes: admin.http.wsRoutes }, // eslint-disable-line @typescript-eslint/no-explicit-any
  ];
  for (const { name, doc, routes, wsRoutes } of docs) {
    const ids = new Map<string, string>();
    const usedTags = new Set<string>();
    let ops = 0;
    for (const [p, methods] of Object.entries(doc.paths as Record<string, Record<string, { operationId?: string; tags?: string[] }>>)) {
      for (const [m, op] of Object.entries(methods)) {
        ops++;
        const where = `${name}: ${m.toUpperCase()} ${p}`;
        t.type(op.operationId, 'string', `${where} has an operationId`);
        t.match(op.operationId ?? '', /^[a-z][A-Za-z0-9]*$/, `${where}: operationId ${op.operationId} is a camelCase identifier`);
        t.notOk(ids.has(op.operationId!), `${where}: operationId ${op.operationId} is unique${ids.has(op.operationId!) ? ` (also ${ids.get(op.operationId!)})` : ''}`);
        ids.set(op.operationId!, where);
        for (const tag of op.tags ?? []) usedTags.add(tag);
      }
    }
    const described = new Map((doc.tags as Array<{ name: string; description?: string }>).map((x) => [x.name, x.description]));
    for (const tag of usedTags) t.ok(described.get(tag), `${name}: tag ${tag} has a description`);
    for (const r of routes) {
      const p = r.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
      t.ok(doc.paths[p]?.[r.method], `${name}: ${r.method.toUpperCase()} ${r.path} is in the document`);
    }
    t.ok(wsRoutes.length > 0, `${name}: has a WebSocket route`);
    for (const r of wsRoutes) t.ok(doc.paths[r.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}')]?.get, `${name}: WebSocket ${r.path} is in the document`);
    t.ok(ops >= routes.length + wsRoutes.length, `${name}: ${ops} operations for ${routes.length} routes and ${wsRoutes.length} WebSocket routes`);
  }
  const admDoc = docs[1].doc;
  t.equal(admDoc.paths['/api/v1/clusters/default/enrollment_keys']?.post?.operationId, 'createDefaultClusterEnrollmentKey', 'the reference operation for the default cluster is there');
});

t.test('operationIds: readable derivation, explicit ones win, a clash fails the build', async (t) => {
  const { operationIdOf, assignOperationIds } = await import('../daemon/http/openapi');
  const id = (method: string, path: string, operationId?: string) => operationIdOf({ method: method as 'get', path, operationId });
  t.equal(id('get', '/api/v1/clusters'), 'listClusters');
  t.equal(id('get', '/api/v1/clusters/:name'), 'getCluster');
  t.equal(id('post', '/api/v1/clusters'), 'createCluster');
  t.equal(id('patch', '/api/v1/clusters/:name'), 'updateCluster');
  t.equal(id('delete', '/api/v1/nodes/:id'), 'deleteNode');
  t.equal(id('post', '/api/v1/queue/:namespace/:queue/enqueue'), 'enqueueQueue');
  t.equal(id('get', '/api/v1/kv/:namespace/:key'), 'getKvKey');
  t.equal(id('post', '/api/v1/ts/:namespace/write'), 'writeTs');
  t.equal(id('get', '/api/v1/x', 'mine'), 'mine');
  const route = (path: string) => ({ method: 'get' as const, path, auth: 'public' as const, summary: '', tags: [], responses: {}, handler() {} });
  const paths = { '/metrics': { get: {} }, '/api/v1/metrics': { get: {} } };
  t.throws(() => assignOperationIds(paths, [route('/metrics'), route('/api/v1/metrics')]), /operationId getMetrics .* also/);
});
