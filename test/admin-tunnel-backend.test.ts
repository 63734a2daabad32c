// The SQL TunnelBackend (daemon/admin/tunnel/sql-backend.ts) on SQLite and PostgreSQL, against the
// contract of test/helpers/memory-tunnel-backend.ts: enrollment (error codes, re-registration), tokens, tunnel
// up/down with status and version events, batched heartbeats, the resume set (pending
// deliveries oldest first, unacked cancels), acks, idempotent results and events; and the
// enrollment race for a key's last use through the real route.
import t from 'tap';
import { request } from 'undici';
import { createCommand, cancelExecution, expireDue } from '../daemon/admin/commands/store';
import type { Db } from '../daemon/admin/store/db';
import { newKeySecret } from '../daemon/admin/store/enrollment-key';
import { iso, newId } from '../daemon/admin/store/util';
import { type TunnelInfo } from '../daemon/admin/tunnel/backend';
import { EnrollError } from '../daemon/tunnel/enrollment';
import { SqlTunnelBackend } from '../daemon/admin/tunnel/sql-backend';
import { startInProc } from './helpers/daemon';
import { bothDialects } from './helpers/postgres';

let rangeN = 0;
async function cluster(db: Db, name: string, nodeLimit: number | null = null) {
  const id = newId();
  const at = iso();
  await db.insertInto('clusters').values({ id, name, ipv4_range: `100.64.${++rangeN}.0/24`, node_limit: nodeLimit, inserted_at: at, updated_at: at }).execute();
  return id;
}

async function key(db: Db, clusterId: string, uses: number | null = 1, expiredAt: string | null = null) {
  const id = newId();
  const secret = newKeySecret(id);
  const at = iso();
  await db.insertInto('enrollment_keys').values({ id, cluster_id: clusterId, name: null, key: `blob-${id}`, secret, uses_remaining: uses, expired_at: expiredAt, last_used_at: null, inserted_at: at, updated_at: at }).execute();
  return secret;
}

