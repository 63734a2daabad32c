// Webhook delivery end to end against a real loopback HTTP receiver: CloudEvents body and
// X-Edge-Signature verified over the raw bytes, retries on 503 then success (byte-identical
// bodies), give-up after WEBHOOK_MAX_ATTEMPTS, terminal 400 and redirect (the redirect target is
// never contacted), SSRF at dial time after DNS resolution, and a dispatcher restart that
// delivers everything still queued (at-least-once for the attempt that was in flight).
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { createWebhooks, type Resolver, type Webhooks } from '../daemon/admin/webhooks';
import { MemoryWebhookStore } from './helpers/memory-webhook-store';
import { tempDir } from './helpers/daemon';
import { sleep, until } from './helpers/wait';

const SECRET = 'whsec-delivery-tests-0123456789abcdef';

interface Hit { path: string; headers: http.IncomingHttpHeaders; raw: Buffer }

/** A loopback receiver: records every request; `reply` decides each answer (status, headers, body). */
async function receiver(t: Test, reply: (hit: Hit, n: number, res: http.ServerResponse) => void = (_h, _n, res) => res.end('ok')) {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit = { path: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks) };
      hits.push(hit);
      reply(hit, hits.length, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const port = (server.address() as AddressInfo).port;
  return { hits, port, url: `http://127.0.0.1:${port}` };
}

interface Setup { wh: Webhooks; store: MemoryWebhookStore }

function setup(t: Test, opts: { allowPrivate?: boolean; maxAttempts?: number; resolve?: Resolver; store?: MemoryWebhookStore; dataDir?: string; start?: boolean; attemptTimeoutMs?: number; leaseMarginMs?: number } = {}): Setup {
  const store = opts.store ?? new MemoryWebhookStore();
  const wh = createWebhooks(
    { allowPrivateIps: opts.allowPrivate ?? true, maxAttempts: opts.maxAttempts ?? 3, dataDir: opts.dataDir ?? tempDir(t, 'outpost-webhooks-'), adminId: 'adm-test-1' },
    {
      webhooks: store, deliveries: store, outbox: store, resolve: opts.resolve,
      tuning: { retryBaseMs: 40, retryMaxMs: 200, pollMs: 50, attemptTimeoutMs: opts.attemptTimeoutMs ?? 3000, leaseMarginMs: opts.leaseMarginMs ?? 200 },
    },
  );
  if (opts.start !== false) wh.dispatcher.start();
  t.teardown(() => wh.dispatcher.close(1000));
  return { wh, store };
}

const final = (s: MemoryWebhookStore, n = 1) => until(`${n} final deliveries`, () => {
  const done = [...s.deliveries.values()].filter((d) => d.status !== 'pending');
  return done.length >= n && done;
});

