// WebSocket routes go through the HTTP wrapper (HttpServer.ws()): a refused upgrade — bad or
// missing token, metrics-only token, invalid params, starting or draining — is answered with the
// very body an HTTP route of the same listener gives (bare or enveloped), a route's own
// authenticator (the tunnel's node token) is awaited, and an exception in the upgrade or in a
// socket handler is contained (500 / close 1011) while the server keeps serving. Real uWS servers
// and real daemons on port 0; raw HTTP upgrade requests so that refusals can be read.
import http from 'node:http';
import t, { type Test } from 'tap';
import { request, WebSocket } from 'undici';
import { HttpError } from '../daemon/base/errors';
import { createLogger } from '../daemon/base/log';
import { HttpServer, prepareKeys, type Envelope, type RouteSpec } from '../daemon/http';
import { adminEnvelope } from '../daemon/admin/api/envelope';
import { startInProc } from './helpers/daemon';

const log = createLogger('silent');
const KEY = 'ws-route-api-key';
const METRICS = 'ws-route-metrics-key';

interface Answer { status: number; type: string; body: string }

/** A raw WebSocket upgrade request: 101 (socket closed at once) or the refusal with its body. */
function upgrade(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path, agent: false,
      headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); resolve({ status: res.statusCode ?? 0, type: '', body: '' }); });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer to the upgrade')));
    req.end();
  });
}

async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await request(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: r.statusCode, type: String(r.headers['content-type']), body: await r.body.text() };
}

/** The enveloped body without its per-request timestamp. */
const sansTime = (body: string) => { const j = JSON.parse(body); delete j.meta?.timestamp; return j; };

const ok = (path: string, extra: Partial<RouteSpec> = {}): RouteSpec => ({
  method: 'get', path, auth: 'api', summary: path, tags: ['test'], responses: { 200: { description: 'ok' } },
  handler(_req, res) { res.json(200, { ok: true }); }, ...extra,
});

interface Served { http: HttpServer; port: number; refused: number[]; principals: string[] }

/** An HTTP route and a WebSocket route of each kind on one listener. */
async function serve(t: Test, envelope?: Envelope): Promise<Served> {
  const s = new HttpServer({ maxBodyBytes: 1 << 20, maxInflight: 100, keys: prepareKeys(KEY, undefined, METRICS), log, envelope });
  const refused: number[] = [];
  const principals: string[] = [];
  const params = { type: 'object', properties: { n: { type: 'integer', minimum: 1 } } };
  s.add(ok('/thing'));
  s.add(ok('/thing/:n', { params }));
  s.ws({ path: '/ws', auth: 'api', summary: 'ws', tags: ['test'], responses: {}, upgrade: (req) => ({ scope: req.scope }), refused: (status) => refused.push(status) });
  s.ws({ path: '/ws/:n', auth: 'api', params, summary: 'ws n', tags: ['test'], responses: {}, upgrade: () => ({}) });
  s.ws({
    path: '/node', summary: 'own authenticator', tags: ['test'], responses: {},
    auth: {
      scheme: 'nodeToken', description: 'a node token',
      authenticate: async (req) => {
        await new Promise((r) => setImmediate(r)); // answered after the uWS callback returned
        if (req.headers.authorization !== 'Bearer node-1') throw new HttpError('unauthorized', 'invalid node token', { header: 'authorization' });
        return 'node-1';
      },
    },
    upgrade: (_req, principal: string) => { principals.push(principal); return { principal }; },
    refused: (status) => refused.push(status),
  });
  s.ws({ path: '/boom/upgrade', auth: 'public', summary: 'b', tags: ['test'], responses: {}, upgrade: () => { throw new TypeError('upgrade boom'); } });
  s.ws({ path: '/boom/late', auth: 'public', summary: 'b', tags: ['test'], responses: {}, upgrade: async () => { await new Promise((r) => setImmediate(r)); throw new TypeError('late upgrade boom'); } });
  s.ws({
    path: '/boom/auth', summary: 'b', tags: ['test'], responses: {},
    auth: { scheme: 'x', description: 'x', authenticate: () => { throw new TypeError('authenticator boom'); } },
    upgrade: () => ({}),
  });
  s.ws({ path: '/boom/open', auth: 'public', summary: 'b', tags: ['test'], responses: {}, upgrade: () => ({}), open: () => { throw new TypeError('open boom'); } });
  s.ws({
    path: '/boom/close', auth: 'public', summary: 'b', tags: ['test'], responses: {}, upgrade: () => ({}),
    message: (ws) => { ws.end(1000, 'bye'); },
    close: () => { throw new TypeError('close boom'); },
  });
  s.ws({ path: '/boom/message-async', auth: 'public', summary: 'b', tags: ['test'], responses: {}, upgrade: () => ({}), message: (ws) => { ws.send('pong'); return Promise.reject(new TypeError('async boom')) as unknown as void; } });
  s.add(ok('/public', { auth: 'public' }));
  s.finish();
  const port = await s.listen('127.0.0.1', 0);
  s.state = 'ready';
  t.teardown(() => s.close(0));
  return { http: s, port, refused, principals };
}

