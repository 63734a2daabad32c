// The webhook storage ports on the SQL store (sql-store.ts), on SQLite and PostgreSQL: webhook
// rows and list filters, the outbox written by the real emitEvent, fanOut's dispatched_at guard
// (racing fan-outs insert once), claimDue's lease, recordAttempt and the cascade on delete; the
// dispatcher delivering over the SQL store to a loopback receiver; and on PostgreSQL, two admins'
// dispatchers on one database never claiming the same row nor delivering an event twice.
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { emitEvent } from '../daemon/admin/store/events';
import type { AdminStore } from '../daemon/admin/store/db';
import { createWebhooks, SqlWebhookStore, type StoredWebhook, type Webhooks } from '../daemon/admin/webhooks';
import { bothDialects, sharedPostgres } from './helpers/postgres';
import { openStore } from '../daemon/admin/store/db';
import { tempDir } from './helpers/daemon';
import { until } from './helpers/wait';

const SECRET = 'whsec-sql-tests-0123456789abcdef0123';
const sqlStore = (s: AdminStore) => new SqlWebhookStore(s.db, s.dialect);

function hook(over: Partial<StoredWebhook> = {}): StoredWebhook {
  const at = new Date().toISOString();
  return { id: randomUUID(), url: 'https://hooks.example.test/a', subscribed_events: ['edge.node.registered'], secret_enc: 'v1:k:ct', headers_enc: null, inserted_at: at, updated_at: at, ...over };
}

