// The NATS JetStream event sink against a real nats-server (JetStream on a temp dir) and the
// official `nats` client:
// - the sink alone: creates its stream, publishes with Nats-Msg-Id so a re-publish is a
//   duplicate, refuses a stream that does not capture its subjects;
// - exactly once per event id across a SIGKILL of the admin while it publishes (the cursor is
//   also rewound, as a crash between the PubAcks and the cursor update would leave it): every
//   event of the admin's outbox is in the stream once, on `outpost.events.<type>`, and its data
//   matches the AsyncAPI document's schema;
// - NATS down at start (SQLite and PostgreSQL): events wait in the outbox and arrive once it is up;
// - NATS frozen (SIGSTOP): a webhook still gets its delivery; the sink catches up after.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Ajv from 'ajv';
import { connect, StorageType, type NatsConnection } from 'nats';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { EVENT_DATA } from '../daemon/admin/api/asyncapi';
import { SinkOutbox } from '../daemon/admin/event-sinks';
import { isEventType } from '../daemon/admin/store/events';
import { loadSqlite } from '../native';
import { NatsJetStreamSink } from '../plugins/event-sinks/nats';
import { ADMIN_KEY, startAdminApi } from './helpers/admin-api';
import { spawnDaemon, tempDir } from './helpers/daemon';
import { natsServer, type NatsServer } from './helpers/nats';
import { bothDialects, type DialectCtx } from './helpers/postgres';
import { until } from './helpers/wait';

/* eslint-disable @typescript-eslint/no-explicit-any */
const STREAM = 'OUTPOST_EVENTS';
const PREFIX = 'outpost.events';
const ajv = new Ajv({ strict: false });

interface Got { seq: number; subject: string; msgId: string | undefined; contentType: string | undefined; ce: any }

async function client(t: Test, nats: NatsServer): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  t.teardown(() => nc.close());
  return nc;
}

async function streamCount(nc: NatsConnection, stream = STREAM): Promise<number> {
  const jsm = await nc.jetstreamManager();
  return (await jsm.streams.info(stream)).state.messages;
}

/** Every message of the stream, through an ordered consumer. */
async function readStream(nc: NatsConnection, stream = STREAM): Promise<Got[]> {
  const total = await streamCount(nc, stream);
  const c = await nc.jetstream().consumers.get(stream);
  const out: Got[] = [];
  while (out.length < total) {
    const batch = await c.fetch({ max_messages: total - out.length, expires: 5000 });
    for await (const m of batch) {
      out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), contentType: m.headers?.get('Content-Type'), ce: m.json() });
    }
  }
  return out;
}

/** Each outbox event is in the stream exactly once, on its subject, with its id as Nats-Msg-Id and data of its documented shape. */
function checkExactlyOnce(t: Test, got: Got[], events: Array<{ id: string; type: string }>): void {
  const byId = new Map<string, number>();
  for (const g of got) byId.set(g.ce.id, (byId.get(g.ce.id) ?? 0) + 1);
  const dupes = [...byId].filter(([, n]) => n > 1);
  t.same(dupes, [], 'no event id twice in the stream');
  const missing = events.filter((e) => !byId.has(e.id));
  t.same(missing, [], 'no outbox event missing from the stream');
  t.equal(got.length, events.length, `stream holds exactly the ${events.length} outbox events`);
  let bad = 0;
  for (const g of got) {
    if (g.subject !== `${PREFIX}.${g.ce.type}` || g.msgId !== g.ce.id || g.ce.specversion !== '1.0' || !/^application\/cloudevents\+json/.test(g.contentType ?? '')) bad++;
    const type = String(g.ce.type);
    if (!isEventType(type) || !ajv.validate(EVENT_DATA[type].data, g.ce.data)) {
      bad++;
      t.fail(`${g.ce.type} data matches the AsyncAPI schema: ${JSON.stringify(g.ce.data)} ${ajv.errorsText()}`);
    }
  }
  t.equal(bad, 0, 'every message: subject outpost.events.<type>, Nats-Msg-Id = CloudEvent id, CloudEvents content type, documented data');
}