function verify(secret: string, raw: Buffer, header: string | string[] | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
  const got = Buffer.from(String(header ?? ''));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

t.test('a delivery: CloudEvents 1.0 body, signature over the raw bytes, custom headers, log and counters', async (t) => {
  const rx = await receiver(t);
  const { wh, store } = setup(t);
  const hook = await wh.service.create({ url: `${rx.url}/hooks/edge?x=1`, secret: SECRET, headers: { Authorization: 'Bearer rx-token', 'X-Tenant': 'acme' }, subscribed_events: ['edge.node.registered'] });
  const ev = store.emit('edge.node.registered', { node_id: 'n-1', cluster_name: 'prod', note: 'ünïcödé ✓' }, { subject: 'n-1' });
  store.emit('edge.node.status_changed', { node_id: 'n-1', status: 'unreachable' }); // nobody subscribes to it
  wh.dispatcher.wake();
  const [d] = await final(store);
  t.equal(d.status, 'delivered');
  t.equal(rx.hits.length, 1, 'one request: the unsubscribed event is not sent');
  const hit = rx.hits[0];
  t.equal(hit.path, '/hooks/edge?x=1');
  t.ok(verify(SECRET, hit.raw, hit.headers['x-edge-signature']), 'X-Edge-Signature = sha256=<hex HMAC-SHA256 of the raw body>');
  t.notOk(verify('another-secret-of-at-least-32-bytes!!', hit.raw, hit.headers['x-edge-signature']), 'a different secret does not verify');
  t.match(String(hit.headers['content-type']), /^application\/cloudevents\+json/);
  t.equal(hit.headers.authorization, 'Bearer rx-token');
  t.equal(hit.headers['x-tenant'], 'acme');
  t.match(String(hit.headers['user-agent']), /^outpost-webhooks\//);
  const ce = JSON.parse(hit.raw.toString('utf8'));
  t.same(ce, {
    specversion: '1.0', id: ev.id, type: 'edge.node.registered', source: '/outpost/admin/adm-test-1', time: ev.time,
    datacontenttype: 'application/json', subject: 'n-1', data: { node_id: 'n-1', cluster_name: 'prod', note: 'ünïcödé ✓' },
  });
  const log = await wh.service.attempts(hook.id, {});
  t.equal(log.data.length, 1);
  t.match(log.data[0], { attempt: 1, outcome: 'ok', status_code: 200, error: null, event_id: ev.id, event_type: 'edge.node.registered' });
  t.ok(log.data[0].duration_ms >= 0);
  t.same(wh.dispatcher.stats(), { deliveries_ok_total: 1, deliveries_recoverable_total: 0, deliveries_terminal_total: 0, deliveries_total: 1, fan_outs_total: 2 }, 'one fan-out per event, matched or not');
});

t.test('503 twice, then 200: retried with backoff, identical bytes and signature each time', async (t) => {
  const rx = await receiver(t, (_h, n, res) => { res.statusCode = n <= 2 ? 503 : 200; res.end(n <= 2 ? 'busy, try later' : 'ok'); });
  const { wh, store } = setup(t);
  const hook = await wh.service.create({ url: rx.url, secret: SECRET, subscribed_events: ['edge.command_execution.completed'] });
  store.emit('edge.command_execution.completed', { id: 'e-1', exit_code: 0 });
  wh.dispatcher.wake();
  const [d] = await final(store);
  t.equal(d.status, 'delivered');
  t.equal(d.attempts, 3);
  t.equal(rx.hits.length, 3);
  t.ok(rx.hits.every((h) => h.raw.equals(rx.hits[0].raw)), 'the same body bytes on every attempt');
  t.ok(rx.hits.every((h) => verify(SECRET, h.raw, h.headers['x-edge-signature'])), 'every attempt is signed');
  const log = (await wh.service.attempts(hook.id, {})).data.reverse();
  t.same(log.map((a) => [a.attempt, a.outcome, a.status_code]), [[1, 'recoverable', 503], [2, 'recoverable', 503], [3, 'ok', 200]]);
  t.match(log[0].error, /HTTP 503: busy, try later/);
  t.same(wh.dispatcher.stats(), { deliveries_ok_total: 1, deliveries_recoverable_total: 2, deliveries_terminal_total: 0, deliveries_total: 3, fan_outs_total: 1 });
});

t.test('recoverable failures stop at WEBHOOK_MAX_ATTEMPTS; 408/429/5xx and refused connections are recoverable', async (t) => {
  const statuses = [408, 429, 500];
  const rx = await receiver(t, (_h, n, res) => { res.statusCode = statuses[n - 1] ?? 502; res.end(); });
  const { wh, store } = setup(t, { maxAttempts: 4 });
  const hook = await wh.service.create({ url: rx.url, secret: SECRET, subscribed_events: ['edge.node.version_changed'] });
  // A second webhook on a port where nothing listens: connection refused, retried, given up.
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const dead = await wh.service.create({ url: `http://127.0.0.1:${deadPort}/`, secret: SECRET, subscribed_events: ['edge.node.version_changed'] });
  store.emit('edge.node.version_changed', { node_id: 'n-2', version: '1.2.3' });
  wh.dispatcher.wake();
  const done = await final(store, 2);
  t.ok(done.every((d) => d.status === 'failed' && d.attempts === 4), 'both given up after 4 attempts');
  t.same((await wh.service.attempts(hook.id, {})).data.reverse().map((a) => [a.attempt, a.outcome, a.status_code]), [[1, 'recoverable', 408], [2, 'recoverable', 429], [3, 'recoverable', 500], [4, 'recoverable', 502]]);
  const deadLog = (await wh.service.attempts(dead.id, {})).data;
  t.equal(deadLog.length, 4);
  t.ok(deadLog.every((a) => a.outcome === 'recoverable' && a.status_code === null && /ECONNREFUSED/.test(a.error ?? '')), 'network errors are logged');
  t.equal(wh.dispatcher.stats().deliveries_recoverable_total, 8);
});

t.test('400 is terminal: one attempt, the response snippet is logged', async (t) => {
  const rx = await receiver(t, (_h, _n, res) => { res.statusCode = 400; res.end('{"error":"unknown tenant"}'); });
  const { wh, store } = setup(t);
  const hook = await wh.service.create({ url: rx.url, secret: SECRET, subscribed_events: ['edge.node.registered'] });
  store.emit('edge.node.registered', { node_id: 'n-3' });
  wh.dispatcher.wake();
  const [d] = await final(store);
  t.equal(d.status, 'failed');
  t.equal(d.attempts, 1);
  t.equal(d.last_status_code, 400);
  await sleep(300); // on purpose: several retry periods in which nothing else must be sent
  t.equal(rx.hits.length, 1);
  const [a] = (await wh.service.attempts(hook.id, {})).data;
  t.match(a, { outcome: 'terminal', status_code: 400, error: 'HTTP 400: {"error":"unknown tenant"}' });
  t.equal(wh.dispatcher.stats().deliveries_terminal_total, 1);
});

t.test('a redirect is not followed: terminal, and the target is never contacted', async (t) => {
  const target = await receiver(t);
  const rx = await receiver(t, (_h, _n, res) => { res.writeHead(307, { location: `${target.url}/stolen` }); res.end(); });
  const { wh, store } = setup(t);
  const hook = await wh.service.create({ url: rx.url, secret: SECRET, subscribed_events: ['edge.node.registered'] });
  store.emit('edge.node.registered', { node_id: 'n-4' });
  wh.dispatcher.wake();
  const [d] = await final(store);
  t.equal(d.status, 'failed');
  t.equal(rx.hits.length, 1);
  await sleep(200); // on purpose: a window in which the redirect target must NOT be contacted
  t.equal(target.hits.length, 0, 'the redirect target got nothing');
  const [a] = (await wh.service.attempts(hook.id, {})).data;
  t.equal(a.outcome, 'terminal');
  t.equal(a.status_code, 307);
  t.match(a.error, /redirect not followed \(Location: http:\/\/127\.0\.0\.1:\d+\/stolen\)/);
});

t.test('SSRF at dial time: a name that now resolves to loopback is refused, nothing is sent', async (t) => {
  const rx = await receiver(t);
  // DNS rebinding: public when the webhook is created, loopback when it is delivered.
  let lookups = 0;
  const resolve: Resolver = async (host) => {
    if (host !== 'rebind.test') throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return ++lookups === 1 ? [{ address: '93.184.215.14', family: 4 }] : [{ address: '127.0.0.1', family: 4 }];
  };
  const dataDir = tempDir(t, 'outpost-webhooks-');
  const { wh, store } = setup(t, { allowPrivate: false, resolve, dataDir });
  const rebind = await wh.service.create({ url: `http://rebind.test:${rx.port}/`, secret: SECRET, subscribed_events: ['edge.node.registered'] });
  t.equal(lookups, 1, 'checked at create time');
  // Webhooks stored while private targets were allowed (then the setting was turned off):
  // a loopback name and a loopback literal.
  for (const url of [`http://localhost:${rx.port}/`, `http://127.0.0.1:${rx.port}/`, `http://[::ffff:127.0.0.1]:${rx.port}/`]) {
    const ok = setup(t, { allowPrivate: true, store, dataDir, start: false });
    await ok.wh.service.create({ url, secret: SECRET, subscribed_events: ['edge.node.registered'] });
  }
  store.emit('edge.node.registered', { node_id: 'n-5' });
  wh.dispatcher.wake();
  const done = await final(store, 4);
  t.ok(done.every((d) => d.status === 'failed' && d.attempts === 1), 'all four: one terminal attempt');
  t.ok(lookups >= 2, 'resolved again at dial time');
  t.equal(rx.hits.length, 0, 'the loopback receiver was never contacted');
  const [a] = (await wh.service.attempts(rebind.id, {})).data;
  t.match(a, { outcome: 'terminal', status_code: null });
  t.match(a.error, /refused: rebind\.test resolves to a denied address: 127\.0\.0\.1 is a loopback address/);
  const errors = [...store.attempts].map((x) => x.error).join('\n');
  t.match(errors, /localhost is a loopback name/);
  t.match(errors, /refused: 127\.0\.0\.1 is a loopback address/);
  t.match(errors, /refused: ::ffff:7f00:1 embeds 127\.0\.0\.1/);
  t.equal(wh.dispatcher.stats().deliveries_terminal_total, 4);
});

t.test('a name is resolved by the guard and the socket dials the pinned address', async (t) => {
  const rx = await receiver(t);
  // receiver.test exists only in this resolver: a delivery proves the socket used the address the
  // guard checked and returned, and did not resolve the name again on its own.
  const seen: string[] = [];
  const resolve: Resolver = async (host) => { seen.push(host); return host === 'receiver.test' ? [{ address: '127.0.0.1', family: 4 }] : []; };
  const { wh, store } = setup(t, { allowPrivate: true, resolve });
  await wh.service.create({ url: `http://receiver.test:${rx.port}/in`, secret: SECRET, subscribed_events: ['edge.node.registered'] });
  store.emit('edge.node.registered', { node_id: 'n-6' });
  wh.dispatcher.wake();
  const [d] = await final(store);
  t.equal(d.status, 'delivered');
  t.equal(rx.hits.length, 1);
  t.equal(rx.hits[0].headers.host, `receiver.test:${rx.port}`, 'the Host header keeps the name');
  t.same(seen, ['receiver.test', 'receiver.test'], 'resolved once at create time and once at dial time');
});

t.test('a receiver that does not answer in time: recoverable timeout, then retried', async (t) => {
  const rx = await receiver(t, (_h, n, res) => { if (n > 1) res.end('ok'); /* the first request hangs */ });
  const { wh, store } = setup(t, { attemptTimeoutMs: 300 });
  const hook = await wh.service.create({ url: rx.url, secret: SECRET, subscribed_events: ['edge.node.registered'] });
  store.emit('edge.node.registered', { node_id: 'n-7' });
  wh.dispatcher.wake();
  const [d] = await final(store);
  t.equal(d.status, 'delivered');
  t.same((await wh.service.attempts(hook.id, {})).data.reverse().map((a) => [a.attempt, a.outcome, a.status_code, a.error]), [[1, 'recoverable', null, 'timed out after 300 ms'], [2, 'ok', 200, null]]);
});

t.test('restart: events queued while the dispatcher was down are delivered; the in-flight one is re-sent', async (t) => {
  let hang = true;
  const pending: http.ServerResponse[] = [];
  const rx = await receiver(t, (_h, _n, res) => { if (hang) pending.push(res); else res.end('ok'); });
  t.teardown(() => { for (const r of pending) r.destroy(); });
  const dataDir = tempDir(t, 'outpost-webhooks-');
  const store = new MemoryWebhookStore(); // stands for the database, which outlives the process
  const first = setup(t, { store, dataDir, attemptTimeoutMs: 1000, leaseMarginMs: 300 });
  await first.wh.service.create({ url: rx.url, secret: SECRET, subscribed_events: ['edge.command_execution.created'] });
  const e1 = store.emit('edge.command_execution.created', { id: 'x-1' });
  first.wh.dispatcher.wake();
  await until('the first attempt to reach the receiver', () => rx.hits.length === 1);
  // The process goes away mid-attempt: nothing was recorded for it.
  await first.wh.dispatcher.close(50);
  t.equal(store.attempts.length, 0, 'the aborted attempt left no record');
  const e2 = store.emit('edge.command_execution.created', { id: 'x-2' });
  const e3 = store.emit('edge.command_execution.created', { id: 'x-3' });
  hang = false;
  const second = setup(t, { store, dataDir, attemptTimeoutMs: 1000, leaseMarginMs: 300 });
  const done = await final(store, 3);
  t.ok(done.every((d) => d.status === 'delivered'));
  const ids = rx.hits.map((h) => JSON.parse(h.raw.toString()).id);
  t.same([...new Set(ids)].sort(), [e1.id, e2.id, e3.id].sort(), 'every event arrived');
  t.equal(ids.filter((id) => id === e1.id).length, 2, 'the in-flight one twice (at-least-once)');
  t.ok(rx.hits.every((h) => verify(SECRET, h.raw, h.headers['x-edge-signature'])), 'signed with the secret decrypted by the new process');
  t.equal(second.wh.dispatcher.stats().deliveries_ok_total, 3);
});
