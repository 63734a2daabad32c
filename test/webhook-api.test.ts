// Events.Type and Events.Webhook over real HTTP (the route specs on an HttpServer on a loopback
// port, the admin envelope, the in-memory store): catalog, create/list/get/delete shapes,
// 422 field details, SSRF denials at create time, write-only secret and headers, encryption at rest.
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { HttpServer, prepareKeys } from '../daemon/http';
import { adminEnvelope } from '../daemon/admin/api/envelope';
import { createLogger } from '../daemon/base/log';
import { buildOpenApi } from '../daemon/dataplane/openapi';
import { WEBHOOK_CREATE_SCHEMA } from '../daemon/admin/webhooks/validate';
import { EVENT_TYPES, createWebhooks, type Resolver } from '../daemon/admin/webhooks';
import { MemoryWebhookStore } from './helpers/memory-webhook-store';
import { SecretBox } from '../daemon/security/secret-box';
import { headersContext, secretContext } from '../daemon/admin/webhooks/service';
import { tempDir } from './helpers/daemon';

const SECRET = 'whsec-0123456789abcdef0123456789abcdef';
const HEADER_VALUE = 'Bearer super-secret-token-value';

/** A resolver for names the tests use (no real DNS): public.test is public, private.test is RFC 1918. */
const resolver: Resolver = async (host) => {
  if (host === 'public.test' || host === 'hooks.example.test') return [{ address: '93.184.215.14', family: 4 }];
  if (host === 'private.test') return [{ address: '10.1.2.3', family: 4 }];
  if (host === 'mixed.test') return [{ address: '93.184.215.14', family: 4 }, { address: '::1', family: 6 }];
  if (host === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
  throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

t.test('the route specs document themselves with the schema that validates (OpenAPI)', async (t) => {
  const store = new MemoryWebhookStore();
  const wh = createWebhooks({ allowPrivateIps: false, maxAttempts: 3, dataDir: tempDir(t), adminId: 'a' }, { webhooks: store, deliveries: store, outbox: store });
  t.teardown(() => wh.dispatcher.close());
  const doc = buildOpenApi(wh.routes) as any;
  t.same(Object.keys(doc.paths).filter((p) => p !== '/api/v1/ws').sort(), ['/api/v1/event_types', '/api/v1/webhooks', '/api/v1/webhooks/{id}', '/api/v1/webhooks/{id}/deliveries']);
  t.same(Object.keys(doc.paths['/api/v1/webhooks']).sort(), ['get', 'post']);
  t.same(Object.keys(doc.paths['/api/v1/webhooks/{id}']).sort(), ['delete', 'get']);
  t.equal(doc.paths['/api/v1/webhooks'].post.requestBody.content['application/json'].schema, WEBHOOK_CREATE_SCHEMA);
  t.ok(doc.paths['/api/v1/webhooks'].post.responses['422'], '422 documented');
  t.ok(doc.paths['/api/v1/webhooks'].get.parameters.some((p: any) => p.name === 'inserted_at__gte'), 'filters documented');
});

interface Api { url: string; store: MemoryWebhookStore; dataDir: string; call: (method: string, p: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; text: string; json: any; headers: Record<string, unknown> }> }

async function startApi(t: Test, opts: { allowPrivate?: boolean; masterKey?: string; apiKey?: string } = {}): Promise<Api> {
  const dataDir = tempDir(t, 'outpost-webhooks-');
  const store = new MemoryWebhookStore();
  const wh = createWebhooks(
    { allowPrivateIps: opts.allowPrivate ?? false, maxAttempts: 3, masterKey: opts.masterKey, dataDir, adminId: 'test-admin' },
    { webhooks: store, deliveries: store, outbox: store, resolve: resolver },
  );
  const server = new HttpServer({ maxBodyBytes: 1 << 20, maxInflight: 100, keys: prepareKeys(opts.apiKey), log: createLogger('silent'), envelope: adminEnvelope });
  for (const r of wh.routes) server.add(r);
  server.finish();
  const port = await server.listen('127.0.0.1', 0);
  server.state = 'ready';
  t.teardown(async () => { await server.close(1000); await wh.dispatcher.close(); });
  const url = `http://127.0.0.1:${port}`;
  const auth = opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {};
  return {
    url, store, dataDir,
    async call(method, p, body, headers = {}) {
      const r = await request(url + p, {
        method: method as 'GET', headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await r.body.text();
      return { status: r.statusCode, text, json: text ? JSON.parse(text) : undefined, headers: r.headers };
    },
  };
}

const valid = (over: Record<string, unknown> = {}) => ({
  url: 'https://hooks.example.test/edge-events',
  secret: SECRET,
  headers: { Authorization: HEADER_VALUE, 'X-Custom': 'custom-value-42' },
  subscribed_events: ['edge.node.registered', 'edge.command_execution.completed'],
  ...over,
});

t.test('event catalog: the 15 types in catalog order, in the envelope, x-request-id mirrored', async (t) => {
  const api = await startApi(t, { apiKey: 'k-api-0123456789' });
  const r = await api.call('GET', '/api/v1/event_types', undefined, { 'x-request-id': 'req-abc-1' });
  t.equal(r.status, 200);
  t.equal(r.json.data.length, 15);
  t.same(r.json.data, EVENT_TYPES);
  t.equal(r.json.data[0], 'edge.enrollment_key.verified');
  t.equal(r.json.data[14], 'edge.self_update_request.completed');
  t.equal(r.json.meta.request_id, 'req-abc-1');
  t.equal(r.headers['x-request-id'], 'req-abc-1');
  t.ok(!Number.isNaN(Date.parse(r.json.meta.timestamp)));
  const anon = await request(`${api.url}/api/v1/event_types`);
  t.equal(anon.statusCode, 401, 'the API key is required');
  await anon.body.dump();
});

t.test('create, get, list, delete: secret and header values are never returned', async (t) => {
  const api = await startApi(t);
  const c = await api.call('POST', '/api/v1/webhooks', valid());
  t.equal(c.status, 201, c.text);
  t.same(Object.keys(c.json.data).sort(), ['id', 'inserted_at', 'subscribed_events', 'updated_at', 'url']);
  t.match(c.json.data.id, /^[0-9a-f-]{36}$/);
  t.equal(c.json.data.url, 'https://hooks.example.test/edge-events');
  t.same(c.json.data.subscribed_events, ['edge.node.registered', 'edge.command_execution.completed']);
  t.equal(c.json.data.inserted_at, c.json.data.updated_at);
  t.ok(c.json.meta.request_id);
  const id = c.json.data.id;
  const g = await api.call('GET', `/api/v1/webhooks/${id}`);
  t.equal(g.status, 200);
  t.same(g.json.data, c.json.data);
  const l = await api.call('GET', '/api/v1/webhooks');
  t.equal(l.status, 200);
  t.same(l.json.data, [c.json.data]);
  t.same(l.json.meta.pagination, { page: 1, page_size: 20, total_count: 1, total_pages: 1, has_next: false, has_prev: false, next_page: null, prev_page: null });
  for (const r of [c, g, l]) {
    for (const secret of [SECRET, HEADER_VALUE, 'custom-value-42', 'Authorization', 'X-Custom']) t.notOk(r.text.includes(secret), `response does not contain ${secret}`);
    t.notOk(/secret|headers/.test(r.text), 'no secret or headers field at all');
  }
  const d = await api.call('DELETE', `/api/v1/webhooks/${id}`);
  t.equal(d.status, 204);
  t.equal(d.text, '');
  const gone = await api.call('GET', `/api/v1/webhooks/${id}`);
  t.equal(gone.status, 404);
  t.same(gone.json.error, { code: 'not_found', message: 'Resource not found' });
  t.equal((await api.call('DELETE', `/api/v1/webhooks/${id}`)).status, 404);
  const bad = await api.call('GET', '/api/v1/webhooks/not-a-uuid');
  t.equal(bad.status, 400);
  t.same(bad.json.error.details, { id: ['must be a UUID'] });
  const noRoute = await api.call('PATCH', `/api/v1/webhooks/${id}`, { url: 'https://x.test/' });
  t.equal(noRoute.status, 405, 'webhooks are immutable: no update route');
});

t.test('secret and headers are encrypted at rest (AES-256-GCM, bound to their row)', async (t) => {
  const api = await startApi(t);
  const c = await api.call('POST', '/api/v1/webhooks', valid());
  const id = c.json.data.id as string;
  const raw = api.store.webhookRows.get(id)!;
  t.ok(raw, 'the stored row');
  for (const plain of [SECRET, HEADER_VALUE, 'custom-value-42', 'X-Custom']) t.notOk(raw.includes(plain), `stored bytes do not contain ${plain}`);
  const row = JSON.parse(raw);
  t.match(row.secret_enc, /^v1:[0-9a-f]{8}:[A-Za-z0-9+/=]+$/);
  t.match(row.headers_enc, /^v1:[0-9a-f]{8}:/);
  // No MASTER_KEY: the key lives in data_dir/admin/secret.key, 32 bytes, mode 0600.
  const keyFile = path.join(api.dataDir, 'admin', 'secret.key');
  const st = fs.statSync(keyFile);
  t.equal(st.size, 32);
  t.equal(st.mode & 0o777, 0o600, 'secret.key is 0600');
  t.equal(fs.statSync(path.dirname(keyFile)).mode & 0o777, 0o700, 'admin/ is 0700');
  const box = SecretBox.open({ dataDir: api.dataDir });
  t.equal(box.open(row.secret_enc, secretContext(id)), SECRET, 'decrypts with the same key');
  t.same(JSON.parse(box.open(row.headers_enc, headersContext(id))), { Authorization: HEADER_VALUE, 'X-Custom': 'custom-value-42' });
  // Bound to its row and field: another row's context, or the other field's, does not open it.
  t.throws(() => box.open(row.secret_enc, secretContext('00000000-0000-0000-0000-000000000000')), /failed authentication/);
  t.throws(() => box.open(row.secret_enc, headersContext(id)), /failed authentication/);
  // Tampering is detected.
  const b = Buffer.from(row.secret_enc.split(':')[2], 'base64');
  b[14] ^= 1;
  t.throws(() => box.open(`v1:${box.keyId}:${b.toString('base64')}`, secretContext(id)), /failed authentication/);
  // Another key says so clearly.
  const other = SecretBox.open({ masterKey: 'another-master-key', dataDir: api.dataDir });
  t.throws(() => other.open(row.secret_enc, secretContext(id)), /encrypted under another key/);
  // No headers → nothing stored for them.
  const c2 = await api.call('POST', '/api/v1/webhooks', valid({ headers: undefined }));
  t.equal(JSON.parse(api.store.webhookRows.get(c2.json.data.id)!).headers_enc, null);
});

t.test('MASTER_KEY: the key is derived (HKDF), no key file, the same on every admin sharing it', async (t) => {
  const api = await startApi(t, { masterKey: 'master-key-for-tests-0123456789' });
  const c = await api.call('POST', '/api/v1/webhooks', valid());
  t.equal(c.status, 201);
  t.notOk(fs.existsSync(path.join(api.dataDir, 'admin', 'secret.key')), 'no key file with MASTER_KEY');
  const row = JSON.parse(api.store.webhookRows.get(c.json.data.id)!);
  const elsewhere = SecretBox.open({ masterKey: 'master-key-for-tests-0123456789', dataDir: tempDir(t) });
  t.equal(elsewhere.open(row.secret_enc, secretContext(c.json.data.id)), SECRET, 'another admin with the same MASTER_KEY decrypts');
  t.not(SecretBox.open({ masterKey: 'x', dataDir: api.dataDir }).keyId, elsewhere.keyId);
});

t.test('create validation: 422 with the field at fault', async (t) => {
  const api = await startApi(t);
  const cases: Array<[string, unknown, Record<string, RegExp>]> = [
    ['unknown event type', valid({ subscribed_events: ['edge.node.registered', 'edge.node.exploded'] }), { subscribed_events: /unknown event type 'edge.node.exploded'/ }],
    ['wildcard', valid({ subscribed_events: ['edge.node.*'] }), { subscribed_events: /wildcards are not supported/ }],
    ['catch-all wildcard', valid({ subscribed_events: ['*'] }), { subscribed_events: /wildcards are not supported/ }],
    ['empty subscription list', valid({ subscribed_events: [] }), { subscribed_events: /at least 1/ }],
    ['missing everything', {}, { url: /can't be blank/, secret: /can't be blank/, subscribed_events: /can't be blank/ }],
    ['short secret', valid({ secret: 'too-short' }), { secret: /at least 32/ }],
    ['not http(s)', valid({ url: 'ftp://hooks.example.test/x' }), { url: /http/ }],
    ['javascript: scheme', valid({ url: 'javascript:alert(1)' }), { url: /http/ }],
    ['credentials in URL', valid({ url: 'https://user:pw@hooks.example.test/x' }), { url: /credentials/ }],
    ['21 headers', valid({ headers: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`X-H${i}`, 'v'])) }), { headers: /at most 20/ }],
    ['header value too long', valid({ headers: { 'X-Big': 'a'.repeat(4097) } }), { headers: /at most 4096/ }],
    ['non-string header value', valid({ headers: { 'X-Num': 5 } }), { headers: /must be a string/ }],
    ['reserved header', valid({ headers: { 'X-Edge-Signature': 'sha256=forged' } }), { headers: /cannot be overridden/ }],
    ['content-type header', valid({ headers: { 'Content-Type': 'text/plain' } }), { headers: /cannot be overridden/ }],
    ['bad header name', valid({ headers: { 'Bad Header': 'x' } }), { headers: /not a valid header name/ }],
    ['header injection', valid({ headers: { 'X-A': 'ok\r\nX-Injected: 1' } }), { headers: /line break/ }],
    ['unknown field', valid({ enabled: true }), { enabled: /not a known field/ }],
    ['wrong type', valid({ subscribed_events: 'edge.node.registered' }), { subscribed_events: /must be an? array/ }],
  ];
  for (const [name, body, fields] of cases) {
    const r = await api.call('POST', '/api/v1/webhooks', body);
    t.equal(r.status, 422, `${name}: 422 (${r.text})`);
    t.equal(r.json.error.code, 'validation_failed', name);
    t.equal(r.json.error.message, 'Validation failed', name);
    for (const [field, re] of Object.entries(fields)) t.match(r.json.error.details[field]?.join(' | '), re, `${name}: details.${field}`);
  }
  const notJson = await api.call('POST', '/api/v1/webhooks', '{"url": ');
  t.equal(notJson.status, 400);
  t.equal(notJson.json.error.code, 'bad_request');
  t.match(notJson.json.error.details.body[0], /not valid JSON/);
  t.equal(api.store.webhookRows.size, 0, 'nothing was created');
});

t.test('SSRF at create time: private, loopback, metadata and obfuscated targets are denied', async (t) => {
  const api = await startApi(t);
  const denied = [
    'http://127.0.0.1/', 'http://10.0.0.1/', 'http://169.254.169.254/latest/meta-data/', 'http://metadata.google.internal/computeMetadata/v1/',
    'http://[::1]/', 'http://0x7f.1/', 'http://2130706433/', 'http://0177.0.0.1/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:a9fe:a9fe]/',
    'http://100.64.0.1/', 'http://172.16.5.4/', 'http://192.168.1.1/', 'http://0.0.0.0/', 'http://[fd00:ec2::254]/', 'http://[fc00::1]/',
    'http://[fe80::1]/', 'http://localhost:8080/', 'http://api.localhost/', 'http://METADATA.GOOGLE.INTERNAL./', 'http://private.test/',
    'http://mixed.test/', 'http://[64:ff9b::7f00:1]/', 'http://224.0.0.1/', 'http://does-not-resolve.test/',
  ];
  for (const url of denied) {
    const r = await api.call('POST', '/api/v1/webhooks', valid({ url }));
    t.equal(r.status, 422, `${url} denied`);
    t.ok(r.json?.error?.details?.url?.length, `${url}: details.url says why (${r.json?.error?.details?.url})`);
  }
  t.equal(api.store.webhookRows.size, 0);
  t.equal((await api.call('POST', '/api/v1/webhooks', valid({ url: 'https://public.test/hook' }))).status, 201, 'a public target is fine');
});

t.test('WEBHOOK_ALLOW_PRIVATE_IPS allows private targets, never metadata', async (t) => {
  const api = await startApi(t, { allowPrivate: true });
  for (const url of ['http://127.0.0.1:9/', 'http://10.0.0.1/', 'http://[::1]:8080/', 'http://localhost/', 'http://private.test/']) {
    const r = await api.call('POST', '/api/v1/webhooks', valid({ url }));
    t.equal(r.status, 201, `${url} allowed (${r.text})`);
  }
  for (const url of ['http://169.254.169.254/', 'http://metadata.google.internal/', 'http://[fd00:ec2::254]/', 'http://[::ffff:169.254.169.254]/', 'http://224.0.0.1/']) {
    const r = await api.call('POST', '/api/v1/webhooks', valid({ url }));
    t.equal(r.status, 422, `${url} still denied`);
  }
});

t.test('list: pagination, filters, ordering, and 400 for bad parameters', async (t) => {
  const api = await startApi(t);
  const ids: string[] = [];
  const urls = ['https://public.test/a', 'https://public.test/b', 'https://hooks.example.test/c', 'https://public.test/d/x'];
  for (const [i, url] of urls.entries()) {
    const events = i % 2 === 0 ? ['edge.node.registered'] : ['edge.node.status_changed', 'edge.command_execution.completed'];
    const r = await api.call('POST', '/api/v1/webhooks', valid({ url, subscribed_events: events }));
    ids.push(r.json.data.id);
    await new Promise((r) => setTimeout(r, 3)); // distinct inserted_at
  }
  let r = await api.call('GET', '/api/v1/webhooks?page_size=3');
  t.same(r.json.data.map((w: any) => w.url), urls.slice(0, 3), 'inserted_at ascending by default');
  t.same(r.json.meta.pagination, { page: 1, page_size: 3, total_count: 4, total_pages: 2, has_next: true, has_prev: false, next_page: 2, prev_page: null });
  r = await api.call('GET', '/api/v1/webhooks?page_size=3&page=2');
  t.same(r.json.data.map((w: any) => w.id), [ids[3]]);
  t.same(r.json.meta.pagination, { page: 2, page_size: 3, total_count: 4, total_pages: 2, has_next: false, has_prev: true, next_page: null, prev_page: 1 });
  r = await api.call('GET', '/api/v1/webhooks?order_by=url&order_directions=desc');
  t.same(r.json.data.map((w: any) => w.url), [...urls].sort().reverse());
  r = await api.call('GET', '/api/v1/webhooks?url=https://public.test/*');
  t.equal(r.json.data.length, 3, 'prefix wildcard');
  r = await api.call('GET', '/api/v1/webhooks?url=*/c');
  t.same(r.json.data.map((w: any) => w.url), ['https://hooks.example.test/c'], 'suffix wildcard');
  r = await api.call('GET', '/api/v1/webhooks?url=*example*');
  t.equal(r.json.data.length, 1, 'substring wildcard');
  r = await api.call('GET', '/api/v1/webhooks?url=https://public.test/a');
  t.same(r.json.data.map((w: any) => w.id), [ids[0]], 'exact');
  r = await api.call('GET', '/api/v1/webhooks?event_type=edge.command_execution.completed');
  t.same(r.json.data.map((w: any) => w.id), [ids[1], ids[3]]);
  const today = new Date().toISOString().slice(0, 10);
  r = await api.call('GET', `/api/v1/webhooks?inserted_at__gte=${today}&inserted_at__lte=${today}`);
  t.equal(r.json.data.length, 4, 'date-only bounds cover the whole UTC day');
  r = await api.call('GET', '/api/v1/webhooks?inserted_at__lte=2000-01-01');
  t.equal(r.json.data.length, 0);
  const mid = (await api.call('GET', `/api/v1/webhooks/${ids[2]}`)).json.data.inserted_at;
  r = await api.call('GET', `/api/v1/webhooks?updated_at__gte=${encodeURIComponent(mid)}`);
  t.same(r.json.data.map((w: any) => w.id), [ids[2], ids[3]], 'datetime bound is inclusive');
  for (const [q, field] of [
    ['page_size=0', 'page_size'], ['page_size=101', 'page_size'], ['page=abc', 'page'], ['order_by=secret', 'order_by'],
    ['order_directions=up', 'order_directions'], ['inserted_at__gte=yesterday', 'inserted_at__gte'], ['inserted_at__gte=2024-02-30', 'inserted_at__gte'],
    ['event_type=edge.nope', 'event_type'], ['urll=x', 'urll'],
  ]) {
    const bad = await api.call('GET', `/api/v1/webhooks?${q}`);
    t.equal(bad.status, 400, `${q} → 400`);
    t.equal(bad.json.error.code, 'bad_request');
    t.ok(bad.json.error.details[field], `${q}: details.${field}`);
  }
});
