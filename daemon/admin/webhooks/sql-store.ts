// The webhook storage ports (ports.ts) over the control-plane store (Kysely; SQLite or
// PostgreSQL): webhooks, the events outbox, webhook_deliveries (the retry state machine) and
// webhook_delivery_attempts (the delivery log, migration 5). Semantics follow test/helpers/memory-webhook-store.ts;
// what SQL adds is concurrency: fanOut marks the event dispatched only while it is undispatched
// and writes its deliveries in the same transaction, and claimDue leases due rows with one
// UPDATE … RETURNING whose subquery takes them FOR UPDATE SKIP LOCKED on PostgreSQL, so several
// admins sharing a database never claim the same delivery at once.
import { sql, type SqlBool } from 'kysely';
import type { Db, DbOrTrx, Dialect } from '../store/db';
import type { WebhookDeliveryRow, WebhookRow } from '../store/schema';
import type {
  AttemptOutcome, AttemptRow, ClaimedDelivery, DeliveryRepo, DeliveryRow, DeliveryStatus, DeliveryUpdate, OutboxEvent, OutboxRepo, Page, StoredWebhook, WebhookListQuery, WebhookRepo,
} from './ports';

const toWebhook = (r: WebhookRow): StoredWebhook => ({
  id: r.id, url: r.url, subscribed_events: JSON.parse(r.subscribed_events) as string[], secret_enc: r.secret_enc, headers_enc: r.headers_enc,
  inserted_at: r.inserted_at, updated_at: r.updated_at,
});

const toDelivery = (r: WebhookDeliveryRow): DeliveryRow => ({ ...r, status: r.status as DeliveryStatus, attempts: Number(r.attempts) });

