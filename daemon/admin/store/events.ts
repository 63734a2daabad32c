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

/**
 * Queues an event (CloudEvents fields) in the outbox. Pass the transaction that makes the
 * change. `subject` is the id of the resource the event is about (node id, execution id…).
 */
export async function emitEvent(db: DbOrTrx, type: EventType, data: Record<string, unknown>, subject?: string, at: Date = new Date()): Promise<OutboxEvent> {
  if (!KNOWN.has(type)) throw new Error(`unknown event type ${type}`);
  const ev: OutboxEvent = { id: newId(), type, source: EVENT_SOURCE, subject: subject ?? null, time: iso(at), data };
  await db.insertInto('events').values({ id: ev.id, type, source: ev.source, subject: ev.subject, data: JSON.stringify(data), time: ev.time, dispatched_at: null }).execute();
  return ev;
}

/** Oldest undispatched events first (for the dispatcher). */
export async function pendingEvents(db: DbOrTrx, limit = 100): Promise<OutboxEvent[]> {
  const rows = await db.selectFrom('events').selectAll().where('dispatched_at', 'is', null).orderBy('time').orderBy('id').limit(limit).execute();
  return rows.map((r) => ({ id: r.id, type: r.type as EventType, source: r.source, subject: r.subject, time: r.time, data: JSON.parse(r.data) as Record<string, unknown> }));
}

export async function markDispatched(db: DbOrTrx, ids: string[], at: Date = new Date()): Promise<void> {
  if (ids.length) await db.updateTable('events').set({ dispatched_at: iso(at) }).where('id', 'in', ids).execute();
}
