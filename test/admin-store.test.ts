// The control-plane store on SQLite and PostgreSQL: migrations run once, constraints and
// cascades as the reference says, enrollment is atomic (racing agents, last use), node tokens,
// heartbeats and status changes with their outbox events.
import t from 'tap';
import { MIGRATIONS, migrate } from '../daemon/admin/store/migrations';
import { authenticateNode, consumeEnrollmentKey, recordHeartbeat, setTunnelState } from '../daemon/admin/store/enroll';
import { EnrollError } from '../daemon/tunnel/enrollment';
import { newKeySecret } from '../daemon/admin/store/enrollment-key';
import { sweepNodeStatuses } from '../daemon/admin/store/status';
import type { Db } from '../daemon/admin/store/db';
import { iso, newId } from '../daemon/admin/store/util';
import { bothDialects } from './helpers/postgres';

let rangeN = 0;
async function cluster(db: Db, name: string, nodeLimit: number | null = null, range = `100.64.${++rangeN}.0/24`) {
  const id = newId();
  const at = iso();
  await db.insertInto('clusters').values({ id, name, ipv4_range: range, node_limit: nodeLimit, inserted_at: at, updated_at: at }).execute();
  return id;
}

async function key(db: Db, clusterId: string, uses: number | null = 1, expiredAt: string | null = null) {
  const id = newId();
  const secret = newKeySecret(id);
  const at = iso();
  await db.insertInto('enrollment_keys').values({ id, cluster_id: clusterId, name: null, key: `blob-${id}`, secret, uses_remaining: uses, expired_at: expiredAt, last_used_at: null, inserted_at: at, updated_at: at }).execute();
  return { id, secret };
}

const nodeInfo = (id: string) => ({ node_id: id, id_type: 'random' as const, version: '0.1.0' });

bothDialects(t, 'migrations are versioned and run once', async (t, ctx) => {
  const s = await ctx.open();
  const rows = await s.db.selectFrom('schema_migrations').selectAll().execute();
  t.same(rows.map((r) => r.version), MIGRATIONS.map((m) => m.version));
  t.same(await migrate(s.db, s.dialect), [], 'a second run applies nothing');
  await s.close();
  const again = await ctx.open();
  t.equal((await again.db.selectFrom('schema_migrations').selectAll().execute()).length, MIGRATIONS.length, 'reopen does not re-apply');
});

bothDialects(t, 'node delete cascades to ssh usernames, keys and aliases; executions keep node_id NULL', async (t, ctx) => {
  const { db } = await ctx.open();
  const c = await cluster(db, 'prod');
  const k = await key(db, c, null);
  const nodeId = newId();
  await consumeEnrollmentKey(db, k.secret, nodeInfo(nodeId));
  const at = iso();
  const userId = newId();
  await db.insertInto('ssh_usernames').values({ id: userId, node_id: nodeId, username: 'deploy', password_hash: null, inserted_at: at, updated_at: at }).execute();
  await db.insertInto('ssh_public_keys').values({ id: newId(), ssh_username_id: userId, key_name: 'laptop', public_key: 'ssh-ed25519 AAAA x', inserted_at: at, updated_at: at }).execute();
  await db.insertInto('aliases').values({ id: newId(), node_id: nodeId, name: 'web', inserted_at: at, updated_at: at }).execute();
  const cmd = newId();
  await db.insertInto('commands').values({ id: cmd, command_text: 'uptime', targeting: '{"type":"all"}', timeout: null, expired_at: null, inserted_at: at, updated_at: at }).execute();
  const exe = newId();
  await db.insertInto('command_executions').values({ id: exe, command_id: cmd, node_id: nodeId, cluster_name: null, target_all: 1, status: 'completed', exit_code: 0, output: 'up', sent_at: at, completed_at: at, cancelled_at: null, cancel_requested_at: null, timeout: null, expired_at: null, inserted_at: at, updated_at: at }).execute();

  await t.rejects(db.deleteFrom('clusters').where('id', '=', c).execute(), 'a cluster with nodes cannot be deleted (restrict)');
  await db.deleteFrom('nodes').where('id', '=', nodeId).execute();
  t.equal((await db.selectFrom('ssh_usernames').selectAll().execute()).length, 0, 'ssh usernames gone');
  t.equal((await db.selectFrom('ssh_public_keys').selectAll().execute()).length, 0, 'ssh keys gone');
  t.equal((await db.selectFrom('aliases').selectAll().execute()).length, 0, 'aliases gone');
  const kept = await db.selectFrom('command_executions').selectAll().where('id', '=', exe).executeTakeFirstOrThrow();
  t.equal(kept.node_id, null, 'execution kept with node_id NULL');
  await db.deleteFrom('commands').where('id', '=', cmd).execute();
  t.equal((await db.selectFrom('command_executions').selectAll().execute()).length, 0, 'command delete cascades to executions');
  await db.deleteFrom('clusters').where('id', '=', c).execute();
  t.equal((await db.selectFrom('enrollment_keys').selectAll().execute()).length, 0, 'an empty cluster goes with its keys');
});

