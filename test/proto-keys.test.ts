// Keys named like Object.prototype members (`constructor`, `__proto__`, `toString`, …) as body
// keys, nested keys and query keys, on every route of both APIs (enumerated from their served
// OpenAPI documents), with and without a token. Each answer must be a 4xx naming the key (2xx
// only where a route takes a free-form dictionary), never a 5xx, and the daemon must stay up:
// one such request used to end the process (`out[name].push is not a function`).
import t from 'tap';
import { Agent, request, WebSocket } from 'undici';
import { spawnDaemon, tempDir } from './helpers/daemon';

const KEY = 'proto-keys-master-key';
const NAMES = Object.getOwnPropertyNames(Object.prototype); // includes __proto__
const UUID = '00000000-0000-4000-8000-000000000001';

/** Valid-looking values for path parameters, by name. */
const PARAM_VALUES: Record<string, string> = {
  namespace: 'app', key: 'k1', queue: 'q1', stream: 's1', group: 'g1', name: 'c1', cluster_name: 'c1',
  id: UUID, node_id: UUID, ssh_username_id: UUID, key_id: UUID,
};
/** Where a parameter's name alone does not say its shape. */
const PATH_PARAM_VALUES: Record<string, Record<string, string>> = {
  '/api/v1/agent/ssh_recordings/{id}': { id: '20260101T000000000Z-0123abcd' },
};

/**
 * Bodies that pass validation, per "METHOD path", so a key added to them is the only fault (or,
 * in a free-form dictionary, no fault): the handler code behind validation is reached too.
 */
const VALID: Record<string, Record<string, unknown>> = {
  'post /api/v1/namespaces': { name: 'app2' },
  'put /api/v1/kv/{namespace}/{key}': { value: 'aGk=' },
  'post /api/v1/queue/{namespace}/{queue}/enqueue': { payload: 'aGk=' },
  'post /api/v1/queue/{namespace}/{queue}/dequeue': { count: 1 },
  'post /api/v1/queue/{namespace}/{queue}/ack': { sequences: [1] },
  'post /api/v1/queue/{namespace}/{queue}/nack': { sequences: [1] },
  'post /api/v1/queue/{namespace}/{queue}/dlq/redrive': { sequences: [1] },
  'post /api/v1/stream/{namespace}/{stream}/append': { records: [{ payload: 'aGk=' }] },
  'put /api/v1/stream/{namespace}/{stream}/retention': { max_records: 10 },
  'post /api/v1/stream/{namespace}/{stream}/groups': { name: 'g1' },
  'post /api/v1/stream/{namespace}/{stream}/groups/{group}/commit': { offset: 0 },
  'put /api/v1/ts/{namespace}/retention': { max_age_ms: 60000 },
  'post /api/v1/ts/{namespace}/query': { query: 'cpu.v[1m]' },
  'post /api/v1/clusters': { name: 'c9' },
  'patch /api/v1/clusters/{name}': { node_limit: 5 },
  'post /api/v1/clusters/{cluster_name}/enrollment_keys': {},
  'post /api/v1/commands': { command_text: 'true', targeting: { type: 'all' } },
  'post /api/v1/webhooks': { url: 'http://127.0.0.1:9/hook', secret: 'x'.repeat(32), subscribed_events: ['edge.node.registered'] },
  'post /api/v1/agent/enroll': { enrollment_key: 'x'.repeat(32), node_id: UUID },
};

interface Schema { type?: string | string[]; properties?: Record<string, Schema>; additionalProperties?: boolean | Schema }
interface Op { method: string; path: string; url: string; body?: Schema; rawBody: boolean; upgrade: boolean }

/** Every operation of an OpenAPI document, with its path parameters filled in. */
function operations(doc: { paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema?: Schema }> }; responses?: Record<string, unknown> }>> }): Op[] {
  const ops: Op[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!['get', 'put', 'post', 'delete', 'patch'].includes(method)) continue;
      const url = path.replace(/\{([^}]+)\}/g, (_, n: string) => encodeURIComponent(PATH_PARAM_VALUES[path]?.[n] ?? PARAM_VALUES[n] ?? 'x1'));
      const content = op.requestBody?.content ?? {};
      const json = content['application/json']?.schema;
      // A WebSocket endpoint (101) answers a plain GET with 404 before it looks at the request.
      ops.push({ method, path, url, body: json, rawBody: !json && Object.keys(content).length > 0, upgrade: Object.hasOwn(op.responses ?? {}, '101') });
    }
  }
  return ops;
}