/** LIKE pattern (ESCAPE '\') for a JSON-array element `"type"`: matches the quoted string inside subscribed_events. */
const elementPattern = (type: string) => `%${JSON.stringify(type).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/** Case-sensitive `*` wildcard match, the memory store's semantics: GLOB on SQLite, LIKE on PostgreSQL. */
function urlMatch(dialect: Dialect, pattern: string) {
  const parts = pattern.split('*');
  if (dialect === 'sqlite') {
    const glob = parts.map((p) => p.replace(/[*?[]/g, (c) => `[${c}]`)).join('*');
    return sql<SqlBool>`url glob ${glob}`;
  }
  const like = parts.map((p) => p.replace(/[\\%_]/g, (c) => `\\${c}`)).join('%');
  return sql<SqlBool>`url like ${like} escape '\\'`;
}

/** The outbox columns of an event (not events.seq, the event sinks' publish order). */
const OUTBOX_COLUMNS = ['id', 'type', 'source', 'subject', 'data', 'time', 'dispatched_at'] as const;

export class SqlWebhookStore implements WebhookRepo, OutboxRepo, DeliveryRepo {
  constructor(private readonly db: Db, private readonly dialect: Dialect) {}

  // ---- WebhookRepo ----

  async insert(w: StoredWebhook): Promise<void> {
    await this.db.insertInto('webhooks').values({ ...w, subscribed_events: JSON.stringify(w.subscribed_events) }).execute();
  }

  async get(id: string): Promise<StoredWebhook | undefined> {
    const r = await this.db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toWebhook(r);
  }

  async list(q: WebhookListQuery): Promise<Page<StoredWebhook>> {
    let base = this.db.selectFrom('webhooks');
    if (q.url !== undefined) base = q.url.includes('*') ? base.where(urlMatch(this.dialect, q.url)) : base.where('url', '=', q.url);
    if (q.event_type !== undefined) base = base.where(sql<SqlBool>`subscribed_events like ${elementPattern(q.event_type)} escape '\\'`);
    if (q.inserted_at_gte !== undefined) base = base.where('inserted_at', '>=', q.inserted_at_gte);
    if (q.inserted_at_lte !== undefined) base = base.where('inserted_at', '<=', q.inserted_at_lte);
    if (q.updated_at_gte !== undefined) base = base.where('updated_at', '>=', q.updated_at_gte);
    if (q.updated_at_lte !== undefined) base = base.where('updated_at', '<=', q.updated_at_lte);
    const { total } = await base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
    let rows = base.selectAll();
    for (const o of q.order) rows = rows.orderBy(o.field, o.direction);
    rows = rows.orderBy('id', 'asc').limit(q.page_size).offset((q.page - 1) * q.page_size);
    return { rows: (await rows.execute()).map(toWebhook), total: Number(total) };
  }

  async delete(id: string): Promise<boolean> {
    // Deliveries and attempts go by ON DELETE CASCADE.
    const res = await this.db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }

  async subscribedTo(type: string): Promise<StoredWebhook[]> {
    // The LIKE narrows on the JSON text; the exact membership test is done on the parsed array.
    const rows = await this.db.selectFrom('webhooks').selectAll().where(sql<SqlBool>`subscribed_events like ${elementPattern(type)} escape '\\'`).orderBy('id').execute();
    return rows.map(toWebhook).filter((w) => w.subscribed_events.includes(type));
  }

  // ---- OutboxRepo ----

  async undispatched(limit: number): Promise<OutboxEvent[]> {
    return this.db.selectFrom('events').select(OUTBOX_COLUMNS).where('dispatched_at', 'is', null).orderBy('time').orderBy('id').limit(limit).execute();
  }

  async fanOut(event: OutboxEvent, webhookIds: string[], at: string, newId: () => string): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // The guard: of two dispatchers fanning out the same event, one updates the row, the
      // other (blocked on its row lock on PostgreSQL until the first commits) updates nothing.
      const marked = await trx.updateTable('events').set({ dispatched_at: at }).where('id', '=', event.id).where('dispatched_at', 'is', null).executeTakeFirst();
      if (Number(marked.numUpdatedRows) === 0) return false;
      if (!webhookIds.length) return true;
      // Webhooks deleted since subscribedTo() are skipped (no delivery for a missing webhook).
      const live = (await trx.selectFrom('webhooks').select('id').where('id', 'in', webhookIds).execute()).map((r) => r.id);
      if (!live.length) return true;
      await trx.insertInto('webhook_deliveries')
        .values(live.map((webhook_id) => ({
          id: newId(), webhook_id, event_id: event.id, event_type: event.type, status: 'pending', attempts: 0, next_attempt_at: at,
          last_status_code: null, last_error: null, delivered_at: null, inserted_at: at, updated_at: at,
        })))
        .onConflict((oc) => oc.columns(['webhook_id', 'event_id']).doNothing())
        .execute();
      return true;
    });
  }

  // ---- DeliveryRepo ----

  async claimDue(now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    const claim = async (db: DbOrTrx) => {
      let due = db.selectFrom('webhook_deliveries as d')
        .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
        .innerJoin('events as e', 'e.id', 'd.event_id')
        .select('d.id')
        .where('d.status', '=', 'pending').where('d.next_attempt_at', '<=', now)
        .orderBy('d.next_attempt_at').orderBy('d.id').limit(limit);
      // Rows another admin is claiming right now are skipped, not waited for.
      if (this.dialect === 'postgres') due = due.forUpdate(['d']).skipLocked();
      return db.updateTable('webhook_deliveries').set({ next_attempt_at: leaseUntil }).where('id', 'in', due).returningAll().execute();
    };
    // SQLite runs every statement on one connection, so the follow-up reads see the claim as
    // written; a transaction keeps them consistent with it on both dialects.
    return this.db.transaction().execute(async (trx) => {
      const leased = (await claim(trx)).map(toDelivery);
      if (!leased.length) return [];
      const hooks = new Map((await trx.selectFrom('webhooks').selectAll().where('id', 'in', [...new Set(leased.map((d) => d.webhook_id))]).execute()).map((r) => [r.id, toWebhook(r)]));
      const events = new Map((await trx.selectFrom('events').select(OUTBOX_COLUMNS).where('id', 'in', [...new Set(leased.map((d) => d.event_id))]).execute()).map((r) => [r.id, r]));
      const out: ClaimedDelivery[] = [];
      for (const d of leased) {
        const webhook = hooks.get(d.webhook_id);
        const event = events.get(d.event_id);
        if (webhook && event) out.push({ delivery: d, webhook, event });
      }
      // Oldest first, as they were due (ties by id) — the lease made next_attempt_at equal.
      return out.sort((a, b) => (a.delivery.inserted_at < b.delivery.inserted_at ? -1 : a.delivery.inserted_at > b.delivery.inserted_at ? 1 : a.delivery.id < b.delivery.id ? -1 : 1));
    });
  }

  async recordAttempt(attempt: AttemptRow, update: DeliveryUpdate): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Update first: on PostgreSQL the row lock holds off a concurrent cascade delete until the
      // attempt is in; no row means the webhook was deleted while the attempt was in flight.
      const res = await trx.updateTable('webhook_deliveries').set(update).where('id', '=', attempt.delivery_id).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) return;
      await trx.insertInto('webhook_delivery_attempts').values(attempt).execute();
    });
  }

  async nextDue(): Promise<string | null> {
    const r = await this.db.selectFrom('webhook_deliveries').select((eb) => eb.fn.min('next_attempt_at').as('due'))
      .where('status', '=', 'pending').where('next_attempt_at', 'is not', null).executeTakeFirst();
    return (r?.due as string | null | undefined) ?? null;
  }

  async listAttempts(webhookId: string, page: number, pageSize: number): Promise<Page<AttemptRow>> {
    const base = this.db.selectFrom('webhook_delivery_attempts').where('webhook_id', '=', webhookId);
    const { total } = await base.select((eb) => eb.fn.countAll<number>().as('total')).executeTakeFirstOrThrow();
    const rows = await base.selectAll().orderBy('inserted_at', 'desc').orderBy('attempt', 'desc').orderBy('id', 'desc')
      .limit(pageSize).offset((page - 1) * pageSize).execute();
    return { rows: rows.map((r) => ({ ...r, outcome: r.outcome as AttemptOutcome })), total: Number(total) };
  }

  async getDelivery(id: string): Promise<DeliveryRow | undefined> {
    const r = await this.db.selectFrom('webhook_deliveries').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toDelivery(r);
  }
}
