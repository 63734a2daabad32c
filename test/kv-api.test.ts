// The Flo KV and namespace API over real HTTP (undici) against an in-process daemon.
import t from 'tap';
import { request } from 'undici';
import { b64, startInProc } from './helpers/daemon';
import { sleep, until } from './helpers/wait';

async function call(url: string, method: string, path: string, body?: unknown) {
  const r = await request(url + path, { method: method as 'GET', body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const text = await r.body.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.statusCode, json, text, headers: r.headers };
}

t.test('put, get, versions, delete', async (t) => {
  const { url } = await startInProc(t);
  let r = await call(url, 'PUT', '/api/v1/kv/app/user:123', { value: b64('hello') });
  t.equal(r.status, 200);
  t.same(r.json, { key: 'user:123', version: 1 });
  r = await call(url, 'GET', '/api/v1/kv/app/user:123');
  t.equal(r.status, 200);
  t.same(r.json, { key: 'user:123', value: b64('hello'), version: 1, ttl_remaining: null });
  r = await call(url, 'PUT', '/api/v1/kv/app/user:123', { value: b64('world') });
  t.same(r.json, { key: 'user:123', version: 2 });
  r = await call(url, 'GET', '/api/v1/kv/app/user:123');
  t.equal(Buffer.from(r.json.value, 'base64').toString(), 'world');
  t.equal(r.json.version, 2);
  r = await call(url, 'DELETE', '/api/v1/kv/app/user:123');
  t.same(r.json, { key: 'user:123', deleted: true, version: 2 });
  r = await call(url, 'GET', '/api/v1/kv/app/user:123');
  t.equal(r.status, 404);
  t.equal(r.json.error, 'not_found');
  t.equal(r.json.key, 'user:123');
  r = await call(url, 'DELETE', '/api/v1/kv/app/user:123');
  t.equal(r.status, 404);
  // After a delete the key starts over at version 1.
  r = await call(url, 'PUT', '/api/v1/kv/app/user:123', { value: b64('again') });
  t.equal(r.json.version, 1);
});

t.test('binary values, empty values and percent-encoded keys round-trip', async (t) => {
  const { url } = await startInProc(t);
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const key = 'dir/sub dir/ü€/x?y#z';
  const path = `/api/v1/kv/bin/${encodeURIComponent(key)}`;
  t.equal((await call(url, 'PUT', path, { value: bytes.toString('base64') })).status, 200);
  const r = await call(url, 'GET', path);
  t.equal(r.json.key, key);
  t.same(Buffer.from(r.json.value, 'base64'), bytes);
  t.equal((await call(url, 'PUT', '/api/v1/kv/bin/empty', { value: '' })).status, 200);
  t.equal((await call(url, 'GET', '/api/v1/kv/bin/empty')).json.value, '');
});

t.test('cas_version and if_not_exists', async (t) => {
  const { url } = await startInProc(t);
  let r = await call(url, 'PUT', '/api/v1/kv/app/c', { value: b64('a'), cas_version: 0 });
  t.equal(r.status, 200, 'cas 0 creates an absent key');
  r = await call(url, 'PUT', '/api/v1/kv/app/c', { value: b64('b'), cas_version: 0 });
  t.equal(r.status, 409);
  t.equal(r.json.error, 'conflict');
  t.equal(r.json.current_version, 1);
  r = await call(url, 'PUT', '/api/v1/kv/app/c', { value: b64('b'), cas_version: 1 });
  t.same(r.json, { key: 'c', version: 2 });
  r = await call(url, 'PUT', '/api/v1/kv/app/c', { value: b64('x'), cas_version: 1 });
  t.equal(r.status, 409);
  t.equal(r.json.current_version, 2);
  r = await call(url, 'PUT', '/api/v1/kv/app/c', { value: b64('x'), if_not_exists: true });
  t.equal(r.status, 409);
  t.equal(r.json.current_version, 2);
  r = await call(url, 'PUT', '/api/v1/kv/app/new', { value: b64('x'), if_not_exists: true });
  t.equal(r.status, 200);
  r = await call(url, 'DELETE', '/api/v1/kv/app/c?cas_version=1');
  t.equal(r.status, 409);
  t.equal(r.json.current_version, 2);
  r = await call(url, 'DELETE', '/api/v1/kv/app/c?cas_version=2');
  t.equal(r.status, 200);
  t.equal((await call(url, 'GET', '/api/v1/kv/app/c')).status, 404, 'nothing half-written by the failed attempts');
});

t.test('ttl: ttl_remaining, expiry hides the key, reaper reclaims it', async (t) => {
  const { url, daemon } = await startInProc(t, [], { OUTPOST_KV_REAP_INTERVAL_MS: '0' });
  let r = await call(url, 'PUT', '/api/v1/kv/app/short', { value: b64('x'), ttl_seconds: 1 });
  t.equal(r.status, 200);
  await call(url, 'PUT', '/api/v1/kv/app/long', { value: b64('y'), ttl_seconds: 3600 });
  r = await call(url, 'GET', '/api/v1/kv/app/long');
  t.ok(r.json.ttl_remaining > 3590 && r.json.ttl_remaining <= 3600, `ttl_remaining ${r.json.ttl_remaining}`);
  r = await call(url, 'GET', '/api/v1/kv/app/short');
  t.equal(r.json.ttl_remaining, 1);
  await sleep(1100); // on purpose: the 1 s TTL runs out (reads take the wall clock)
  t.equal((await call(url, 'GET', '/api/v1/kv/app/short')).status, 404, 'expired key is never returned');
  r = await call(url, 'GET', '/api/v1/kv/app?prefix=');
  t.same(r.json.keys.map((k: { key: string }) => k.key), ['long'], 'scan hides expired keys');
  // An expired key counts as absent for CAS.
  r = await call(url, 'PUT', '/api/v1/kv/app/short', { value: b64('z'), cas_version: 0 });
  t.equal(r.status, 200);
  t.equal(r.json.version, 1);
  await call(url, 'PUT', '/api/v1/kv/app/gone', { value: b64('x'), ttl_seconds: 1 });
  const removed = await daemon.dataPlane.reaper.reapOnce(Date.now() + 1100); // the reaper's clock, 1.1 s on
  t.equal(removed, 1, 'the reaper removed exactly the expired record');
  t.equal(daemon.dataPlane.kv.get('app', 'long')?.version, 1, 'live keys survive the reaper');
  // Overwriting a TTL key with no TTL clears its index entry: the reaper must not delete it later.
  await call(url, 'PUT', '/api/v1/kv/app/keep', { value: b64('x'), ttl_seconds: 1 });
  await call(url, 'PUT', '/api/v1/kv/app/keep', { value: b64('y') });
  await daemon.dataPlane.reaper.reapOnce(Date.now() + 1100);
  r = await call(url, 'GET', '/api/v1/kv/app/keep');
  t.equal(r.status, 200);
  t.equal(r.json.ttl_remaining, null);
});

t.test('prefix scan: sorted across partitions, paged with a cursor', async (t) => {
  const { url } = await startInProc(t, ['--partitions', '4']);
  const keys: string[] = [];
  for (let i = 0; i < 250; i++) keys.push(`user:${String(i).padStart(4, '0')}`);
  for (let i = 0; i < 20; i++) keys.push(`other:${i}`);
  await Promise.all(keys.map((k) => call(url, 'PUT', `/api/v1/kv/scan/${encodeURIComponent(k)}`, { value: b64(k) })));
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const q: string = `/api/v1/kv/scan?prefix=user:&limit=60${cursor ? `&cursor=${cursor}` : ''}`;
    const r = await call(url, 'GET', q);
    t.equal(r.status, 200);
    for (const e of r.json.keys) {
      t.equal(Buffer.from(e.value, 'base64').toString(), e.key);
      seen.push(e.key);
    }
    cursor = r.json.next_cursor;
    pages++;
  } while (cursor && pages < 20);
  t.equal(pages, 5);
  t.same(seen, keys.filter((k) => k.startsWith('user:')).sort(), 'every key once, in order');
  const r = await call(url, 'GET', '/api/v1/kv/scan?prefix=other:&values=false&limit=1000');
  t.equal(r.json.count, 20);
  t.notOk('value' in r.json.keys[0]);
  t.equal((await call(url, 'GET', '/api/v1/kv/scan?limit=0')).status, 400);
  t.equal((await call(url, 'GET', '/api/v1/kv/scan?limit=abc')).json.details.fields[0].field, 'query.limit');
});

