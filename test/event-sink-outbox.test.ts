// The event sinks' outbox order (daemon/admin/event-sinks/outbox.ts), on SQLite and PostgreSQL:
// seq is handed out after commit, so an event committed after the cursor moved — even one with
// an older time (an agent's event reported late) — is still ahead of the cursor; concurrent
// sequencers (two admins) never hand out a number twice; the cursor only moves forward; and
// retention keeps what a live sink has not published.
import t from 'tap';
import { SinkOutbox } from '../daemon/admin/event-sinks';
import { emitEvent } from '../daemon/admin/store/events';
import { pruneLogs } from '../daemon/admin/store/prune';
import { bothDialects } from './helpers/postgres';

bothDialects(t, 'a late event with an old time is still ahead of the cursor', async (t, ctx) => {
  const store = await ctx.open();
  const outbox = new SinkOutbox(store.db, store.dialect);
  t.equal(await outbox.open('s'), 0, 'a new sink starts at the beginning');
  const a = await emitEvent(store.db, 'edge.node.registered', { node_id: 'a' }, 'a');
  t.equal(await outbox.lag(0), 1, 'unsequenced events count as lag');
  t.equal(await outbox.sequence(), 1);
  const first = await outbox.after(0, 10);
  t.same(first.map((e) => [e.id, e.seq]), [[a.id, 1]]);
  await outbox.advance('s', 1);
  t.equal(await outbox.position('s'), 1);

  // Committed now, stamped an hour ago: ordered by time it would sit behind the cursor.
  const late = await emitEvent(store.db, 'edge.ssh_username.verified', { node_id: 'b', username: 'u', method: 'password' }, 'b', new Date(Date.now() - 3_600_000));
  t.equal(await outbox.sequence(), 1);
  t.same((await outbox.after(1, 10)).map((e) => [e.id, e.seq]), [[late.id, 2]], 'the late event gets the next number');
  t.equal(await outbox.lag(1), 1);
  await outbox.advance('s', 2);
  await outbox.advance('s', 1);
  t.equal(await outbox.position('s'), 2, 'the cursor never moves back');
  t.equal(await outbox.lag(2), 0);
});

bothDialects(t, 'concurrent sequencers hand out each number once', async (t, ctx) => {
  const s1 = await ctx.open();
  const s2 = ctx.dialect === 'postgres' ? await ctx.open() : s1; // two pools: two admins on one database
  for (let i = 0; i < 120; i++) await emitEvent(s1.db, 'edge.node.status_changed', { node_id: `n${i}`, previous_status: 'healthy', status: 'unreachable' }, `n${i}`);
  const o1 = new SinkOutbox(s1.db, s1.dialect);
  const o2 = new SinkOutbox(s2.db, s2.dialect);
  let total = 0;
  for (;;) {
    const [x, y] = await Promise.all([o1.sequence(25), o2.sequence(25)]);
    total += x + y;
    if (x + y === 0) break;
  }
  t.equal(total, 120);
  const seqs = (await s1.db.selectFrom('events').select('seq').orderBy('seq').execute()).map((r) => Number(r.seq));
  t.same(seqs, Array.from({ length: 120 }, (_, i) => i + 1), 'seq 1..120, no gap, no repeat');
});

bothDialects(t, 'retention keeps events a live sink has not published', async (t, ctx) => {
  const { db, dialect } = await ctx.open();
  const now = new Date('2026-06-30T12:00:00.000Z');
  const old = new Date(now.getTime() - 40 * 86_400_000);
  const outbox = new SinkOutbox(db, dialect);
  for (let i = 0; i < 4; i++) await emitEvent(db, 'edge.node.registered', { node_id: `n${i}` }, `n${i}`, old);
  await db.updateTable('events').set({ dispatched_at: old.toISOString() }).execute();
  await outbox.sequence();
  await outbox.open('live');
  await outbox.advance('live', 2);
  await db.updateTable('event_sink_cursors').set({ updated_at: now.toISOString() }).where('sink', '=', 'live').execute();
  // A sink gone from the configuration long ago does not hold events back.
  await db.insertInto('event_sink_cursors').values({ sink: 'gone', position: 0, updated_at: old.toISOString() }).execute();
  t.match(await pruneLogs(db, 30, now), { events: 2 }, 'only what the live sink published');
  t.same((await db.selectFrom('events').select('seq').orderBy('seq').execute()).map((r) => Number(r.seq)), [3, 4]);
  await outbox.advance('live', 4);
  await db.updateTable('event_sink_cursors').set({ updated_at: now.toISOString() }).where('sink', '=', 'live').execute();
  t.match(await pruneLogs(db, 30, now), { events: 2 });
});
