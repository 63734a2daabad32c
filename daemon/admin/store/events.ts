// The event catalog of the reference (Events.Type; the one list of the admin — the webhook code
// re-exports it) and the durable outbox. emitEvent() writes
// the event in the caller's transaction, so an event exists exactly when its change committed;
// the webhook dispatcher (and later NATS) reads undispatched rows in (time, id) order.
import type { DbOrTrx } from './db';
import { iso, newId } from './util';

/** In catalog order, as GET /api/v1/event_types returns it. */
export const EVENT_TYPES = [
  'edge.enrollment_key.verified',
  'edge.node.registered',
  'edge.node.reregistered',
  'edge.node.version_changed',
  'edge.node.status_changed',
  'edge.node.cluster_changed',
  'edge.node.update_triggered',
  'edge.command_execution.created',
  'edge.command_execution.sent',
  'edge.command_execution.completed',
  'edge.command_execution.cancelled',
  'edge.command_execution.expired',
  'edge.command_execution.pruned',
  'edge.ssh_username.verified',
  'edge.self_update_request.completed',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];
const KNOWN = new Set<string>(EVENT_TYPES);
export const isEventType = (s: string): s is EventType => KNOWN.has(s);

/**
 * CloudEvents `source` stored with the admin's own events: empty, meaning "the admin that
 * delivers it" — the webhook dispatcher sends `/outpost/admin/<admin id>` in its place.
 */
export const EVENT_SOURCE = '';

export interface OutboxEvent { id: string; type: EventType; source: string; subject: string | null; time: string; data: Record<string, unknown> }

/** One outbox row of the admin's own events. */
function outboxRow(type: EventType, data: Record<string, unknown>, subject: string | null, time: string) {
  if (!KNOWN.has(type)) throw new Error(`unknown event type ${type}`);
  return { id: newId(), type, source: EVENT_SOURCE, subject, data: JSON.stringify(data), time, dispatched_at: null };
}

/**
 * Queues an event (CloudEvents fields) in the outbox. Pass the transaction that makes the
 * change. `subject` is the id of the resource the event is about (node id, execution id…).
 */
export async function emitEvent(db: DbOrTrx, type: EventType, data: Record<string, unknown>, subject?: string, at: Date = new Date()): Promise<OutboxEvent> {
  const row = outboxRow(type, data, subject ?? null, iso(at));
  await db.insertInto('events').values(row).execute();
  return { id: row.id, type, source: row.source, subject: row.subject, time: row.time, data };
}

/** Rows per multi-row INSERT (well under SQLite's and PostgreSQL's bind-parameter limits). */
const CHUNK = 500;

/** Queues many events at once (the same rows as emitEvent, one INSERT per 500). */
export async function emitEvents(db: DbOrTrx, events: Array<{ type: EventType; subject: string; data: Record<string, unknown> }>, at: Date = new Date()): Promise<void> {
  const time = iso(at);
  for (let i = 0; i < events.length; i += CHUNK) {
    await db.insertInto('events').values(events.slice(i, i + CHUNK).map((e) => outboxRow(e.type, e.data, e.subject, time))).execute();
  }
}