bothDialects(t, 'timestamps round-trip as the same ISO strings and compare as times', async (t, ctx) => {
  const { db } = await ctx.open();
  const at = '2025-06-09T08:00:00.123Z';
  const id = newId();
  await db.insertInto('clusters').values({ id, name: 'a', ipv4_range: '100.64.0.0/24', node_limit: null, inserted_at: at, updated_at: at }).execute();
  const row = await db.selectFrom('clusters').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  t.equal(row.inserted_at, at);
  t.equal(row.node_limit, null);
  const later = await db.selectFrom('clusters').select('id').where('inserted_at', '>', '2025-06-09T08:00:00.122Z').execute();
  t.equal(later.length, 1);
  const none = await db.selectFrom('clusters').select('id').where('inserted_at', '>', '2025-06-09T08:00:00.123Z').execute();
  t.equal(none.length, 0);
});

bothDialects(t, 'enrollment: two agents racing for the last use, exactly one wins', async (t, ctx) => {
  const s = await ctx.open();
  const c = await cluster(s.db, 'edge');
  for (let round = 0; round < 5; round++) {
    const k = await key(s.db, c, 1);
    const results = await Promise.allSettled([consumeEnrollmentKey(s.db, k.secret, nodeInfo(newId())), consumeEnrollmentKey(s.db, k.secret, nodeInfo(newId()))]);
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    t.equal(won.length, 1, `round ${round}: one winner`);
    t.equal(lost.length, 1, `round ${round}: one loser`);
    t.ok(lost[0].reason instanceof EnrollError && lost[0].reason.code === 'key_exhausted', 'the loser is told the key is spent');
    const row = await s.db.selectFrom('enrollment_keys').selectAll().where('id', '=', k.id).executeTakeFirstOrThrow();
    t.equal(row.uses_remaining, 0);
    t.ok(row.last_used_at);
  }
  // Many racers for 3 uses: exactly 3 win.
  const k3 = await key(s.db, c, 3);
  const many = await Promise.allSettled(Array.from({ length: 8 }, () => consumeEnrollmentKey(s.db, k3.secret, nodeInfo(newId()))));
  t.equal(many.filter((r) => r.status === 'fulfilled').length, 3, '3 uses, 3 winners of 8');
});