t.test('namespaces: list, create, conflicts, unknown namespace', async (t) => {
  const { url } = await startInProc(t);
  let r = await call(url, 'GET', '/api/v1/namespaces');
  t.same(r.json, { namespaces: [] });
  r = await call(url, 'POST', '/api/v1/namespaces', { name: 'myapp' });
  t.equal(r.status, 201);
  t.equal(r.json.name, 'myapp');
  t.match(r.json.created_at, /^\d{4}-\d\d-\d\dT/);
  r = await call(url, 'POST', '/api/v1/namespaces', { name: 'myapp' });
  t.equal(r.status, 409);
  r = await call(url, 'POST', '/api/v1/namespaces', { name: 'bad name!' });
  t.equal(r.status, 400);
  t.equal(r.json.details.fields[0].field, 'body.name');
  r = await call(url, 'GET', '/api/v1/kv/nosuch/k');
  t.equal(r.status, 404);
  t.match(r.json.message, /namespace 'nosuch' does not exist/);
  t.equal((await call(url, 'GET', '/api/v1/kv/nosuch')).status, 404);
  // Documented rule: the first PUT creates the namespace.
  t.equal((await call(url, 'PUT', '/api/v1/kv/auto/k', { value: b64('v') })).status, 200);
  r = await call(url, 'GET', '/api/v1/namespaces');
  t.same(r.json.namespaces.map((n: { name: string }) => n.name), ['auto', 'myapp']);
});

