// Retention for the admin's append-only logs. Events already fanned out to webhooks, finished
// webhook deliveries (their attempt log goes with them) and events agents reported are deleted
// once older than admin.event_retention_days, in bounded batches so that no pass holds a long
// write lock. Undispatched events, events an event sink has not published, and deliveries still
// being retried are never touched.
import type { Db } from './db';

export interface PruneResult { events: number; deliveries: number; attempts: number; agent_events: number }

const BATCH = 5000;

export async function pruneLogs(db: Db, retentionDays: number, now: Date = new Date()): Promise<PruneResult> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000).toISOString();
  const out: PruneResult = { events: 0, deliveries: 0, attempts: 0, agent_events: 0 };
  // Each step deletes `id IN (a page of matching ids)` until a page comes back short: the same
  // statement on SQLite and PostgreSQL, and each batch is its own short transaction.
  const drain = async (step: () => Promise<number>): Promise<number> => {
    let total = 0;
    for (;;) {
      const n = await step();
      total += n;
      if (n < BATCH) return total;
    }
  };
  const count = (r: { numDeletedRows: bigint }) => Number(r.numDeletedRows);

  // Attempts first (explicitly, not only by cascade: the count is reported).
  out.attempts = await drain(async () => count(await db.deleteFrom('webhook_delivery_attempts').where('id', 'in', (eb) => eb
    .selectFrom('webhook_delivery_attempts as a').innerJoin('webhook_deliveries as d', 'd.id', 'a.delivery_id').select('a.id')
    .where('d.status', 'in', ['delivered', 'failed']).where('d.updated_at', '<', cutoff).limit(BATCH)).executeTakeFirst()));
  out.deliveries = await drain(async () => count(await db.deleteFrom('webhook_deliveries').where('id', 'in', (eb) => eb
    .selectFrom('webhook_deliveries as d').select('d.id')
    .where('d.status', 'in', ['delivered', 'failed']).where('d.updated_at', '<', cutoff).limit(BATCH)).executeTakeFirst()));
  // Events an event sink has not published yet are kept too: the lowest cursor of the sinks that
  // ran within the retention period (a sink removed from the configuration stops holding events
  // back once its cursor is that old).
  const floor = await db.selectFrom('event_sink_cursors').select((eb) => eb.fn.min('position').as('p')).where('updated_at', '>=', cutoff).executeTakeFirst();
  const published = floor?.p === null || floor?.p === undefined ? undefined : Number(floor.p);
  out.events = await drain(async () => count(await db.deleteFrom('events').where('id', 'in', (eb) => {
    let q = eb.selectFrom('events as e').select('e.id').where('e.dispatched_at', 'is not', null).where('e.time', '<', cutoff);
    if (published !== undefined) q = q.where('e.seq', '<=', published);
    return q.limit(BATCH);
  }).executeTakeFirst()));
  out.agent_events = await drain(async () => count(await db.deleteFrom('agent_events').where('id', 'in', (eb) => eb
    .selectFrom('agent_events as g').select('g.id').where('g.time', '<', cutoff).limit(BATCH)).executeTakeFirst()));
  return out;
}