async function receiver(t: Test, status: (n: number) => number = () => 200) {
  const hits: Array<{ raw: Buffer; headers: http.IncomingHttpHeaders }> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { hits.push({ raw: Buffer.concat(chunks), headers: req.headers }); res.statusCode = status(hits.length); res.end('ok'); });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { hits, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/rx` };
}

function webhooks(t: Test, s: AdminStore, dataDir: string, adminId = 'adm-sql'): Webhooks {
  const repo = sqlStore(s);
  const wh = createWebhooks({ allowPrivateIps: true, maxAttempts: 3, dataDir, adminId, masterKey: 'master-key-shared-by-the-admins-0123' }, {
    webhooks: repo, deliveries: repo, outbox: repo, tuning: { retryBaseMs: 40, retryMaxMs: 200, pollMs: 50, attemptTimeoutMs: 3000, leaseMarginMs: 500 },
  });
  t.teardown(() => wh.dispatcher.close(1000));
  return wh;
}

const verify = (raw: Buffer, sig: unknown) => sig === `sha256=${createHmac('sha256', SECRET).update(raw).digest('hex')}`;

bothDialects(t, 'webhook rows: insert, get, list filters/order/pages, subscribedTo, delete', async (t, ctx) => {
  const s = await ctx.open();
  const r = sqlStore(s);
  const a = hook({ url: 'https://hooks.example.test/edge', subscribed_events: ['edge.node.registered', 'edge.node.status_changed'], headers_enc: 'v1:k:h', inserted_at: '2026-01-01T10:00:00.000Z', updated_at: '2026-01-01T10:00:00.000Z' });
  const b = hook({ url: 'https://other.example.test/Edge_x', subscribed_events: ['edge.nodeXregistered' as string, 'edge.command_execution.completed'], inserted_at: '2026-01-02T10:00:00.000Z', updated_at: '2026-01-02T10:00:00.000Z' });
  const c = hook({ url: 'http://10.0.0.1/%', subscribed_events: ['edge.node.status_changed'], inserted_at: '2026-01-03T10:00:00.000Z', updated_at: '2026-01-03T10:00:00.000Z' });
  for (const w of [a, b, c]) await r.insert(w);
  await t.rejects(r.insert(a), 'duplicate id refused');
  t.same(await r.get(a.id), a, 'stored as given');
  t.equal(await r.get(randomUUID()), undefined);
  const ids = async (q: Partial<Parameters<typeof r.list>[0]>) => (await r.list({ page: 1, page_size: 20, order: [{ field: 'inserted_at', direction: 'asc' }], ...q })).rows.map((w) => w.id);
  t.same(await ids({}), [a.id, b.id, c.id]);
  t.same(await ids({ order: [{ field: 'inserted_at', direction: 'desc' }] }), [c.id, b.id, a.id]);
  t.same(await ids({ url: 'https://hooks.example.test/edge' }), [a.id], 'exact url');
  t.same(await ids({ url: 'https://hooks.example.test/*' }), [a.id], 'prefix wildcard');
  t.same(await ids({ url: '*edge*' }), [a.id], 'substring wildcard is case-sensitive, as the memory store');
  t.same(await ids({ url: '*/Edge_x' }), [b.id], '`_` is literal');
  t.same(await ids({ url: '*/%' }), [c.id], '`%` is literal');
  t.same(await ids({ url: '*/E*ge*' }), [b.id]);
  t.same(await ids({ event_type: 'edge.node.registered' }), [a.id], 'membership, `.` not a wildcard');
  t.same(await ids({ event_type: 'edge.node.status_changed' }), [a.id, c.id]);
  t.same(await ids({ inserted_at_gte: '2026-01-02T00:00:00.000Z' }), [b.id, c.id]);
  t.same(await ids({ inserted_at_lte: '2026-01-02T23:59:59.999Z', updated_at_gte: '2026-01-02T00:00:00.000Z' }), [b.id]);
  const page = await r.list({ page: 2, page_size: 2, order: [{ field: 'url', direction: 'asc' }] });
  t.equal(page.total, 3);
  t.same(page.rows.map((w) => w.id), [b.id], 'second page of url order (http < https://hooks < https://other)');
  t.same((await r.subscribedTo('edge.node.status_changed')).map((w) => w.id).sort(), [a.id, c.id].sort());
  t.same(await r.subscribedTo('edge.node.registered').then((l) => l.map((w) => w.id)), [a.id]);
  t.ok(await r.delete(a.id));
  t.notOk(await r.delete(a.id), 'second delete: false');
  t.same(await ids({}), [b.id, c.id]);
});

bothDialects(t, 'outbox, fanOut guard, claimDue lease, recordAttempt, nextDue, log, cascade', async (t, ctx) => {
  const s = await ctx.open();
  const r = sqlStore(s);
  const w1 = hook({ subscribed_events: ['edge.node.registered'] });
  const w2 = hook({ subscribed_events: ['edge.node.registered'] });
  await r.insert(w1);
  await r.insert(w2);
  // The real emitEvent, in a transaction, as the admin's route code writes events.
  const e1 = await s.db.transaction().execute((trx) => emitEvent(trx, 'edge.node.registered', { node_id: 'n1' }, 'n1', new Date('2026-02-01T00:00:00.000Z')));
  const e2 = await emitEvent(s.db, 'edge.node.registered', { node_id: 'n2' }, 'n2', new Date('2026-02-01T00:00:01.000Z'));
  const und = await r.undispatched(10);
  t.same(und.map((e) => e.id), [e1.id, e2.id], 'oldest first');
  t.same(und[0], { id: e1.id, type: 'edge.node.registered', source: '', subject: 'n1', data: '{"node_id":"n1"}', time: '2026-02-01T00:00:00.000Z', dispatched_at: null }, 'source empty: the dispatcher stamps its own');

  const at = '2026-02-01T00:00:05.000Z';
  // Two dispatchers fan out the same event at once: one wins, the other inserts nothing.
  const race = await Promise.all([r.fanOut(und[0], [w1.id, w2.id], at, randomUUID), r.fanOut(und[0], [w1.id, w2.id], at, randomUUID)]);
  t.same(race.filter(Boolean).length, 1, 'exactly one fanOut won');
  t.notOk(await r.fanOut(und[0], [w1.id], at, randomUUID), 'already dispatched');
  t.ok(await r.fanOut(und[1], [w1.id, randomUUID()], at, randomUUID), 'a webhook deleted meanwhile is skipped');
  t.same((await r.undispatched(10)).length, 0);
  const rows = await s.db.selectFrom('webhook_deliveries').selectAll().orderBy('event_id').execute();
  t.equal(rows.length, 3, 'one delivery per (webhook, event)');
  t.ok(rows.every((d) => d.status === 'pending' && Number(d.attempts) === 0 && d.next_attempt_at === at));
  t.equal(await r.nextDue(), at);

  t.same(await r.claimDue('2026-02-01T00:00:04.999Z', '2026-02-01T00:01:00.000Z', 10), [], 'nothing due before next_attempt_at');
  const lease = '2026-02-01T00:01:00.000Z';
  const first = await r.claimDue('2026-02-01T00:00:06.000Z', lease, 2);
  t.equal(first.length, 2, 'limit');
  t.ok(first.every((c) => c.delivery.next_attempt_at === lease && c.event.id === c.delivery.event_id && c.webhook.id === c.delivery.webhook_id));
  t.same(first[0].webhook, w1.id === first[0].webhook.id ? w1 : w2, 'the webhook row comes with the claim');
  const second = await r.claimDue('2026-02-01T00:00:06.000Z', lease, 10);
  t.equal(second.length, 1, 'leased rows are not claimed again');
  t.notOk(first.some((c) => c.delivery.id === second[0].delivery.id));
  t.same(await r.claimDue('2026-02-01T00:00:59.000Z', lease, 10), [], 'all leased');
  const again = await r.claimDue('2026-02-01T00:01:00.000Z', '2026-02-01T00:02:00.000Z', 10);
  t.equal(again.length, 3, 'an unfinished claim is due again at its lease');

  const d = again[0].delivery;
  const attempt = (n: number, outcome: 'ok' | 'recoverable', insertedAt: string) => ({
    id: randomUUID(), delivery_id: d.id, webhook_id: d.webhook_id, event_id: d.event_id, event_type: d.event_type, attempt: n, outcome,
    status_code: outcome === 'ok' ? 200 : 503, duration_ms: 12, error: outcome === 'ok' ? null : 'HTTP 503: busy', inserted_at: insertedAt,
  });
  await r.recordAttempt(attempt(1, 'recoverable', '2026-02-01T00:01:01.000Z'), { status: 'pending', attempts: 1, next_attempt_at: '2026-02-01T00:01:10.000Z', last_status_code: 503, last_error: 'HTTP 503: busy', delivered_at: null, updated_at: '2026-02-01T00:01:01.000Z' });
  await r.recordAttempt(attempt(2, 'ok', '2026-02-01T00:01:11.000Z'), { status: 'delivered', attempts: 2, next_attempt_at: null, last_status_code: 200, last_error: null, delivered_at: '2026-02-01T00:01:11.000Z', updated_at: '2026-02-01T00:01:11.000Z' });
  t.match(await r.getDelivery(d.id), { status: 'delivered', attempts: 2, next_attempt_at: null, last_status_code: 200, delivered_at: '2026-02-01T00:01:11.000Z' });
  const log = await r.listAttempts(d.webhook_id, 1, 10);
  t.equal(log.total, 2);
  t.same(log.rows.map((a) => [a.attempt, a.outcome, a.status_code]), [[2, 'ok', 200], [1, 'recoverable', 503]], 'newest first');
  t.same((await r.listAttempts(d.webhook_id, 2, 1)).rows.map((a) => a.attempt), [1], 'paged');
  t.equal(await r.nextDue(), '2026-02-01T00:02:00.000Z', 'the others are still leased');

  // Deleting the webhook takes its deliveries and log; an attempt finishing afterwards is dropped.
  const other = again.find((c) => c.delivery.webhook_id === d.webhook_id && c.delivery.id !== d.id) ?? again.find((c) => c.delivery.webhook_id === d.webhook_id)!;
  t.ok(await r.delete(d.webhook_id));
  t.equal(await r.getDelivery(d.id), undefined);
  t.equal((await r.listAttempts(d.webhook_id, 1, 10)).total, 0);
  await r.recordAttempt({ ...attempt(1, 'ok', '2026-02-01T00:01:20.000Z'), delivery_id: other.delivery.id }, { status: 'delivered', attempts: 1, next_attempt_at: null, last_status_code: 200, last_error: null, delivered_at: '2026-02-01T00:01:20.000Z', updated_at: '2026-02-01T00:01:20.000Z' });
  t.equal(await s.db.selectFrom('webhook_delivery_attempts').select('id').execute().then((x) => x.length), 0, 'nothing recorded for a deleted webhook');
});

bothDialects(t, 'the dispatcher over the SQL store: signed CloudEvents, retry after 503, log', async (t, ctx) => {
  const s = await ctx.open();
  const rx = await receiver(t, (n) => (n === 1 ? 503 : 200));
  const wh = webhooks(t, s, ctx.dataDir);
  const created = await wh.service.create({ url: rx.url, secret: SECRET, headers: { 'X-Tenant': 'acme' }, subscribed_events: ['edge.node.status_changed'] });
  wh.dispatcher.start();
  const ev = await s.db.transaction().execute((trx) => emitEvent(trx, 'edge.node.status_changed', { node_id: 'n9', status: 'unreachable' }, 'n9'));
  wh.dispatcher.wake();
  await until('delivered', async () => (await s.db.selectFrom('webhook_deliveries').select('status').executeTakeFirst())?.status === 'delivered');
  t.equal(rx.hits.length, 2, '503, then 200');
  t.same(rx.hits[0].raw, rx.hits[1].raw, 'byte-identical retry');
  t.ok(verify(rx.hits[1].raw, rx.hits[1].headers['x-edge-signature']));
  t.equal(rx.hits[1].headers['x-tenant'], 'acme');
  t.match(JSON.parse(rx.hits[1].raw.toString()), { id: ev.id, type: 'edge.node.status_changed', source: '/outpost/admin/adm-sql', subject: 'n9', data: { node_id: 'n9', status: 'unreachable' } });
  t.same((await wh.service.attempts(created.id, {})).data.map((a) => [a.attempt, a.outcome, a.status_code]), [[2, 'ok', 200], [1, 'recoverable', 503]]);
  t.match(wh.dispatcher.stats(), { fan_outs_total: 1, deliveries_total: 2, deliveries_ok_total: 1, deliveries_recoverable_total: 1 });
});

t.test('PostgreSQL: two admins on one database', async (t) => {
  t.setTimeout(90_000);
  const url = await (await sharedPostgres()).createDatabase();
  const open = async () => { const s = await openStore({ dataDir: tempDir(t), databaseUrl: url }); t.teardown(() => s.close()); return s; };
  const [s1, s2] = await Promise.all([open(), open()]);

  await t.test('racing claimDue on two pools never returns the same delivery', async (t) => {
    const r1 = sqlStore(s1);
    const r2 = sqlStore(s2);
    const w = hook({ subscribed_events: ['edge.command_execution.created'] });
    await r1.insert(w);
    const at = '2026-03-01T00:00:00.000Z';
    for (let i = 0; i < 200; i++) {
      const ev = await emitEvent(s1.db, 'edge.command_execution.created', { i }, undefined, new Date(Date.parse(at) + i));
      await r1.fanOut({ ...ev, data: JSON.stringify(ev.data), dispatched_at: null }, [w.id], at, randomUUID);
    }
    const seen = new Map<string, number>();
    const lease = '2026-03-01T01:00:00.000Z';
    const worker = async (r: SqlWebhookStore) => {
      for (;;) {
        const got = await r.claimDue('2026-03-01T00:10:00.000Z', lease, 7);
        if (!got.length) return;
        for (const c of got) seen.set(c.delivery.id, (seen.get(c.delivery.id) ?? 0) + 1);
      }
    };
    await Promise.all([worker(r1), worker(r2), worker(r1), worker(r2)]);
    t.equal(seen.size, 200, 'every delivery claimed');
    t.ok([...seen.values()].every((n) => n === 1), 'none claimed twice');
    await s1.db.deleteFrom('webhooks').execute();
  });

  await t.test('two dispatchers deliver every event exactly once', async (t) => {
    const rx = await receiver(t);
    const dir = tempDir(t);
    const a = webhooks(t, s1, dir, 'adm-a');
    const b = webhooks(t, s2, dir, 'adm-b');
    await a.service.create({ url: rx.url, secret: SECRET, subscribed_events: ['edge.node.registered'] });
    await b.service.create({ url: `${rx.url}?second`, secret: SECRET, subscribed_events: ['edge.node.registered'] });
    a.dispatcher.start();
    b.dispatcher.start();
    const N = 60;
    for (let i = 0; i < N; i++) {
      await s1.db.transaction().execute((trx) => emitEvent(trx, 'edge.node.registered', { i }, `n${i}`));
      (i % 2 ? a : b).dispatcher.wake();
    }
    await until(`${2 * N} deliveries`, () => rx.hits.length >= 2 * N);
    await until('all final', async () => (await s1.db.selectFrom('webhook_deliveries').select('id').where('status', '=', 'pending').execute()).length === 0);
    const keys = rx.hits.map((h) => `${JSON.parse(h.raw.toString()).id}`);
    t.equal(rx.hits.length, 2 * N, 'one request per (event, webhook)');
    t.equal(new Set(keys).size, N, 'every event');
    t.ok(rx.hits.every((h) => verify(h.raw, h.headers['x-edge-signature'])), 'both admins sign with the secret (same MASTER_KEY)');
    const fanOuts = a.dispatcher.stats().fan_outs_total + b.dispatcher.stats().fan_outs_total;
    t.equal(fanOuts, N, 'each event fanned out by exactly one admin');
    t.ok(a.dispatcher.stats().deliveries_total > 0 && b.dispatcher.stats().deliveries_total > 0, 'both admins did deliveries');
    t.equal(a.dispatcher.stats().deliveries_total + b.dispatcher.stats().deliveries_total, 2 * N, 'no attempt twice');
  });
});