t.test('the sink alone: stream created, Nats-Msg-Id de-duplicates a re-publish, a foreign stream is refused', async (t) => {
  t.setTimeout(60_000);
  const nats = await natsServer(t);
  const nc = await client(t, nats);
  const sink = new NatsJetStreamSink({ servers: nats.url, subjectPrefix: 'it.ev', stream: 'IT_EVENTS', duplicateWindowMs: 60_000 });
  t.teardown(() => sink.close());
  const ev = (id: string, type = 'edge.node.registered') => ({ id, type, body: Buffer.from(JSON.stringify({ specversion: '1.0', id, type, data: {} })) });
  const a = await sink.publish([ev('e1'), ev('e2', 'edge.node.status_changed')]);
  t.same(a, { accepted: 2, duplicates: 0, error: null });
  const info = await (await nc.jetstreamManager()).streams.info('IT_EVENTS');
  t.same(info.config.subjects, ['it.ev.>']);
  t.equal(info.config.storage, StorageType.File);
  t.equal(info.config.duplicate_window, 60_000 * 1e6, 'the configured duplicate window');
  t.equal(sink.duplicateWindowMs, 60_000);
  const again = await sink.publish([ev('e2', 'edge.node.status_changed'), ev('e3')]);
  t.same(again, { accepted: 2, duplicates: 1, error: null }, 'the re-published e2 is acknowledged as a duplicate');
  const got = await readStream(nc, 'IT_EVENTS');
  t.same(got.map((g) => [g.subject, g.msgId]), [['it.ev.edge.node.registered', 'e1'], ['it.ev.edge.node.status_changed', 'e2'], ['it.ev.edge.node.registered', 'e3']]);
  await sink.close();
  t.match(await sink.publish([ev('e4')]), { accepted: 0, error: /closed/ }, 'closed: nothing accepted');

  // An existing stream is used as it is, but only when it captures <prefix>.>.
  await (await nc.jetstreamManager()).streams.add({ name: 'OTHER', subjects: ['other.>'], storage: StorageType.Memory });
  const wrong = new NatsJetStreamSink({ servers: nats.url, subjectPrefix: 'it.ev', stream: 'OTHER', duplicateWindowMs: 60_000 });
  t.teardown(() => wrong.close());
  t.match(await wrong.publish([ev('x1')]), { accepted: 0, error: /stream OTHER exists but its subjects \(other\.>\) do not capture it\.ev\.>/ });
  const reuse = new NatsJetStreamSink({ servers: nats.url, subjectPrefix: 'it.ev.sub', stream: 'IT_EVENTS', duplicateWindowMs: 1000 });
  t.teardown(() => reuse.close());
  t.match(await reuse.publish([ev('x2')]), { accepted: 1, error: null }, 'a stream whose subjects capture the prefix is reused');
  t.equal(reuse.duplicateWindowMs, 60_000, 'and keeps its own duplicate window');
});

