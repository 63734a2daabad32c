// The admin's logs, read from a real daemon's stdout: every line is JSON with a level name and
// no key twice (parsed by a parser that rejects duplicates, which JSON.parse silently accepts);
// node transitions (healthy, unreachable) are logged; every mutating call is logged with its
// caller (credential, remote address), status and request id; no token or proxy password ever
// appears. The agent is a real one (in this process), enrolled through the child admin.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { loadConfig } from '../daemon/config/config';
import { startDaemon } from '../daemon/daemon';
import { createLogger } from '../daemon/base/log';
import { spawnDaemon, tempDir } from './helpers/daemon';
import { until } from './helpers/wait';

const MASTER = 'logs-test-master-key-0123456789';
const API = 'logs-test-api-key-9876543210';
const WRONG = 'logs-test-wrong-token-5555';

/** JSON.parse that throws on a duplicate key in any object (JSON.parse keeps the last one). */
export function parseStrict(text: string): unknown {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const fail = (why: string): never => { throw new Error(`${why} at ${i}: ${text.slice(Math.max(0, i - 40), i + 40)}`); };
  const str = (): string => {
    const start = i;
    i++; // opening quote
    while (text[i] !== '"') { if (i >= text.length) fail('unterminated string'); i += text[i] === '\\' ? 2 : 1; }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): unknown => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const o: Record<string, unknown> = Object.create(null);
      const seen = new Set<string>();
      ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const k = str();
        if (seen.has(k)) fail(`duplicate key ${JSON.stringify(k)}`);
        seen.add(k);
        ws();
        if (text[i++] !== ':') fail('expected :');
        o[k] = value();
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === '}') return o;
        fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const a: unknown[] = [];
      ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i++] === ']') return a;
        fail('expected , or ]');
      }
    }
    if (c === '"') return str();
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!m) fail('unexpected character');
    i += m![0].length;
    return JSON.parse(m![0]);
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

t.test('the duplicate-detecting parser', async (t) => {
  t.same(parseStrict('{"a":1,"b":[{"c":"x\\"y"}],"d":null}'), { a: 1, b: [{ c: 'x"y' }], d: null });
  t.throws(() => parseStrict('{"pid":1,"svc":"x","pid":2}'), /duplicate key "pid"/);
  t.throws(() => parseStrict('{"a":{"b":1,"b":2}}'), /duplicate key "b"/);
});

t.test('a log call with a reserved key does not repeat it (the command runner logged pid twice)', async (t) => {
  const code = `const { createLogger } = require(${JSON.stringify(path.join(__dirname, '..', 'daemon', 'base', 'log.js'))});
    const log = createLogger('info');
    log.info({ pid: 4242, svc: 'other', hostname: 'h', execution_id: 'e1' }, 'command started');
    log.warn('plain');
    log.child({ pid: 7, node_id: 'n1' }).child({ hostname: 'h2' }).error('from a child');`;
  const out = execFileSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 10_000 });
  const [first, second, third] = out.trim().split('\n').map((l) => parseStrict(l) as Record<string, unknown>);
  t.match(first, { level: 'info', svc: 'outpostd', field_pid: 4242, field_svc: 'other', field_hostname: 'h', execution_id: 'e1', msg: 'command started' });
  t.not(first.pid, 4242, 'pid is the process');
  t.match(second, { level: 'warn', msg: 'plain' });
  t.match(third, { level: 'error', field_pid: 7, node_id: 'n1', field_hostname: 'h2', msg: 'from a child' }, 'child bindings follow the same rule');
});