t.test('auto-create can be turned off', async (t) => {
  const { url } = await startInProc(t, [], { OUTPOST_KV_AUTO_CREATE_NAMESPACES: 'false' });
  const r = await call(url, 'PUT', '/api/v1/kv/auto/k', { value: b64('v') });
  t.equal(r.status, 404);
  t.equal(r.json.error, 'not_found');
});

t.test('bad input: 400 with the field at fault, nothing written', async (t) => {
  const { url, daemon } = await startInProc(t, [], { OUTPOST_KV_MAX_VALUE_BYTES: '1024' });
  const cases: Array<[unknown, string]> = [
    [{}, 'body.value'],
    [{ value: 'not base64!' }, 'body.value'],
    [{ value: b64('x'), ttl_seconds: 0 }, 'body.ttl_seconds'],
    [{ value: b64('x'), ttl_seconds: 'soon' }, 'body.ttl_seconds'],
    [{ value: b64('x'), cas_version: -1 }, 'body.cas_version'],
    [{ value: b64('x'), if_not_exists: 'yes' }, 'body.if_not_exists'],
    [{ value: b64('x'), extra: 1 }, 'body.extra'],
    [[1, 2], 'body'],
  ];
  for (const [body, field] of cases) {
    const r = await call(url, 'PUT', '/api/v1/kv/app/k', body);
    t.equal(r.status, 400, JSON.stringify(body));
    t.equal(r.json.error, 'bad_request');
    t.ok(r.json.details.fields.some((f: { field: string }) => f.field === field), `${JSON.stringify(body)} names ${field}: ${r.text}`);
  }
  let r = await call(url, 'PUT', '/api/v1/kv/app/k', '{"value": ');
  t.equal(r.status, 400);
  t.match(r.json.message, /not valid JSON/);
  r = await call(url, 'PUT', '/api/v1/kv/app/k', { value: Buffer.alloc(2000).toString('base64') });
  t.equal(r.status, 413);
  t.equal(r.json.details.field, 'value');
  r = await call(url, 'PUT', `/api/v1/kv/app/${'k'.repeat(1025)}`, { value: b64('x') });
  t.equal(r.status, 400);
  t.equal(r.json.details.fields[0].field, 'params.key');
  r = await call(url, 'PUT', '/api/v1/kv/bad%ZZns/k', { value: b64('x') });
  t.equal(r.status, 400);
  r = await call(url, 'PUT', '/api/v1/kv/-bad/k', { value: b64('x') });
  t.equal(r.status, 400);
  t.equal(r.json.details.fields[0].field, 'params.namespace');
  t.same(daemon.dataPlane.namespaces.list().map((n) => n.name), [], 'rejected requests created no namespace (so wrote no key)');
  t.equal((await call(url, 'PUT', '/api/v1/kv/app/k', { value: b64('ok') })).json.version, 1, 'the first accepted write is version 1');
});

t.test('routing: 404 unknown routes, 405 wrong methods with Allow', async (t) => {
  const { url } = await startInProc(t);
  let r = await call(url, 'GET', '/api/v1/nope');
  t.equal(r.status, 404);
  t.equal(r.json.error, 'not_found');
  r = await call(url, 'POST', '/api/v1/kv/app/k', { value: b64('x') });
  t.equal(r.status, 405);
  t.equal(r.json.error, 'method_not_allowed');
  t.match(String(r.headers.allow), /GET/);
  t.match(String(r.headers.allow), /PUT/);
  t.match(String(r.headers.allow), /DELETE/);
});