t.test('exactly once per event id in the stream after a SIGKILL of the admin while it publishes', async (t) => {
  t.setTimeout(120_000);
  const nats = await natsServer(t);
  const nc = await client(t, nats);
  const dir = tempDir(t, 'outpost-nats-admin-');
  const env = { MASTER_KEY: ADMIN_KEY, NATS_URL: nats.url, ...(process.env.NODE_PATH ? { NODE_PATH: process.env.NODE_PATH } : {}) };
  const spawnAdmin = async () => {
    const child = await spawnDaemon(t, ['--data-dir', dir, '--admin', 'true', '--admin-port', '0'], env);
    const m = await until('admin listening', () => child.stdout().match(/"port":(\d+)[^\n]*"msg":"admin listening"/));
    return { child, base: `http://127.0.0.1:${m[1]}` };
  };
  const call = async (base: string, method: string, p: string, body?: unknown) => {
    const r = await request(`${base}${p}`, { method: method as 'GET', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    return { status: r.statusCode, json: text ? JSON.parse(text) : undefined };
  };
  const sinkStats = async (base: string) => (await call(base, 'GET', '/api/v1/admins/me/metrics')).json.data.event_broker.sinks[0];

  let { child, base } = await spawnAdmin();
  t.equal((await call(base, 'POST', '/api/v1/clusters', { name: 'fleet' })).status, 201);
  const key = (await call(base, 'POST', '/api/v1/clusters/fleet/enrollment_keys', { uses_remaining: null })).json.data.key as string;

  // Nodes enroll (edge.enrollment_key.verified + edge.node.registered each) from three clients
  // until the admin is killed; the sink is publishing all along.
  let killed = false;
  const enrolled: string[] = [];
  const producer = async () => {
    while (!killed) {
      const id = randomUUID();
      try {
        const r = await request(`${base}/api/v1/agent/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enrollment_key: key, node_id: id, id_type: 'random', name: `n-${id.slice(0, 8)}` }) });
        await r.body.text();
        if (r.statusCode === 201) enrolled.push(id);
      } catch { return; }
    }
  };
  const producers = [producer(), producer(), producer()];
  await until('the sink has published and moved its cursor past 30 events', async () => ((await sinkStats(base))?.position ?? 0) >= 30, 60_000, { tolerateErrors: true });
  child.proc.kill('SIGKILL');
  killed = true;
  t.equal((await child.exited).signal, 'SIGKILL');
  await Promise.all(producers);
  t.ok(enrolled.length > 0, `${enrolled.length} nodes enrolled (answered) before the kill`);

  // A crash between the PubAcks and the cursor update: rewind the cursor by up to 10 events.
  const Database = loadSqlite();
  const file = path.join(dir, 'admin.sqlite');
  let db = new Database(file);
  const position = Number((db.prepare("select position from event_sink_cursors where sink = 'nats'").get() as { position: number }).position);
  const rewound = Math.min(10, position);
  db.prepare("update event_sink_cursors set position = ? where sink = 'nats'").run(position - rewound);
  db.close();
  t.ok(rewound > 0, `cursor at ${position}, rewound by ${rewound}`);

  ({ child, base } = await spawnAdmin());
  const caughtUp = await until('the restarted admin has published everything', async () => {
    const s = await sinkStats(base);
    return s && s.lag === 0 && !s.failing && s.position >= position ? s : undefined;
  }, 60_000);
  t.ok(caughtUp.duplicates_total >= rewound, `the ${rewound} re-published events were acknowledged as duplicates (${caughtUp.duplicates_total})`);
  child.proc.kill('SIGTERM');
  t.equal((await child.exited).code, 0);

  db = new Database(file, { readonly: true });
  const events = db.prepare('select id, type from events order by seq').all() as Array<{ id: string; type: string }>;
  db.close();
  const got = await readStream(nc);
  checkExactlyOnce(t, got, events);
  const registered = new Set(got.filter((g) => g.ce.type === 'edge.node.registered').map((g) => g.ce.data.node_id));
  t.same(enrolled.filter((id) => !registered.has(id)), [], 'every enrollment the admin answered 201 is in the stream');
});

bothDialects(t, 'NATS down at start: events wait in the outbox and arrive once it is up', async (t, ctx) => {
  t.setTimeout(90_000);
  const nats = await natsServer(t, { running: false });
  const a = await startAdminApi(t, ctx, [], { NATS_URL: nats.url });
  const stats = () => a.admin.eventSinks.stats()[0];
  t.equal(stats().sink, 'nats');
  for (let i = 0; i < 3; i++) await a.enrollNode('edge-lab', { node_name: `n${i}` });
  a.admin.ctx.wake();
  await until('the sink failing with the events queued', () => stats().failures_total >= 2 && (stats().lag ?? 0) >= 6);
  t.equal(stats().published_total, 0);
  t.ok(stats().failing);
  t.match(stats().last_error, /CONNECTION_REFUSED|ECONNREFUSED|connect/i);
  const prom = await a.call('GET', '/metrics');
  t.match(prom.text, /outpost_admin_event_sink_lag\{sink="nats"\} [1-9]/);
  t.match(prom.text, /outpost_admin_event_sink_failures_total\{sink="nats"\} [1-9]/);

  await nats.start();
  const outbox = new SinkOutbox(a.db, ctx.dialect);
  const caughtUp = async () => !stats().failing && (await outbox.lag(stats().position)) === 0;
  await until('published once NATS is up', caughtUp, 60_000);
  // More events once connected: a command for every node (edge.command_execution.created each).
  const cmd = await a.call('POST', '/api/v1/commands', { command_text: 'true', targeting: { type: 'all' } });
  t.equal(cmd.status, 201, cmd.text);
  await until('the command events published', async () => (await a.db.selectFrom('events').select('id').where('type', '=', 'edge.command_execution.created').execute()).length === 3 && await caughtUp(), 30_000);
  const nc = await client(t, nats);
  const events = await a.db.selectFrom('events').select(['id', 'type']).orderBy('seq').execute();
  await until('stream complete', async () => (await streamCount(nc)) >= events.length);
  checkExactlyOnce(t, await readStream(nc), events);
  t.same(new Set(events.map((e) => e.type)), new Set(['edge.enrollment_key.verified', 'edge.node.registered', 'edge.command_execution.created']));
  const m = (await a.call('GET', '/api/v1/admins/me/metrics')).json.data.event_broker;
  t.match(m, { enabled: true, lag: 0 });
  t.ok(m.publishes_ok_total >= events.length, 'every event accepted (a re-publish after an ack timeout counts again)');
  t.ok(m.publishes_error_total >= 2);
});

t.test('a frozen NATS never holds a webhook delivery; the sink catches up when it thaws', async (t) => {
  t.setTimeout(90_000);
  const nats = await natsServer(t);
  const hits: any[] = [];
  const rx = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { hits.push(JSON.parse(Buffer.concat(chunks).toString('utf8'))); res.end('ok'); });
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { rx.closeAllConnections(); rx.close(() => r()); }));
  const a = await startAdminApi(t, { dialect: 'sqlite' } as DialectCtx, [], { NATS_URL: nats.url, WEBHOOK_ALLOW_PRIVATE_IPS: 'true' });
  const stats = () => a.admin.eventSinks.stats()[0];
  const hook = await a.call('POST', '/api/v1/webhooks', { url: `http://127.0.0.1:${(rx.address() as AddressInfo).port}/hook`, secret: 'whsec-nats-test-0123456789abcdef0123', subscribed_events: ['edge.node.registered'] });
  t.equal(hook.status, 201, hook.text);

  const first = await a.enrollNode('edge-lab');
  a.admin.ctx.wake();
  const outbox = new SinkOutbox(a.db, 'sqlite');
  const caughtUp = async () => !stats().failing && (await outbox.lag(stats().position)) === 0;
  await until('first node: webhook and stream', async () => hits.some((h) => h.data.node_id === first) && stats().published_total >= 2 && await caughtUp());

  nats.pause();
  const second = await a.enrollNode('edge-lab');
  a.admin.ctx.wake();
  const hit = await until('second node: the webhook delivery, with NATS frozen', () => hits.find((h) => h.data.node_id === second));
  t.equal(hit.type, 'edge.node.registered');
  const unpublished = await outbox.lag(stats().position);
  t.ok(unpublished >= 2, `the sink has not published the second node's events (${unpublished} behind its cursor)`);

  nats.resume();
  await until('the sink caught up', caughtUp, 60_000);
  const nc = await client(t, nats);
  const events = await a.db.selectFrom('events').select(['id', 'type']).orderBy('seq').execute();
  checkExactlyOnce(t, await readStream(nc), events);
});
