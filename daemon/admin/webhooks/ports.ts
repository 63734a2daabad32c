// The storage ports the webhook feature needs, and nothing more: the control-plane store
// (SQLite/PostgreSQL) implements them at merge; test/helpers/memory-webhook-store.ts implements
// them for tests and as the executable description of their semantics. Row shapes follow the
// admin store's conventions: text UUID ids, ISO-8601 UTC timestamps with milliseconds, JSON as text.

/** A webhook as stored. `secret_enc` / `headers_enc` are SecretBox ciphertexts (never returned by the API). */
export interface StoredWebhook {
  id: string;
  url: string;
  /** Literal event types from the catalog; at least one. */
  subscribed_events: string[];
  secret_enc: string;
  /** Encrypted JSON object of extra request headers, or null when there are none. */
  headers_enc: string | null;
  inserted_at: string;
  updated_at: string;
}

export type SortField = 'id' | 'url' | 'inserted_at' | 'updated_at';

export interface WebhookListQuery {
  /** 1-based. */
  page: number;
  page_size: number;
  /** Exact URL, or a pattern where `*` matches any run of characters (prefix*, *suffix, *substring*). */
  url?: string;
  /** Only webhooks whose subscribed_events contain this type. */
  event_type?: string;
  /** Inclusive bounds, already normalized to full ISO timestamps (date-only expanded). */
  inserted_at_gte?: string;
  inserted_at_lte?: string;
  updated_at_gte?: string;
  updated_at_lte?: string;
  /** Sort keys in order; implementations append `id asc` as a tiebreaker. */
  order: Array<{ field: SortField; direction: 'asc' | 'desc' }>;
}

export interface Page<T> { rows: T[]; total: number }

export interface WebhookRepo {
  insert(w: StoredWebhook): Promise<void>;
  get(id: string): Promise<StoredWebhook | undefined>;
  list(q: WebhookListQuery): Promise<Page<StoredWebhook>>;
  /** Deletes the webhook and (cascade) its deliveries and attempt log. False when it did not exist. */
  delete(id: string): Promise<boolean>;
  /** Webhooks whose subscribed_events contain `type` (the fan-out query). */
  subscribedTo(type: string): Promise<StoredWebhook[]>;
}

/** One event of the durable outbox (admin-core's `events` table, written by emitEvent in the change's transaction). */
export interface OutboxEvent {
  id: string;
  type: string;
  /** CloudEvents `source`; empty → the dispatcher's default (`/outpost/admin/<admin id>`). */
  source: string;
  subject: string | null;
  /** The event payload as JSON text. */
  data: string;
  time: string;
  /** Set when the event has been fanned out to its webhooks. */
  dispatched_at: string | null;
}

export interface OutboxRepo {
  /** Events with dispatched_at null, oldest (time, id) first. */
  undispatched(limit: number): Promise<OutboxEvent[]>;
  /**
   * In ONE transaction: set the event's dispatched_at = `at` only if it is still null, and if so
   * insert one pending delivery per webhook id (next_attempt_at = `at`, attempts 0; unique on
   * (webhook_id, event_id)). Returns false when another dispatcher got there first (nothing inserted).
   */
  fanOut(event: OutboxEvent, webhookIds: string[], at: string, newId: () => string): Promise<boolean>;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** One (webhook, event) delivery: the retry state machine. Mirrors admin-core's webhook_deliveries row. */
export interface DeliveryRow {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  /** Attempts made so far. */
  attempts: number;
  /** When the next attempt is due (pending), or the lease deadline of an attempt in flight; null once final. */
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: string | null;
  inserted_at: string;
  updated_at: string;
}

export type AttemptOutcome = 'ok' | 'recoverable' | 'terminal';

/** One HTTP attempt: the delivery log (a new table, `webhook_delivery_attempts`, on the SQL store). */
export interface AttemptRow {
  id: string;
  delivery_id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  /** 1-based attempt number within its delivery. */
  attempt: number;
  outcome: AttemptOutcome;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
  /** When the attempt finished. */
  inserted_at: string;
}

export interface ClaimedDelivery { delivery: DeliveryRow; webhook: StoredWebhook; event: OutboxEvent }

export interface DeliveryUpdate {
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: string | null;
  updated_at: string;
}

export interface DeliveryRepo {
  /**
   * Atomically claims up to `limit` pending deliveries with next_attempt_at <= now (oldest due
   * first) by moving their next_attempt_at to `leaseUntil`, and returns them with their webhook
   * and event. A claim that is never finished (crash) becomes due again at `leaseUntil`.
   * SQL: UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED on PostgreSQL) RETURNING, joined.
   */
  claimDue(now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]>;
  /** In one transaction: append the attempt to the log and apply `update` to its delivery. */
  recordAttempt(attempt: AttemptRow, update: DeliveryUpdate): Promise<void>;
  /** The earliest next_attempt_at among pending deliveries (for the dispatcher's sleep), or null. */
  nextDue(): Promise<string | null>;
  /** The delivery log of one webhook, newest first. */
  listAttempts(webhookId: string, page: number, pageSize: number): Promise<Page<AttemptRow>>;
  getDelivery(id: string): Promise<DeliveryRow | undefined>;
}

/** Resolves a host name to addresses (dns.lookup with all: true by default; injectable for tests). */
export type Resolver = (hostname: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;