t.test('health, healthz, metrics, prometheus, openapi', async (t) => {
  const { url, daemon } = await startInProc(t);
  let r = await call(url, 'GET', '/api/v1/health');
  t.equal(r.status, 200);
  t.equal(r.json.status, 'healthy');
  t.equal(r.json.shard_count, 1, 'one partition by default');
  t.equal(r.json.node_id, daemon.dataPlane.nodeId);
  t.match(r.json.node_id, /^[0-9a-f-]{36}$/);
  t.equal(r.json.backends.uws.backend, 'native', 'the native uWS binary is active');
  t.equal(r.json.backends.lmdb.backend, 'native');
  t.type(r.json.uptime_seconds, 'number');
  r = await call(url, 'GET', '/healthz');
  t.equal(r.status, 200);
  t.equal(r.text, 'ok\n');
  await call(url, 'PUT', '/api/v1/kv/m/a', { value: b64('x') });
  await call(url, 'GET', '/api/v1/kv/m/a');
  r = await call(url, 'GET', '/api/v1/metrics');
  t.equal(r.status, 200);
  t.equal(r.json.ops_total, 2);
  t.equal(r.json.shards.length, 1);
  t.ok(r.json.memory_used_bytes > 1e6);
  for (const k of ['ops_per_second', 'connections_active']) t.type(r.json[k], 'number', k);
  r = await call(url, 'GET', '/metrics');
  t.match(r.headers['content-type'], /text\/plain/);
  t.match(r.text, /outpost_kv_writes_total\{partition="\d"\} 1/);
  r = await call(url, 'GET', '/openapi.json');
  t.equal(r.json.openapi, '3.1.0');
  for (const spec of daemon.http.routes) {
    const p = spec.path.replace(/:([A-Za-z_]+)/g, '{$1}');
    t.ok(r.json.paths[p]?.[spec.method], `openapi documents ${spec.method} ${p}`);
  }
  t.ok(r.json.paths['/api/v1/kv/{namespace}/{key}'].put.requestBody.content['application/json'].schema.properties.cas_version);
});

for (const cache of ['16777216', '0']) {
  t.test(`read-your-writes under concurrent writers (read cache ${cache === '0' ? 'off' : 'on'})`, async (t) => {
    const { url, daemon } = await startInProc(t, [], { OUTPOST_KV_READ_CACHE_BYTES: cache });
    let stale = 0;
    let checks = 0;
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 40; i++) {
        const p = await call(url, 'PUT', '/api/v1/kv/ryw/hot', { value: b64(`w${w}-${i}`) });
        const g = await call(url, 'GET', '/api/v1/kv/ryw/hot');
        checks++;
        if (g.json.version < p.json.version) stale++;
      }
    }));
    t.equal(stale, 0, `${checks} reads after acknowledged writes, none older than the write`);
    const final = await call(url, 'GET', '/api/v1/kv/ryw/hot');
    t.equal(final.json.version, 320, 'every write counted once');
    if (cache !== '0') t.ok(daemon.dataPlane.kv.cache.hits > 0, `${daemon.dataPlane.kv.cache.hits} cache hits`);
    else t.equal(daemon.dataPlane.kv.cache.size, 0, 'nothing cached when off');
  });
}

t.test('the background reaper reclaims expired keys on its own', async (t) => {
  const { url, daemon } = await startInProc(t, [], { OUTPOST_KV_REAP_INTERVAL_MS: '100' });
  for (let i = 0; i < 5; i++) await call(url, 'PUT', `/api/v1/kv/reap/k${i}`, { value: b64('x'), ttl_seconds: 1 });
  await call(url, 'PUT', '/api/v1/kv/reap/keep', { value: b64('y') });
  await until('the background reaper', () => daemon.dataPlane.kv.reaped >= 5, 10_000);
  t.equal(daemon.dataPlane.kv.reaped, 5, 'all five expired records reclaimed without being asked');
  const m = await call(url, 'GET', '/api/v1/metrics');
  t.equal(m.json.keys_reaped_total, 5);
  t.equal((await call(url, 'GET', '/api/v1/kv/reap/keep')).status, 200);
});