bothDialects(t, 'enrollment errors: unknown key, wrong secret, expired, full cluster (use not spent)', async (t, ctx) => {
  const { db } = await ctx.open();
  const c = await cluster(db, 'small', 1);
  const code = async (p: Promise<unknown>) => { try { await p; return 'ok'; } catch (e) { return (e as EnrollError).code; } };
  t.equal(await code(consumeEnrollmentKey(db, 'garbage', nodeInfo(newId()))), 'invalid_key');
  const k = await key(db, c, 5);
  t.equal(await code(consumeEnrollmentKey(db, `${k.id}.wrong`, nodeInfo(newId()))), 'invalid_key');
  t.equal(await code(consumeEnrollmentKey(db, k.secret, nodeInfo('bad id!'))), 'validation_failed');
  const old = await key(db, c, null, '2020-01-01T00:00:00.000Z');
  t.equal(await code(consumeEnrollmentKey(db, old.secret, nodeInfo(newId()))), 'key_expired');
  const first = newId();
  const e1 = await consumeEnrollmentKey(db, k.secret, nodeInfo(first));
  t.equal(await code(consumeEnrollmentKey(db, k.secret, nodeInfo(newId()))), 'node_limit');
  t.equal((await db.selectFrom('enrollment_keys').select('uses_remaining').where('id', '=', k.id).executeTakeFirstOrThrow()).uses_remaining, 4, 'the failed enrollment spent no use');
  t.equal(await code(consumeEnrollmentKey(db, k.secret, nodeInfo(first), undefined, e1.api_token)), 'ok', 're-enrolling a node already in the full cluster (proven) is fine');
  t.equal(await code(consumeEnrollmentKey(db, k.secret, nodeInfo(first))), 'node_limit', 'without proof it would be a new node: the full cluster refuses it');
});

bothDialects(t, 're-enrollment proven by the node\'s token updates the node and revokes its old token; tokens authenticate in constant time', async (t, ctx) => {
  const { db } = await ctx.open();
  const c = await cluster(db, 'a');
  const k = await key(db, c, null);
  const k2 = await key(db, c, null);
  const id = newId();
  const e1 = await consumeEnrollmentKey(db, k.secret, { ...nodeInfo(id), id_type: 'persistent' });
  t.equal(e1.reenrolled, false);
  t.equal((await authenticateNode(db, e1.api_token))?.id, id);
  t.equal(await authenticateNode(db, `${id}.nope`), null, 'wrong secret');
  t.equal(await authenticateNode(db, 'no-dot'), null);
  const e2 = await consumeEnrollmentKey(db, k2.secret, { ...nodeInfo(id), version: '0.2.0' }, new Date(), e1.api_token);
  t.equal(e2.reenrolled, true, 'another key of the same cluster, with the node\'s token: re-registered in place');
  t.equal(e2.node_id, id);
  t.equal(e2.requested_node_id, undefined);
  t.equal(await authenticateNode(db, e1.api_token), null, 'old token revoked');
  const node = await authenticateNode(db, e2.api_token);
  t.equal(node?.version, '0.2.0');
  t.equal((await db.selectFrom('nodes').select('id').execute()).length, 1, 'still one node');
  const types = (await db.selectFrom('events').select('type').orderBy('time').orderBy('id').execute()).map((r) => r.type);
  for (const ty of ['edge.enrollment_key.verified', 'edge.node.registered', 'edge.node.reregistered', 'edge.node.version_changed']) t.ok(types.includes(ty), `${ty} in the outbox`);
  t.notOk(JSON.stringify(await db.selectFrom('nodes').selectAll().execute()).includes(e2.api_token.split('.')[1]), 'the token secret is not stored');
});