const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

t.test('a refused upgrade gets the body an HTTP route of the listener gives (bare bodies)', async (t) => {
  t.setTimeout(30_000);
  const { http: s, port, refused } = await serve(t);
  const same = async (what: string, wsPath: string, httpPath: string, headers: Record<string, string>, status: number) => {
    const w = await upgrade(port, wsPath, headers);
    const h = await get(port, httpPath, headers);
    t.equal(w.status, status, `${what}: upgrade answered ${status}`);
    t.equal(h.status, status, `${what}: HTTP answered ${status}`);
    t.match(w.type, /^application\/json/, `${what}: JSON`);
    t.same(JSON.parse(w.body), JSON.parse(h.body), `${what}: same body as HTTP (${w.body})`);
  };
  await same('no token', '/ws', '/thing', {}, 401);
  await same('a wrong token', '/ws', '/thing', bearer('nope'), 401);
  await same('the metrics token', '/ws', '/thing', bearer(METRICS), 403);
  await same('invalid params', '/ws/0', '/thing/0', bearer(KEY), 400);
  t.equal((await upgrade(port, '/ws', bearer(KEY))).status, 101, 'the API key opens it');
  t.equal((await upgrade(port, '/ws/3', bearer(KEY))).status, 101, 'valid params open it');
  s.state = 'starting';
  await same('starting', '/ws', '/thing', bearer(KEY), 503);
  s.state = 'draining';
  await same('draining', '/ws', '/thing', bearer(KEY), 503);
  s.state = 'ready';
  t.same(refused, [401, 401, 403, 503, 503], 'refusals of /ws reported to the route (not its 101)');
  t.equal(s.inflight, 0, 'every upgrade request was accounted for');
});

t.test('the same under an envelope (the admin listener), and a route with its own authenticator', async (t) => {
  t.setTimeout(30_000);
  const { http: s, port, refused, principals } = await serve(t, adminEnvelope);
  const rid = { 'x-request-id': 'req-1' };
  for (const [what, headers, status] of [['no token', {}, 401], ['a wrong token', bearer('nope'), 401], ['the metrics token', bearer(METRICS), 403]] as const) {
    const w = await upgrade(port, '/ws', { ...headers, ...rid });
    const h = await get(port, '/thing', { ...headers, ...rid });
    t.equal(w.status, status, `${what}: ${status}`);
    t.same(sansTime(w.body), sansTime(h.body), `${what}: the envelope's body, as over HTTP (${w.body})`);
  }
  s.state = 'draining';
  const w = await upgrade(port, '/node', { ...bearer('node-1'), ...rid });
  const h = await get(port, '/thing', { ...bearer(KEY), ...rid });
  t.equal(w.status, 503, 'draining: the authenticated route is refused too');
  t.same(sansTime(w.body), sansTime(h.body), 'with the HTTP body');
  t.equal(JSON.parse(w.body).error.code, 'service_unavailable');
  s.state = 'ready';

  const bad = await upgrade(port, '/node', bearer(KEY));
  t.equal(bad.status, 401, "the listener's keys do not open a route with its own authenticator");
  t.same(JSON.parse(bad.body).error, { code: 'unauthorized', message: 'invalid node token', details: { header: 'authorization' } }, "the authenticator's error, enveloped");
  t.equal((await upgrade(port, '/node', bearer('node-1'))).status, 101, 'its credential opens it (checked after the uWS callback)');
  t.same(principals, ['node-1'], 'upgrade() got what the authenticator resolved');
  t.same(refused, [401, 401, 403, 503, 401], 'each route reported its refusals (/ws three, /node two), never a 101');
  t.equal(s.inflight, 0);
});

t.test('a throwing upgrade, authenticator or socket handler is contained', async (t) => {
  t.setTimeout(30_000);
  const { http: s, port } = await serve(t);
  for (const path of ['/boom/upgrade', '/boom/late', '/boom/auth']) {
    const r = await upgrade(port, path);
    t.equal(r.status, 500, `${path}: 500`);
    t.same(JSON.parse(r.body), { error: 'internal', message: 'internal server error', details: {} }, `${path}: the internal error body, nothing leaked`);
  }
  const base = `ws://127.0.0.1:${port}`;
  const closeCode = (ws: WebSocket) => new Promise<number>((resolve) => ws.addEventListener('close', (ev) => resolve(ev.code)));
  const opened = new WebSocket(`${base}/boom/open`);
  t.equal(await closeCode(opened), 1011, 'open threw: the socket is closed with 1011');

  const c = new WebSocket(`${base}/boom/close`);
  await new Promise((resolve, reject) => { c.addEventListener('open', resolve); c.addEventListener('error', reject); });
  const cc = closeCode(c);
  c.send('x');
  t.equal(await cc, 1000, 'a close handler that throws does not disturb the close');

  const m = new WebSocket(`${base}/boom/message-async`);
  await new Promise((resolve, reject) => { m.addEventListener('open', resolve); m.addEventListener('error', reject); });
  for (let i = 0; i < 2; i++) {
    const pong = new Promise<string>((resolve) => m.addEventListener('message', (ev) => resolve(String(ev.data)), { once: true }));
    m.send('ping');
    t.equal(await pong, 'pong', `a rejected promise from message is logged, the socket carries on (${i + 1})`);
  }
  m.close();
  t.equal((await get(port, '/public')).status, 200, 'HTTP still serving');
  t.equal((await upgrade(port, '/ws', bearer(KEY))).status, 101, 'upgrades still served');
  t.equal(s.inflight, 0, 'every upgrade request was accounted for');
});

