// Retention of the admin's logs (daemon/admin/store/prune.ts), on SQLite and PostgreSQL: old
// dispatched events, finished deliveries with their attempts and old agent events go; recent
// rows, undispatched events and deliveries still being retried stay, however old.
import { randomUUID } from 'node:crypto';
import t from 'tap';
import { pruneLogs } from '../daemon/admin/store/prune';
import { bothDialects } from './helpers/postgres';

const DAY = 86_400_000;
const NOW = new Date('2026-06-30T12:00:00.000Z');
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

bothDialects(t, 'pruneLogs keeps what is recent or unfinished', async (t, ctx) => {
  const { db } = await ctx.open();
  const at = ago(0);
  await db.insertInto('webhooks').values({ id: 'wh', url: 'https://x.test/', subscribed_events: '[]', secret_enc: 'v1:k:ct', headers_enc: null, inserted_at: at, updated_at: at }).execute();
  const event = (id: string, days: number, dispatched: boolean) => ({ id, type: 'edge.node.registered', source: 'test', subject: null, data: '{}', time: ago(days), dispatched_at: dispatched ? ago(days) : null });
  await db.insertInto('events').values([event('e-old', 40, true), event('e-new', 5, true), event('e-undispatched', 40, false)]).execute();
  const delivery = (id: string, status: string, days: number) => ({
    id, webhook_id: 'wh', event_id: id, event_type: 'edge.node.registered', status, attempts: 1, next_attempt_at: null,
    last_status_code: 200, last_error: null, delivered_at: null, inserted_at: ago(days), updated_at: ago(days),
  });
  await db.insertInto('webhook_deliveries').values([delivery('d-old-ok', 'delivered', 40), delivery('d-old-failed', 'failed', 35), delivery('d-old-pending', 'pending', 40), delivery('d-new', 'delivered', 1)]).execute();
  const attempt = (delivery_id: string, days: number) => ({ id: randomUUID(), delivery_id, webhook_id: 'wh', event_id: delivery_id, event_type: 'edge.node.registered', attempt: 1, outcome: 'delivered', status_code: 200, duration_ms: 3, error: null, inserted_at: ago(days) });
  await db.insertInto('webhook_delivery_attempts').values([attempt('d-old-ok', 40), attempt('d-old-ok', 40), attempt('d-old-failed', 35), attempt('d-old-pending', 40), attempt('d-new', 1)]).execute();
  await db.insertInto('agent_events').values([
    { id: 'g-old', node_id: 'n', type: 'edge.x', data: null, time: ago(31), inserted_at: ago(31) },
    { id: 'g-new', node_id: 'n', type: 'edge.x', data: null, time: ago(29), inserted_at: ago(29) },
  ]).execute();

  const r = await pruneLogs(db, 30, NOW);
  t.same(r, { events: 1, deliveries: 2, attempts: 3, agent_events: 1 }, 'counts of what went');
  const ids = async (table: 'events' | 'webhook_deliveries' | 'agent_events') => (await db.selectFrom(table).select('id').orderBy('id').execute()).map((x) => x.id);
  t.same(await ids('events'), ['e-new', 'e-undispatched'], 'undispatched events stay, however old');
  t.same(await ids('webhook_deliveries'), ['d-new', 'd-old-pending'], 'deliveries still being retried stay');
  t.same((await db.selectFrom('webhook_delivery_attempts').select('delivery_id').orderBy('delivery_id').execute()).map((x) => x.delivery_id), ['d-new', 'd-old-pending']);
  t.same(await ids('agent_events'), ['g-new']);
  t.same(await pruneLogs(db, 30, NOW), { events: 0, deliveries: 0, attempts: 0, agent_events: 0 }, 'a second pass finds nothing');
});