bothDialects(t, 'takeover attempts: a known node id without its token, or with a key of another cluster, never touches that node', async (t, ctx) => {
  const { db } = await ctx.open();
  const a = await cluster(db, 'victims');
  const b = await cluster(db, 'attackers');
  const victimKey = await key(db, a, null);
  const sameClusterKey = await key(db, a, null);
  const otherClusterKey = await key(db, b, null);
  const victimId = newId();
  const victim = await consumeEnrollmentKey(db, victimKey.secret, { ...nodeInfo(victimId), node_name: 'web-1', ip_address: '10.0.0.7' });
  const before = await db.selectFrom('nodes').selectAll().where('id', '=', victimId).executeTakeFirstOrThrow();
  const victimUntouched = async (what: string) => {
    const now = await db.selectFrom('nodes').selectAll().where('id', '=', victimId).executeTakeFirstOrThrow();
    t.same(now, before, `${what}: the victim's row is unchanged (cluster, token hash, name, address)`);
    t.equal((await authenticateNode(db, victim.api_token))?.id, victimId, `${what}: the victim's token still authenticates`);
  };
  const forged = `${victimId}.${'A'.repeat(43)}`;
  const attempts: Array<[string, string, string | undefined]> = [
    ['same-cluster key, no token', sameClusterKey.secret, undefined],
    ['same-cluster key, a wrong token', sameClusterKey.secret, forged],
    ['other-cluster key, no token', otherClusterKey.secret, undefined],
    ['other-cluster key, a wrong token', otherClusterKey.secret, forged],
    // Even the victim's real token does not let a key of cluster B move it out of cluster A.
    ['other-cluster key, the victim\'s own token', otherClusterKey.secret, victim.api_token],
  ];
  const ids = new Set<string>([victimId]);
  for (const [what, secret, token] of attempts) {
    const e = await consumeEnrollmentKey(db, secret, { ...nodeInfo(victimId), node_name: 'evil', id_type: 'persistent' }, new Date(), token);
    t.equal(e.reenrolled, false, `${what}: not a re-registration`);
    t.not(e.node_id, victimId, `${what}: a new node id`);
    t.equal(e.requested_node_id, victimId, `${what}: the answer says which id was refused`);
    t.notOk(ids.has(e.node_id), `${what}: a fresh id`);
    ids.add(e.node_id);
    const created = await authenticateNode(db, e.api_token);
    t.equal(created?.id, e.node_id, `${what}: the attacker holds a token of the new node only`);
    t.equal(created?.id_type, 'random', `${what}: the new id is the admin's random id`);
    t.equal(created?.cluster_id, secret === otherClusterKey.secret ? b : a, `${what}: the new node is in the key's cluster`);
    await victimUntouched(what);
  }
  const reregistered = await db.selectFrom('events').select(['type', 'subject']).where('type', 'in', ['edge.node.reregistered', 'edge.node.cluster_changed']).execute();
  t.same(reregistered, [], 'no reregistered or cluster_changed event');
  // The victim itself still re-enrolls in place.
  const again = await consumeEnrollmentKey(db, sameClusterKey.secret, nodeInfo(victimId), new Date(), victim.api_token);
  t.equal(again.reenrolled, true);
  t.equal(again.node_id, victimId);
});

bothDialects(t, 'status: unreachable → healthy on tunnel + heartbeat, unhealthy when late, unreachable when the tunnel drops; one event per change', async (t, ctx) => {
  const { db } = await ctx.open();
  const c = await cluster(db, 'hb');
  const k = await key(db, c, null);
  const id = newId();
  await consumeEnrollmentKey(db, k.secret, nodeInfo(id));
  const status = async () => (await db.selectFrom('nodes').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
  t.equal(await status(), 'unreachable', 'enrolled, no tunnel yet');
  const interval = 1000;
  t.equal(await setTunnelState(db, id, true, interval), 'unhealthy', 'tunnel up, no heartbeat yet');
  t.equal(await recordHeartbeat(db, id, new Date(), { version: '0.1.1' }, interval), 'healthy');
  t.same(await sweepNodeStatuses(db, interval), [], 'fresh heartbeat: nothing to sweep');
  t.same(await sweepNodeStatuses(db, interval, new Date(Date.now() + 3 * interval + 50)), [id], 'three intervals later: late');
  t.equal(await status(), 'unhealthy');
  t.equal(await recordHeartbeat(db, id, new Date(), {}, interval), 'healthy');
  t.equal(await setTunnelState(db, id, false, interval), 'unreachable');
  t.equal(await recordHeartbeat(db, 'unknown-node-1', new Date(), {}, interval), null);
  const changes = await db.selectFrom('events').select(['data']).where('type', '=', 'edge.node.status_changed').orderBy('time').orderBy('id').execute();
  // (the sweep's event carries the simulated time, so compare as a multiset)
  t.same(changes.map((e) => JSON.parse(e.data).status as string).sort(), ['healthy', 'healthy', 'unhealthy', 'unhealthy', 'unreachable']);
  t.ok((await db.selectFrom('events').select('type').where('type', '=', 'edge.node.version_changed').execute()).length >= 1, 'version change event');
});