t.test('admin logs: level names, unique keys, node transitions, mutating calls with caller', async (t) => {
  t.setTimeout(90_000);
  const admin = await spawnDaemon(t, ['--data-dir', tempDir(t), '--admin', 'true', '--admin-port', '0'], { MASTER_KEY: MASTER, API_KEY: API, OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  const adminPort = await until('admin listening line', async () => Number(/"port":(\d+)[^\n]*"msg":"admin listening"/.exec(admin.stdout())?.[1]) || undefined, 15_000);
  const base = `http://127.0.0.1:${adminPort}`;
  const call = async (method: string, p: string, token: string, body?: unknown, requestId?: string) => {
    const r = await request(`${base}${p}`, {
      method: method as 'GET',
      headers: { authorization: `Bearer ${token}`, ...(requestId ? { 'x-request-id': requestId } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.body.text();
    return { status: r.statusCode, json: text ? JSON.parse(text) : undefined };
  };

  t.equal((await call('POST', '/api/v1/clusters', MASTER, { name: 'prod' }, 'req-create-prod')).status, 201);
  t.equal((await call('POST', '/api/v1/clusters', WRONG, { name: 'evil' }, 'req-wrong-token')).status, 401);
  t.equal((await call('DELETE', '/api/v1/clusters/nosuch', API, undefined, 'req-delete-missing')).status, 404);
  t.equal((await call('GET', '/api/v1/clusters', API, undefined, 'req-read-only')).status, 200);
  const key = (await call('POST', '/api/v1/clusters/prod/enrollment_keys', MASTER, {})).json.data.key;

  // A real agent with its proxies on (so it has a proxy password to report) joins and leaves.
  const dir = tempDir(t);
  const cfg = loadConfig([
    '--data-dir', dir, '--api-port', '0', '--log-level', 'silent', '--ssh-enabled', 'false', '--admin-self-enroll', 'false',
    '--proxy-enabled', 'true', '--http-proxy-port', '0', '--socks5-port', '0',
  ], { ENROLLMENT_KEY: key, OUTPOST_HEARTBEAT_INTERVAL_MS: '500' });
  const agent = await startDaemon(cfg, createLogger('silent'));
  let closed = false;
  t.teardown(async () => { if (!closed) await agent.close(); });
  await agent.tunnel!.whenEnrolled();
  await agent.tunnel!.client!.whenUp();
  const nodeId = agent.tunnel!.state!.node_id;
  const proxyPassword = fs.readFileSync(path.join(dir, 'agent', 'proxy_password'), 'utf8').trim();
  await until('healthy transition logged', async () => admin.stdout().includes(`node ${nodeId} is healthy`), 15_000);
  closed = true;
  await agent.close();
  await until('unreachable transition logged', async () => admin.stdout().includes(`node ${nodeId} is unreachable`), 15_000);
  // One more call after the transitions, so every line before it is flushed.
  t.equal((await call('PATCH', '/api/v1/clusters/prod', MASTER, { node_limit: 10 }, 'req-last')).status, 200);
  await until('last call logged', async () => admin.stdout().includes('req-last'), 10_000);

  const out = admin.stdout();
  const lines = out.split('\n').filter(Boolean).map((l) => {
    try { return parseStrict(l) as Record<string, unknown>; } catch (err) { t.fail(`not JSON, or a key twice: ${(err as Error).message}`); return {}; }
  });
  t.ok(lines.length > 5, `${lines.length} lines`);
  for (const l of lines) {
    if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal'].includes(l.level as string)) t.fail(`level is a name: ${JSON.stringify(l)}`);
    if (typeof l.pid !== 'number' || l.svc !== 'outpostd' || typeof l.time !== 'string' || typeof l.msg !== 'string') t.fail(`pid, svc, time, msg once each: ${JSON.stringify(l)}`);
  }

  const healthy = lines.find((l) => l.msg === `node ${nodeId} is healthy (was unreachable)`);
  t.match(healthy, { level: 'info', node_id: nodeId, cluster_name: 'prod', previous_status: 'unreachable', status: 'healthy' }, 'online transition');
  const gone = lines.find((l) => l.node_id === nodeId && l.status === 'unreachable');
  t.match(gone, { level: 'warn', cluster_name: 'prod', previous_status: 'healthy', reason: /tunnel down/ }, 'unreachable transition');
  t.match(lines.find((l) => l.msg === 'tunnel up' && l.node_id === nodeId), { credential: 'node_token', remote_address: /127\.0\.0\.1/ }, 'the tunnel says which credential');

  const byReq = (id: string) => lines.find((l) => l.request_id === id);
  t.match(byReq('req-create-prod'), { level: 'info', method: 'POST', path: '/api/v1/clusters', status: 201, credential: 'master', remote_address: /127\.0\.0\.1/ }, 'a mutating call with its caller and outcome');
  t.match(byReq('req-wrong-token'), { level: 'warn', method: 'POST', path: '/api/v1/clusters', status: 401, credential: 'invalid' }, 'a refused call too');
  t.match(byReq('req-delete-missing'), { level: 'warn', method: 'DELETE', path: '/api/v1/clusters/nosuch', status: 404, credential: 'api' });
  t.match(byReq('req-last'), { method: 'PATCH', status: 200, credential: 'master' });
  t.notOk(byReq('req-read-only'), 'reads are not logged as calls');

  for (const [what, secret] of [['MASTER_KEY', MASTER], ['API_KEY', API], ['the wrong token', WRONG], ['the proxy password', proxyPassword], ['the enrollment key', key]] as const) {
    t.notOk(out.includes(secret), `${what} is not in the log`);
  }
});