const info = (v = '1.0.0'): TunnelInfo => ({ agent_version: v, host_name: 'host-b', capabilities: [], remote_address: '::ffff:127.0.0.1', credentials_version: 0 });
const events = async (db: Db, type: string) => db.selectFrom('events').selectAll().where('type', '=', type).execute();
const node = (db: Db, id: string) => db.selectFrom('nodes').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const exec = (db: Db, id: string) => db.selectFrom('command_executions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

bothDialects(t, 'enroll, authenticate, tunnel up/down, heartbeats and status', async (t, ctx) => {
  const { db } = await ctx.open();
  const b = new SqlTunnelBackend(db, 1000);
  const prod = await cluster(db, 'prod');
  const secret = await key(db, prod, 2);
  const id = newId();
  const e = await b.enroll({ secret, node_id: id, id_type: 'persistent', name: 'web-1', host_name: 'host-a', agent_version: '1.0.0', os: 'linux', arch: 'x64', ports: { ssh_port: 2222, http_port: 8080 } });
  t.match(e, { node_id: id, cluster_name: 'prod', reregistered: false });
  let n = await node(db, id);
  t.match(n, { node_name: 'web-1', id_type: 'persistent', version: '1.0.0', hostname: 'host-a', ssh_port: 2222, http_port: 8080, status: 'unreachable' });
  t.same(JSON.parse(n.info!), { os: 'linux', arch: 'x64' });
  t.equal((await events(db, 'edge.node.registered')).length, 1);

  t.same(await b.authenticate(e.api_token), { node_id: id, cluster_name: 'prod' });
  t.equal(await b.authenticate(`${id}.wrong`), null);
  t.equal(await b.authenticate('garbage'), null);

  // Error codes of the EnrollError contract.
  const code = async (p: Promise<unknown>) => { try { await p; return 'ok'; } catch (err) { t.ok(err instanceof EnrollError, 'an EnrollError'); return (err as EnrollError).code; } };
  t.equal(await code(b.enroll({ secret: 'nope.nope-nope-nope', node_id: newId(), id_type: 'random' })), 'invalid_key');
  t.equal(await code(b.enroll({ secret: `${secret.split('.')[0]}.forged-secret-xyz`, node_id: newId(), id_type: 'random' })), 'invalid_key');
  t.equal(await code(b.enroll({ secret: await key(db, prod, 1, iso(Date.now() - 1000)), node_id: newId(), id_type: 'random' })), 'key_expired');
  t.equal(await code(b.enroll({ secret: await key(db, prod, 0), node_id: newId(), id_type: 'random' })), 'key_exhausted');
  const tiny = await cluster(db, 'tiny', 1);
  const tinyKey = await key(db, tiny, null);
  t.equal(await code(b.enroll({ secret: tinyKey, node_id: newId(), id_type: 'random' })), 'ok');
  t.equal(await code(b.enroll({ secret: tinyKey, node_id: newId(), id_type: 'random' })), 'node_limit');

  // Tunnel up: healthy, version/host/ip stored, version_changed + status_changed.
  const r = await b.tunnelUp({ node_id: id, cluster_name: 'prod' }, info('1.1.0'), Date.now());
  t.same(r, { deliveries: [], cancels: [], credentials: { version: 0, users: [] } }, 'nothing owed; an empty credential set (version 0)');
  n = await node(db, id);
  t.match(n, { status: 'healthy', tunnel_connected: 1, version: '1.1.0', hostname: 'host-b', ip_address: '127.0.0.1' });
  t.ok(n.last_seen_at, 'last_seen_at');
  t.match((await events(db, 'edge.node.version_changed')).map((x) => JSON.parse(x.data)), [{ node_id: id, previous_version: '1.0.0', version: '1.1.0' }]);
  t.match((await events(db, 'edge.node.status_changed')).map((x) => JSON.parse(x.data)), [{ node_id: id, previous_status: 'unreachable', status: 'healthy' }]);

  // Heartbeats: one batch, last_seen_at moves, brief metrics kept; unhealthy → healthy on a beat.
  const later = Date.now() + 5000;
  await b.recordHeartbeats([{ node_id: id, received_at: later, time: later, load_1m: 0.5, commands_running: 1 }, { node_id: newId(), received_at: later, time: later }]);
  n = await node(db, id);
  t.equal(n.last_seen_at, iso(later));
  t.match(JSON.parse(n.last_heartbeat!), { load_1m: 0.5, commands_running: 1 });
  await b.setStatus([{ node_id: id, status: 'unhealthy', at: Date.now(), reason: 'late' }]);
  t.equal((await node(db, id)).status, 'unhealthy');
  await b.recordHeartbeats([{ node_id: id, received_at: later + 1, time: later + 1 }]);
  t.equal((await node(db, id)).status, 'healthy', 'a beat heals');
  t.equal((await events(db, 'edge.node.status_changed')).length, 3);

  await b.tunnelDown(id, Date.now(), 'closed');
  t.match(await node(db, id), { status: 'unreachable', tunnel_connected: 0 });
  await b.setStatus([{ node_id: id, status: 'unhealthy', at: Date.now(), reason: 'late' }]);
  t.equal((await node(db, id)).status, 'unreachable', 'a node without a tunnel stays unreachable');

  // Re-enrollment of the same node id, proven by its token: a new token replaces the old one.
  const again = await b.enroll({ secret, node_id: id, id_type: 'persistent', agent_version: '1.1.0', node_token: e.api_token });
  t.equal(again.reregistered, true);
  t.equal(await b.authenticate(e.api_token), null, 'old token revoked');
  t.ok(await b.authenticate(again.api_token));
  t.equal((await events(db, 'edge.node.reregistered')).length, 1);
});

bothDialects(t, 'resume set, delivery acks, results and events are idempotent', async (t, ctx) => {
  const { db } = await ctx.open();
  const b = new SqlTunnelBackend(db, 1000);
  const secret = await key(db, await cluster(db, 'prod'), null);
  const id = newId();
  const other = newId();
  await b.enroll({ secret, node_id: id, id_type: 'random' });
  await b.enroll({ secret, node_id: other, id_type: 'random' });
  const tn = { node_id: id, cluster_name: 'prod' };

  const first = await createCommand(db, { command_text: 'echo one', targeting: { type: 'nodes', node_ids: [id] }, timeout: 5000 });
  const second = await createCommand(db, { command_text: 'echo two', targeting: { type: 'nodes', node_ids: [id] } }, new Date(Date.now() + 1));
  const gone = await createCommand(db, { command_text: 'late', targeting: { type: 'nodes', node_ids: [id] }, expired_at: iso(Date.now() + 60_000) });
  t.equal((await expireDue(db, new Date(Date.now() + 120_000))).expired, 1, 'the third one is past its deadline');
  const [e1, e2] = [first.deliveries[0].deliver.execution_id, second.deliveries[0].deliver.execution_id];

  let r = await b.tunnelUp(tn, info(), Date.now());
  t.same(r.deliveries.map((d) => d.command_text), ['echo one', 'echo two'], 'pending executions, oldest first; expired ones are not owed');
  t.match(r.deliveries[0], { execution_id: e1, command_id: first.command.id, timeout_ms: 5000 });
  t.notOk(r.deliveries.some((d) => d.execution_id === gone.deliveries[0].deliver.execution_id));

  const ackAt = Date.now();
  await b.delivered([{ node_id: id, kind: 'command', execution_id: e1, at: ackAt }, { node_id: other, kind: 'command', execution_id: e2, at: ackAt }]);
  await b.delivered([{ node_id: id, kind: 'command', execution_id: e1, at: ackAt + 5 }]);
  t.match(await exec(db, e1), { status: 'sent', sent_at: iso(ackAt) });
  t.equal((await exec(db, e2)).status, 'pending', "another node's ack changes nothing");
  t.equal((await events(db, 'edge.command_execution.sent')).length, 1, 'one sent event for a repeated ack');

  // A cancel requested while sent is owed until the agent acks it.
  t.same(await cancelExecution(db, e1), { kind: 'requested', node_id: id });
  r = await b.tunnelUp(tn, info(), Date.now());
  t.same(r.cancels, [e1]);
  t.same(r.deliveries.map((d) => d.execution_id), [e2]);
  await b.delivered([{ node_id: id, kind: 'cancel', execution_id: e1, at: Date.now() }]);
  t.same((await b.tunnelUp(tn, info(), Date.now())).cancels, [], 'acked cancels are not re-sent');

  // Results: terminal, idempotent, only from the execution's node; a result may overtake its ack.
  const res = { node_id: id, execution_id: e1, status: 'cancelled' as const, exit_code: 143, output: 'bye\n', output_truncated: false, output_dropped_bytes: 0, error: null, started_at: ackAt, completed_at: null, cancelled_at: Date.now() };
  await b.recordResults([res, { ...res, node_id: other, execution_id: e2, status: 'completed', exit_code: 0 }]);
  await b.recordResults([{ ...res, status: 'completed', exit_code: 0, output: 'repeat' }]);
  t.match(await exec(db, e1), { status: 'cancelled', exit_code: 143, output: 'bye\n' });
  t.ok((await exec(db, e1)).cancelled_at);
  t.equal((await exec(db, e2)).status, 'pending', "another node's result is ignored");
  await b.recordResults([{ ...res, execution_id: e2, status: 'completed', exit_code: 3, output: 'two\n', cancelled_at: null, completed_at: Date.now() }]);
  t.match(await exec(db, e2), { status: 'completed', exit_code: 3, output: 'two\n' });
  t.ok((await exec(db, e2)).sent_at, 'sent_at filled when the result came first');
  t.equal((await events(db, 'edge.command_execution.cancelled')).length, 1);
  t.equal((await events(db, 'edge.command_execution.completed')).length, 1);
  t.equal((await events(db, 'edge.command_execution.sent')).length, 2, 'the overtaken ack still yields one sent event');

  // Agent events: once per id.
  const ev = { node_id: id, id: newId(), type: 'agent.custom', time: Date.now(), data: { a: 1 } };
  await b.recordEvents([ev]);
  await b.recordEvents([ev, { ...ev, id: newId() }]);
  t.equal((await db.selectFrom('agent_events').selectAll().execute()).length, 2);
});

bothDialects(t, 'two agents racing for the last use of a key through the route: exactly one wins', async (t, ctx) => {
  const KEY = 'race-master-key';
  const { daemon } = await startInProc(t, ['--admin', 'true', '--admin-port', '0'], { MASTER_KEY: KEY, ...(ctx.databaseUrl ? { DATABASE_URL: ctx.databaseUrl } : {}) });
  const base = `http://127.0.0.1:${daemon.admin!.port}`;
  const post = async (path: string, body: unknown, auth = true) => {
    const r = await request(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${KEY}` } : {}) }, body: JSON.stringify(body) });
    return { status: r.statusCode, json: await r.body.json() as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  t.equal((await post('/api/v1/clusters', { name: 'prod' })).status, 201);
  for (let round = 0; round < 3; round++) {
    const k = await post('/api/v1/clusters/prod/enrollment_keys', { uses_remaining: 1 });
    const [a, b] = await Promise.all([
      post('/api/v1/agent/enroll', { enrollment_key: k.json.data.key, node_id: newId() }, false),
      post('/api/v1/agent/enroll', { enrollment_key: k.json.data.key, node_id: newId() }, false),
    ]);
    t.same([a.status, b.status].sort(), [201, 403], `round ${round}: one enrolled, one refused`);
    const loser = a.status === 403 ? a : b;
    t.equal(loser.json.error.details.reason, 'key_exhausted');
    const winner = a.status === 201 ? a : b;
    t.match(winner.json.data, { cluster_name: 'prod', tunnel_url: `ws://127.0.0.1:${daemon.admin!.port}/api/v1/agent/tunnel` });
  }
  const nodes = await daemon.admin!.store.db.selectFrom('nodes').select('id').execute();
  t.equal(nodes.length, 3, 'one node per key');
});
