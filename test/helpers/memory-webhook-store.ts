// An in-memory implementation of the webhook storage ports (ports.ts), used by the webhook
// tests as the store double and as a reference for the SQL implementation's semantics. It
// stores rows as JSON text (copies in, copies out) so callers can neither alias nor mutate
// stored state, and so tests can inspect the exact stored bytes.
import { randomUUID } from 'node:crypto';
import type {
  AttemptRow, ClaimedDelivery, DeliveryRepo, DeliveryRow, DeliveryUpdate, OutboxEvent, OutboxRepo, Page, StoredWebhook, WebhookListQuery, WebhookRepo,
} from '../../daemon/admin/webhooks/ports';

const copy = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** `*` wildcards (any run of characters) → anchored RegExp; no `*` → exact match. */
function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
}

export class MemoryWebhookStore implements WebhookRepo, OutboxRepo, DeliveryRepo {
  /** Stored rows as serialized JSON: what "at rest" means for this store. */
  readonly webhookRows = new Map<string, string>();
  readonly events = new Map<string, OutboxEvent>();
  readonly deliveries = new Map<string, DeliveryRow>();
  readonly attempts: AttemptRow[] = [];

  // ---- test helpers (not part of the ports) ----

  /** What admin-core's emitEvent does: append an event to the outbox. */
  emit(type: string, data: unknown, opts: { id?: string; source?: string; subject?: string; time?: string } = {}): OutboxEvent {
    const ev: OutboxEvent = {
      id: opts.id ?? randomUUID(), type, source: opts.source ?? '', subject: opts.subject ?? null,
      data: JSON.stringify(data), time: opts.time ?? new Date().toISOString(), dispatched_at: null,
    };
    this.events.set(ev.id, ev);
    return copy(ev);
  }

  // ---- WebhookRepo ----

  async insert(w: StoredWebhook): Promise<void> {
    if (this.webhookRows.has(w.id)) throw new Error(`duplicate webhook id ${w.id}`);
    this.webhookRows.set(w.id, JSON.stringify(w));
  }

  async get(id: string): Promise<StoredWebhook | undefined> {
    const raw = this.webhookRows.get(id);
    return raw === undefined ? undefined : (JSON.parse(raw) as StoredWebhook);
  }

  async list(q: WebhookListQuery): Promise<Page<StoredWebhook>> {
    const url = q.url === undefined ? undefined : globToRegExp(q.url);
    let rows = [...this.webhookRows.values()].map((r) => JSON.parse(r) as StoredWebhook).filter((w) =>
      (!url || url.test(w.url)) &&
      (q.event_type === undefined || w.subscribed_events.includes(q.event_type)) &&
      (q.inserted_at_gte === undefined || w.inserted_at >= q.inserted_at_gte) &&
      (q.inserted_at_lte === undefined || w.inserted_at <= q.inserted_at_lte) &&
      (q.updated_at_gte === undefined || w.updated_at >= q.updated_at_gte) &&
      (q.updated_at_lte === undefined || w.updated_at <= q.updated_at_lte));
    const order = [...q.order, { field: 'id' as const, direction: 'asc' as const }];
    rows.sort((a, b) => {
      for (const o of order) {
        const c = a[o.field] < b[o.field] ? -1 : a[o.field] > b[o.field] ? 1 : 0;
        if (c) return o.direction === 'asc' ? c : -c;
      }
      return 0;
    });
    const total = rows.length;
    rows = rows.slice((q.page - 1) * q.page_size, q.page * q.page_size);
    return { rows, total };
  }

  async delete(id: string): Promise<boolean> {
    if (!this.webhookRows.delete(id)) return false;
    for (const [k, d] of this.deliveries) if (d.webhook_id === id) this.deliveries.delete(k);
    for (let i = this.attempts.length - 1; i >= 0; i--) if (this.attempts[i].webhook_id === id) this.attempts.splice(i, 1);
    return true;
  }

  async subscribedTo(type: string): Promise<StoredWebhook[]> {
    return [...this.webhookRows.values()].map((r) => JSON.parse(r) as StoredWebhook).filter((w) => w.subscribed_events.includes(type));
  }

  // ---- OutboxRepo ----

  async undispatched(limit: number): Promise<OutboxEvent[]> {
    return [...this.events.values()]
      .filter((e) => e.dispatched_at === null)
      .sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.id < b.id ? -1 : 1))
      .slice(0, limit).map(copy);
  }

  async fanOut(event: OutboxEvent, webhookIds: string[], at: string, newId: () => string): Promise<boolean> {
    const stored = this.events.get(event.id);
    if (!stored || stored.dispatched_at !== null) return false;
    stored.dispatched_at = at;
    const existing = new Set([...this.deliveries.values()].filter((d) => d.event_id === event.id).map((d) => d.webhook_id));
    for (const webhook_id of webhookIds) {
      if (existing.has(webhook_id)) continue;
      const id = newId();
      this.deliveries.set(id, {
        id, webhook_id, event_id: event.id, event_type: event.type, status: 'pending', attempts: 0, next_attempt_at: at,
        last_status_code: null, last_error: null, delivered_at: null, inserted_at: at, updated_at: at,
      });
    }
    return true;
  }

  // ---- DeliveryRepo ----

  async claimDue(now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]> {
    const due = [...this.deliveries.values()]
      .filter((d) => d.status === 'pending' && d.next_attempt_at !== null && d.next_attempt_at <= now)
      .sort((a, b) => (a.next_attempt_at! < b.next_attempt_at! ? -1 : a.next_attempt_at! > b.next_attempt_at! ? 1 : a.id < b.id ? -1 : 1));
    const out: ClaimedDelivery[] = [];
    for (const d of due) {
      if (out.length >= limit) break;
      const webhook = await this.get(d.webhook_id);
      const event = this.events.get(d.event_id);
      if (!webhook || !event) continue; // the SQL join drops these too (cascade makes them rare)
      d.next_attempt_at = leaseUntil;
      out.push({ delivery: copy(d), webhook, event: copy(event) });
    }
    return out;
  }

  async recordAttempt(attempt: AttemptRow, update: DeliveryUpdate): Promise<void> {
    const d = this.deliveries.get(attempt.delivery_id);
    if (!d) return; // the webhook was deleted while the attempt was in flight
    this.attempts.push(copy(attempt));
    Object.assign(d, update);
  }

  async nextDue(): Promise<string | null> {
    let min: string | null = null;
    for (const d of this.deliveries.values()) if (d.status === 'pending' && d.next_attempt_at !== null && (min === null || d.next_attempt_at < min)) min = d.next_attempt_at;
    return min;
  }

  async listAttempts(webhookId: string, page: number, pageSize: number): Promise<Page<AttemptRow>> {
    const rows = this.attempts.filter((a) => a.webhook_id === webhookId).reverse();
    return { rows: rows.slice((page - 1) * pageSize, page * pageSize).map(copy), total: rows.length };
  }

  async getDelivery(id: string): Promise<DeliveryRow | undefined> {
    const d = this.deliveries.get(id);
    return d && copy(d);
  }
}