t.test('upgrades count in the request histogram of their route', async (t) => {
  const { http: s, port } = await serve(t);
  const before = s.httpMetrics.total();
  await upgrade(port, '/ws', bearer(KEY));
  await upgrade(port, '/ws');
  t.equal(s.httpMetrics.total(), before + 2, 'the 101 and the 401');
});

t.test('real daemon: the data-plane WebSocket and the agent tunnel answer like their listeners', async (t) => {
  t.setTimeout(60_000);
  const { daemon } = await startInProc(t, ['--admin', 'true', '--admin-port', '0'], { API_KEY: KEY, METRICS_KEY: METRICS });
  const agentPort = daemon.port;
  const admin = daemon.admin!;
  const code = (a: Answer) => JSON.parse(a.body).error;

  // Data plane: bare bodies. The upgrade's 401 adds where a browser puts its token.
  const w401 = await upgrade(agentPort, '/api/v1/ws', bearer('nope'));
  const h401 = await get(agentPort, '/api/v1/namespaces', bearer('nope'));
  t.equal(w401.status, 401);
  t.equal(code(w401), code(h401), 'same code as HTTP: unauthorized');
  t.same(JSON.parse(w401.body).details, JSON.parse(h401.body).details, 'same details');
  t.match(JSON.parse(w401.body).message, /\?token=/, 'the message names ?token= for browsers');
  const w403 = await upgrade(agentPort, '/api/v1/ws', bearer(METRICS));
  t.same([w403.status, w403.body], [403, (await get(agentPort, '/api/v1/namespaces', bearer(METRICS))).body], 'the metrics token: the same 403 as HTTP');
  t.equal((await upgrade(agentPort, `/api/v1/ws?token=${KEY}`)).status, 101, '?token= opens it');
  daemon.http.state = 'draining';
  const wd = await upgrade(agentPort, '/api/v1/ws', bearer(KEY));
  const hd = await get(agentPort, '/api/v1/namespaces', bearer(KEY));
  daemon.http.state = 'ready';
  t.same([wd.status, JSON.parse(wd.body)], [503, JSON.parse(hd.body)], 'draining: the HTTP 503 body');

  // Admin: the tunnel's own authenticator, the Edge Admin envelope.
  const rid = { 'x-request-id': 'ws-route-1' };
  const tw = await upgrade(admin.port, '/api/v1/agent/tunnel', { ...bearer('not-a-node-token'), ...rid });
  const th = await get(admin.port, '/api/v1/nodes', { ...bearer('not-a-key'), ...rid });
  t.equal(tw.status, 401);
  t.equal(JSON.parse(tw.body).error.code, JSON.parse(th.body).error.code, 'same code as an admin route: unauthorized');
  t.same(Object.keys(JSON.parse(tw.body)).sort(), Object.keys(JSON.parse(th.body)).sort(), 'the envelope: error and meta');
  t.equal(JSON.parse(tw.body).meta.request_id, 'ws-route-1', 'the request id is echoed');
  t.match(JSON.parse(tw.body).error.message, /invalid node api_token/);
  admin.http.state = 'draining';
  const aw = await upgrade(admin.port, '/api/v1/agent/tunnel', { ...bearer('whatever'), ...rid });
  const ah = await get(admin.port, '/api/v1/nodes', { ...bearer(KEY), ...rid });
  admin.http.state = 'ready';
  t.same([aw.status, sansTime(aw.body)], [503, sansTime(ah.body)], 'admin draining: the same enveloped 503');

  // Both documents describe their WebSocket routes.
  const dp = await (await request(`http://127.0.0.1:${agentPort}/openapi.json`, { headers: bearer(KEY) })).body.json() as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  t.equal(dp.paths['/api/v1/ws']?.get?.operationId, 'openWebSocket');
  const ad = await (await request(`http://127.0.0.1:${admin.port}/openapi.json`, { headers: bearer(KEY) })).body.json() as any; // eslint-disable-line @typescript-eslint/no-explicit-any
  const tunnel = ad.paths['/api/v1/agent/tunnel']?.get;
  t.equal(tunnel?.operationId, 'openAgentTunnel');
  t.same(tunnel?.security, [{ nodeToken: [] }], 'secured by the node token scheme');
  t.ok(ad.components.securitySchemes.nodeToken, 'which the document defines');
});
