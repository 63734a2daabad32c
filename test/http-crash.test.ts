// An exception anywhere while answering a request — a handler (sync or async), the error
// builder of an envelope, a value that cannot be serialised, a WebSocket handler — is logged and
// answered 500 (or the socket closed 1011) and the process keeps serving. Real uWS servers on
// port 0 with routes that fail on purpose; tap fails the test on any uncaught exception.
import t, { type Test } from 'tap';
import { request, WebSocket } from 'undici';
import { HttpError } from '../daemon/base/errors';
import { HttpServer, prepareKeys, type Envelope, type RouteSpec } from '../daemon/http';
import { createLogger } from '../daemon/base/log';

const log = createLogger('silent');
const route = (path: string, handler: RouteSpec['handler'], extra: Partial<RouteSpec> = {}): RouteSpec => ({
  method: 'get', path, auth: 'public', summary: path, tags: ['test'], responses: { 200: { description: 'ok' } }, handler, ...extra,
});

async function serve(t: Test, envelope?: Envelope): Promise<{ http: HttpServer; base: string }> {
  const http = new HttpServer({ maxBodyBytes: 1 << 20, maxInflight: 100, keys: prepareKeys(undefined, undefined), log, envelope });
  http.add(route('/sync', () => { throw new TypeError('boom'); }));
  http.add(route('/async', async () => { await new Promise((r) => setTimeout(r, 5)); throw new TypeError('late boom'); }));
  http.add(route('/bigint', (_req, res) => { res.json(200, { n: 1n }); }));
  http.add(route('/late-bigint', async (_req, res) => { await new Promise((r) => setTimeout(r, 5)); res.json(200, { n: 1n }); }));
  http.add(route('/coded', () => { throw new HttpError('conflict', 'coded'); }));
  http.add(route('/body', () => { throw new TypeError('boom after the body'); }, { method: 'post', body: { type: 'object' } }));
  http.add(route('/ok', (_req, res) => { res.json(200, { ok: true }); }));
  http.ws({
    path: '/ws', auth: 'public', summary: 'test ws', tags: ['test'], responses: {},
    upgrade: () => ({}),
    message: (ws, msg) => {
      if (Buffer.from(msg).toString() === 'throw') throw new TypeError('ws boom');
      ws.send('echo');
    },
  });
  http.finish();
  const port = await http.listen('127.0.0.1', 0);
  http.state = 'ready';
  t.teardown(() => http.close(0));
  return { http, base: `http://127.0.0.1:${port}` };
}

async function get(url: string, init: Parameters<typeof request>[1] = {}) {
  const r = await request(url, init);
  return { status: r.statusCode, text: await r.body.text() };
}

t.test('a throwing handler answers 500 and the server keeps serving', async (t) => {
  const { http, base } = await serve(t);
  for (const path of ['/sync', '/async', '/bigint', '/late-bigint']) {
    const r = await get(base + path);
    t.equal(r.status, 500, `${path}: 500`);
    t.same(JSON.parse(r.text).error, 'internal', `${path}: internal error, no detail leaked`);
  }
  t.equal((await get(base + '/body', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status, 500, 'a throw after reading the body: 500');
  t.equal((await get(base + '/coded')).status, 409, 'coded errors keep their status');
  t.equal((await get(base + '/ok')).status, 200, 'still serving');
  t.equal(http.inflight, 0, 'every failed request was accounted for');
});

t.test('an envelope whose error builder throws still answers 500', async (t) => {
  const broken: Envelope = { requestId: () => 'rid', error: () => { throw new TypeError('envelope boom'); } };
  const { http, base } = await serve(t, broken);
  for (const path of ['/sync', '/coded', '/nope']) {
    const r = await get(base + path);
    t.equal(r.status, 500, `${path}: 500 from the fixed fallback body`);
  }
  t.equal((await get(base + '/ok')).status, 200, 'still serving');
  t.equal(http.inflight, 0, 'every failed request was accounted for');
});

t.test('an envelope whose request-id hook throws: 500, no crash', async (t) => {
  const broken: Envelope = { requestId: () => { throw new TypeError('id boom'); }, error: () => ({ status: 500, body: '{}' }) };
  const { http, base } = await serve(t, broken);
  t.equal((await get(base + '/ok')).status, 500, 'the request that hit it: 500');
  t.equal((await get(base + '/nope')).status, 500, 'the 404 path too');
  t.equal(http.inflight, 0, 'accounted for');
});

t.test('a throwing WebSocket handler closes that socket with 1011; others carry on', async (t) => {
  const { base } = await serve(t);
  const open = (): Promise<WebSocket> => new Promise((resolve, reject) => {
    const ws = new WebSocket(base.replace('http', 'ws') + '/ws');
    ws.addEventListener('open', () => resolve(ws));
    ws.addEventListener('error', reject);
  });
  const a = await open();
  const b = await open();
  t.teardown(() => { a.close(); b.close(); });
  const closed = new Promise<number>((resolve) => a.addEventListener('close', (ev) => resolve(ev.code)));
  a.send('throw');
  t.equal(await closed, 1011, 'closed with 1011 internal error');
  const echo = new Promise<string>((resolve) => b.addEventListener('message', (ev) => resolve(String(ev.data))));
  b.send('hi');
  t.equal(await echo, 'echo', 'the other socket still works');
  t.equal((await get(base + '/ok')).status, 200, 'HTTP still serving');
});