const isFreeForm = (s: Schema | undefined) => !!s && (s.type === 'object' || !!s.properties || s.additionalProperties !== undefined) && s.additionalProperties !== false;

t.test('Object.prototype names as keys never crash the daemon and are refused naming the key', async (t) => {
  t.setTimeout(120_000);
  const d = await spawnDaemon(t, ['--data-dir', tempDir(t), '--admin', 'true', '--admin-port', '0'], { MASTER_KEY: KEY, WEBHOOK_ALLOW_PRIVATE_IPS: 'true' });
  const adminPort = Number(/"port":(\d+)[^\n]*"msg":"admin listening"/.exec(d.stdout())![1]);
  const bases = { data: d.url, admin: `http://127.0.0.1:${adminPort}` };
  const agent = new Agent({ connections: 8 });
  t.teardown(() => agent.close());

  const send = async (base: string, method: string, url: string, body: string | undefined, auth: boolean) => {
    const r = await request(`${base}${url}`, {
      method: method.toUpperCase() as 'GET', dispatcher: agent,
      headers: { ...(auth ? { authorization: `Bearer ${KEY}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body,
    });
    return { status: r.statusCode, text: await r.body.text() };
  };

  // A little state, so routes that look things up find something.
  await send(bases.data, 'post', '/api/v1/namespaces', JSON.stringify({ name: 'app' }), true);
  await send(bases.admin, 'post', '/api/v1/clusters', JSON.stringify({ name: 'c1' }), true);

  const failures: string[] = [];
  let sent = 0;
  for (const [api, base] of Object.entries(bases)) {
    const doc = JSON.parse((await send(base, 'get', '/openapi.json', undefined, true)).text);
    const ops = operations(doc);
    t.ok(ops.length > 20, `${api}: ${ops.length} operations in its OpenAPI document`);
    for (const op of ops) {
      const valid = VALID[`${op.method} ${op.path}`];
      const cases: Array<{ what: string; url: string; body?: string; auth: boolean; named: string | false; allow2xx: boolean }> = [];
      for (const name of NAMES) {
        const named = op.upgrade ? false : name;
        const q = `${op.url}${op.url.includes('?') ? '&' : '?'}${encodeURIComponent(name)}=1`;
        const top = JSON.stringify({ ...(valid ?? {}), [name]: 1 });
        cases.push({ what: `query ${name}`, url: q, auth: true, named, allow2xx: false });
        if (!op.rawBody) cases.push({ what: `body key ${name}`, url: op.url, body: top, auth: true, named, allow2xx: false });
        // Nested: inside each known object-or-not field of the body (the validator reaches into
        // objects; a free-form dictionary may legitimately take the key), or under a stray key.
        const props = Object.entries(op.body?.properties ?? {});
        if (!op.rawBody) {
          if (!props.length) cases.push({ what: `nested ${name}`, url: op.url, body: JSON.stringify({ a: { [name]: 1 } }), auth: true, named: false, allow2xx: false });
          for (const [p, s] of props) {
            const free = isFreeForm(s);
            cases.push({ what: `nested ${p}.${name}`, url: op.url, body: JSON.stringify({ ...(valid ?? {}), [p]: { [name]: free ? 'v' : 1 } }), auth: true, named: false, allow2xx: free && !!valid });
          }
        }
        // Without a token: public routes must handle it; the others refuse it with 401.
        cases.push({ what: `no token, query ${name}`, url: q, auth: false, named: false, allow2xx: false });
        if (!op.rawBody) cases.push({ what: `no token, body key ${name}`, url: op.url, body: top, auth: false, named: false, allow2xx: false });
      }
      // Eight in flight at a time: a few seconds for the whole set.
      for (let i = 0; i < cases.length; i += 8) {
        await Promise.all(cases.slice(i, i + 8).map(async (c) => {
          sent++;
          const r = await send(base, op.method, c.url, c.body, c.auth);
          const ok2xx = c.allow2xx && r.status >= 200 && r.status < 300;
          const is4xx = r.status >= 400 && r.status < 500;
          if (!ok2xx && !is4xx) failures.push(`${api} ${op.method.toUpperCase()} ${op.path} ${c.what}: ${r.status} ${r.text.slice(0, 200)}`);
          else if (is4xx && c.named && r.status !== 401 && r.status !== 403 && !r.text.includes(c.named)) failures.push(`${api} ${op.method.toUpperCase()} ${op.path} ${c.what}: ${r.status} does not name the key: ${r.text.slice(0, 200)}`);
        }));
        if (d.proc.exitCode !== null || d.proc.signalCode !== null) break;
      }
      if (d.proc.exitCode !== null || d.proc.signalCode !== null) {
        failures.push(`${api} ${op.method.toUpperCase()} ${op.path}: the daemon exited (${d.proc.exitCode ?? d.proc.signalCode}): ${d.stderr().slice(-500)}`);
        break;
      }
    }
    if (d.proc.exitCode !== null || d.proc.signalCode !== null) break;
  }
  if (failures.length) require("node:fs").writeFileSync("/tmp/sec-proto-failures.txt", failures.join("\n"));
  // The names as values that become lookup keys: consumer groups, namespaces, KV keys. A group
  // named "constructor" used to be reported as existing, and reading one as a function offset.
  const valid = NAMES.filter((n) => /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(n));
  await send(bases.data, 'post', '/api/v1/stream/app/names/append', JSON.stringify({ payload: 'aGk=' }), true);
  for (const name of valid) {
    const g = await send(bases.data, 'post', '/api/v1/stream/app/names/groups', JSON.stringify({ name, start: 'earliest' }), true);
    t.equal(g.status, 201, `group ${name} is created (${g.text.slice(0, 100)})`);
    const read = await send(bases.data, 'get', `/api/v1/stream/app/names/groups/${name}`, undefined, true);
    t.equal(read.status, 200, `group ${name} reads`);
    t.equal(JSON.parse(read.text).committed_offset, 0, `group ${name} starts at offset 0`);
    const ns = await send(bases.data, 'put', `/api/v1/kv/${name}/${name}`, JSON.stringify({ value: 'aGk=' }), true);
    t.equal(ns.status, 200, `kv ${name}/${name} is written`);
    t.equal(JSON.parse((await send(bases.data, 'get', `/api/v1/kv/${name}/${name}`, undefined, true)).text).value, 'aGk=', `kv ${name}/${name} reads back`);
  }

  // The data-plane WebSocket's JSON frames: the names as top-level and nested keys, and as
  // subscription ids. Every frame gets an answer (subscribed or an error frame); none closes it.
  const ws = new WebSocket(`${d.url.replace('http', 'ws')}/api/v1/ws?token=${KEY}`);
  await new Promise((resolve, reject) => { ws.addEventListener('open', resolve); ws.addEventListener('error', reject); });
  const answers: Array<{ type: string; id?: string }> = [];
  ws.addEventListener('message', (ev) => { answers.push(JSON.parse(String(ev.data))); });
  let closedWs = false;
  ws.addEventListener('close', () => { closedWs = true; });
  const frames: unknown[] = [];
  for (const name of NAMES) {
    frames.push({ [name]: 1 }, { op: 'subscribe', id: `a-${name}`, type: 'kv', namespace: 'app', [name]: { [name]: 1 } });
    frames.push({ op: 'subscribe', id: name, type: 'kv', namespace: 'app' }, { op: name, id: `b-${name}` }, { op: 'subscribe', id: `c-${name}`, type: name, namespace: 'app' });
    frames.push({ op: 'subscribe', id: `d-${name}`, type: 'stream', namespace: 'app', stream: name });
  }
  for (const f of frames) ws.send(JSON.stringify(f));
  const deadline = Date.now() + 10_000;
  while (answers.length < frames.length && !closedWs && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(answers.length, frames.length, `every one of ${frames.length} WebSocket frames was answered`);
  t.notOk(closedWs, 'the WebSocket stayed open');
  t.ok(answers.every((a) => a.type === 'subscribed' || a.type === 'error' || a.type === 'record'), 'answers are subscribed or error frames');
  ws.close();

  t.same(failures.slice(0, 30), [], `every answer is a 4xx naming the key, or a 2xx for a free-form dictionary (${failures.length} failures of ${sent} requests)`);
  t.equal(d.proc.exitCode, null, 'the daemon did not exit');
  t.equal((await send(bases.data, 'get', '/healthz', undefined, false)).status, 200, 'data plane still serves');
  t.equal((await send(bases.admin, 'get', '/healthz', undefined, false)).status, 200, 'admin still serves');
  t.notMatch(d.stderr(), /uncaught exception|unhandled promise rejection/, 'nothing escaped to the process handlers');
  t.notMatch(d.stdout(), /request failed with an exception/, 'no request ended in the last-resort 500');
});
