// The event sinks' view of the outbox (the `events` table the webhooks read too), over the admin
// store on SQLite or PostgreSQL. Sinks do not use dispatched_at (that is the webhook fan-out's
// mark); they read in events.seq order past a durable cursor of their own:
//
// - sequence(): hands out seq numbers to committed events that have none, oldest (time, id)
//   first, continuing from event_sequence.last_seq. One sequencer at a time: on PostgreSQL the
//   event_sequence row is taken FOR UPDATE (several admins on one database), on SQLite every
//   transaction is serialized anyway. Because seq is handed out after commit, an event whose
//   transaction commits late — or an agent event carrying an old time — still gets a seq above
//   every cursor; a time-ordered cursor would skip it.
// - after(): the next events past a cursor, in seq order.
// - advance(): moves a sink's cursor forward only (of two admins publishing the same events, the
//   one further ahead wins; nothing at or below a cursor is unpublished).
import { sql } from 'kysely';
import type { Db, Dialect } from '../store/db';
import { iso } from '../store/util';

export interface SequencedEvent { seq: number; id: string; type: string; source: string; subject: string | null; data: string; time: string }

export class SinkOutbox {
  constructor(private readonly db: Db, private readonly dialect: Dialect) {}

  /** Gives up to `limit` unsequenced events their seq; returns how many. */
  async sequence(limit = 500): Promise<number> {
    // Cheap check first: no write transaction (no lock) while there is nothing new.
    const any = await this.db.selectFrom('events').select('id').where('seq', 'is', null).limit(1).executeTakeFirst();
    if (!any) return 0;
    return this.db.transaction().execute(async (trx) => {
      let counter = trx.selectFrom('event_sequence').select('last_seq').where('name', '=', 'events');
      if (this.dialect === 'postgres') counter = counter.forUpdate();
      const row = await counter.executeTakeFirstOrThrow();
      // One statement numbers the batch (UPDATE … FROM and row_number(): SQLite ≥ 3.33 and
      // PostgreSQL). Run after the lock: what another sequencer numbered meanwhile is no longer null.
      const base = Number(row.last_seq);
      const res = await sql`
        update events set seq = numbered.n
        from (select id, ${base} + row_number() over (order by time, id) as n
              from events where seq is null order by time, id limit ${limit}) as numbered
        where events.id = numbered.id`.execute(trx);
      const count = Number(res.numAffectedRows ?? 0);
      if (count) await trx.updateTable('event_sequence').set({ last_seq: base + count }).where('name', '=', 'events').execute();
      return count;
    });
  }

  /** The sink's cursor; a new sink starts at 0 (every event still in the outbox). Touches updated_at (the prune guard's liveness). */
  async open(sink: string): Promise<number> {
    const at = iso();
    await this.db.insertInto('event_sink_cursors').values({ sink, position: 0, updated_at: at }).onConflict((oc) => oc.column('sink').doNothing()).execute();
    await this.db.updateTable('event_sink_cursors').set({ updated_at: at }).where('sink', '=', sink).execute();
    return this.position(sink);
  }

  async position(sink: string): Promise<number> {
    const r = await this.db.selectFrom('event_sink_cursors').select('position').where('sink', '=', sink).executeTakeFirst();
    return Number(r?.position ?? 0);
  }

  async after(position: number, limit: number): Promise<SequencedEvent[]> {
    const rows = await this.db.selectFrom('events').select(['seq', 'id', 'type', 'source', 'subject', 'data', 'time'])
      .where('seq', '>', position).orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  /** Marks the sink alive (updated_at) without moving it: retention keeps what a live sink has not published. */
  async touch(sink: string): Promise<void> {
    await this.db.updateTable('event_sink_cursors').set({ updated_at: iso() }).where('sink', '=', sink).execute();
  }

  /** Moves the cursor to `to` unless it is already there or beyond. */
  async advance(sink: string, to: number): Promise<void> {
    await this.db.updateTable('event_sink_cursors').set({ position: to, updated_at: iso() }).where('sink', '=', sink).where('position', '<', to).execute();
  }

  /** Events not yet published past `position` (sequenced or not). */
  async lag(position: number): Promise<number> {
    // Two counts on the events_seq index (an OR would scan the table).
    const count = sql<number | string>`count(*)`.as('n');
    const [ahead, unsequenced] = await Promise.all([
      this.db.selectFrom('events').select(count).where('seq', '>', position).executeTakeFirstOrThrow(),
      this.db.selectFrom('events').select(count).where('seq', 'is', null).executeTakeFirstOrThrow(),
    ]);
    return Number(ahead.n) + Number(unsequenced.n);
  }
}
