// Versioned schema migrations of the control-plane store. Each runs once, in its own
// transaction, recorded in schema_migrations; the same schema-builder code serves SQLite and
// PostgreSQL (only the timestamp column type differs: timestamptz vs ISO text). On PostgreSQL an
// advisory lock serializes admins that start together against one database.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Dialect } from './db';
import type { Schema } from './schema';

type Trx = Transaction<Schema>;
interface Migration { version: number; name: string; up(trx: Trx, d: Dialect): Promise<void> }

/** Column types that differ by dialect. */
const ts = (d: Dialect) => (d === 'postgres' ? 'timestamptz' : 'text');
const nowIso = () => new Date().toISOString();

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'control plane: clusters, enrollment keys, nodes, aliases, commands, ssh, self-updates, webhooks, events, metadata',
    async up(trx, d) {
      const s = trx.schema;
      const T = ts(d);
      await s.createTable('clusters')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('ipv4_range', 'text', (c) => c.notNull().unique())
        .addColumn('node_limit', 'integer')
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .execute();
      await s.createTable('enrollment_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('cluster_id', 'text', (c) => c.notNull().references('clusters.id').onDelete('cascade'))
        .addColumn('name', 'text')
        .addColumn('key', 'text', (c) => c.notNull().unique())
        .addColumn('secret', 'text', (c) => c.notNull().unique())
        .addColumn('uses_remaining', 'integer')
        .addColumn('expired_at', T)
        .addColumn('last_used_at', T)
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .execute();
      await s.createIndex('enrollment_keys_cluster').on('enrollment_keys').column('cluster_id').execute();
      // A cluster with nodes cannot be deleted (restrict); the API answers 409 before that.
      await s.createTable('nodes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('cluster_id', 'text', (c) => c.notNull().references('clusters.id').onDelete('restrict'))
        .addColumn('id_type', 'text', (c) => c.notNull())
        .addColumn('node_name', 'text', (c) => c.notNull())
        .addColumn('api_token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('version', 'text')
        .addColumn('ip_address', 'text')
        .addColumn('hostname', 'text')
        .addColumn('http_port', 'integer')
        .addColumn('ssh_port', 'integer')
        .addColumn('http_proxy_port', 'integer')
        .addColumn('socks5_proxy_port', 'integer')
        .addColumn('host_metrics_port', 'integer')
        .addColumn('wireguard_metrics_port', 'integer')
        .addColumn('proxy_password', 'text')
        .addColumn('self_update_enabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('tunnel_connected', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('info', 'text')
        .addColumn('last_seen_at', T)
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .execute();
      await s.createIndex('nodes_cluster').on('nodes').column('cluster_id').execute();
      await s.createIndex('nodes_status').on('nodes').columns(['status', 'last_seen_at']).execute();
      // Aliases resolve to one node wherever the admin resolves names, so they are unique.
      await s.createTable('aliases')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .execute();
      await s.createIndex('aliases_node').on('aliases').column('node_id').execute();
      await s.createTable('commands')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('command_text', 'text', (c) => c.notNull())
        .addColumn('targeting', 'text', (c) => c.notNull())
        .addColumn('timeout', 'integer')
        .addColumn('expired_at', T)
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .execute();
      await s.createIndex('commands_inserted').on('commands').column('inserted_at').execute();
      // Executions outlive their node (node_id set NULL, kept for history) but not their command.
      await s.createTable('command_executions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('command_id', 'text', (c) => c.notNull().references('commands.id').onDelete('cascade'))
        .addColumn('node_id', 'text', (c) => c.references('nodes.id').onDelete('set null'))
        .addColumn('cluster_name', 'text')
        .addColumn('target_all', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('exit_code', 'integer')
        .addColumn('output', 'text')
        .addColumn('sent_at', T)
        .addColumn('completed_at', T)
        .addColumn('cancelled_at', T)
        .addColumn('cancel_requested_at', T)
        .addColumn('timeout', 'integer')
        .addColumn('expired_at', T)
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .execute();
      await s.createIndex('command_executions_command').on('command_executions').column('command_id').execute();
      await s.createIndex('command_executions_node_status').on('command_executions').columns(['node_id', 'status']).execute();
      await s.createIndex('command_executions_status_inserted').on('command_executions').columns(['status', 'inserted_at']).execute();
      await s.createIndex('command_executions_inserted').on('command_executions').columns(['inserted_at', 'id']).execute();
      await s.createTable('ssh_usernames')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('node_id', 'text', (c) => c.notNull().references('nodes.id').onDelete('cascade'))
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text')
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .addUniqueConstraint('ssh_usernames_node_username', ['node_id', 'username'])
        .execute();
      await s.createTable('ssh_public_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('ssh_username_id', 'text', (c) => c.notNull().references('ssh_usernames.id').onDelete('cascade'))
        .addColumn('key_name', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text', (c) => c.notNull())
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .addUniqueConstraint('ssh_public_keys_username_key', ['ssh_username_id', 'public_key'])
        .execute();
      await s.createTable('self_update_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('targeting', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('summary', 'text')
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .execute();
      await s.createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('subscribed_events', 'text', (c) => c.notNull())
        .addColumn('secret_enc', 'text', (c) => c.notNull())
        .addColumn('headers_enc', 'text')
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .execute();
      await s.createTable('webhook_deliveries')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', T)
        .addColumn('last_status_code', 'integer')
        .addColumn('last_error', 'text')
        .addColumn('delivered_at', T)
        .addColumn('inserted_at', T, (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .addUniqueConstraint('webhook_deliveries_webhook_event', ['webhook_id', 'event_id'])
        .execute();
      await s.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
      await s.createTable('events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('subject', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        .addColumn('time', T, (c) => c.notNull())
        .addColumn('dispatched_at', T)
        .execute();
      await s.createIndex('events_undispatched').on('events').columns(['dispatched_at', 'time']).execute();
      await s.createTable('admin_metadata')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', T, (c) => c.notNull())
        .execute();
    },
  },
  {
    // Commands engineer (wave 2): the SQL tunnel backend and the commands API.
    version: 3,
    name: '0003_commands: cancel acks, node heartbeats, agent events, execution list indexes',
    async up(trx, d) {
      const s = trx.schema;
      const T = ts(d);
      await s.alterTable('command_executions').addColumn('cancel_acked_at', T).execute();
      await s.alterTable('nodes').addColumn('last_heartbeat', 'text').execute();
      // Events agents report over the tunnel, kept once per id (the agent re-sends after a reconnect).
      await s.createTable('agent_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('node_id', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('data', 'text')
        .addColumn('time', T, (c) => c.notNull())
        .addColumn('inserted_at', T, (c) => c.notNull())
        .execute();
      await s.createIndex('agent_events_node_time').on('agent_events').columns(['node_id', 'time']).execute();
      // The expiry sweeper: executions still open with a deadline.
      await s.createIndex('command_executions_open_expiry').on('command_executions').columns(['status', 'expired_at']).execute();
      // Filtered, sorted pages (status=…&order_by=<time>&order_directions=desc, newest first, ties
      // by id): one covering index per sortable time column, led by status, in that order (DESC
      // puts NULLs first on PostgreSQL, as the lists sort them; SQLite walks it the same way).
      for (const col of ['completed_at', 'sent_at', 'cancelled_at', 'updated_at'] as const) {
        await s.createIndex(`command_executions_status_${col}`).on('command_executions').columns(['status', `${col} desc`, 'id']).execute();
      }
      await s.createIndex('command_executions_completed').on('command_executions').columns(['completed_at desc', 'id']).execute();
      await s.createIndex('command_executions_status_exit_code').on('command_executions').columns(['status', 'exit_code']).execute();
    },
  },
  {
    // Named after its area so the merge can renumber it (daemon/admin/store/ssh.ts).
    version: 4,
    name: '0004_ssh: node credential versions, public key fingerprints',
    async up(trx, d) {
      const s = trx.schema;
      // version: what the node's SSH credential set is at (bumped in the transaction of every
      // change that touches it); synced_version: the last one its agent acknowledged.
      await s.createTable('node_credentials')
        .addColumn('node_id', 'text', (c) => c.primaryKey().references('nodes.id').onDelete('cascade'))
        .addColumn('version', 'bigint', (c) => c.notNull())
        .addColumn('synced_version', 'bigint')
        .addColumn('synced_at', ts(d))
        .addColumn('updated_at', ts(d), (c) => c.notNull())
        .execute();
      await s.alterTable('ssh_public_keys').addColumn('fingerprint', 'text').execute();
      await s.createIndex('ssh_public_keys_username_fingerprint').on('ssh_public_keys').columns(['ssh_username_id', 'fingerprint']).unique().execute();
      await s.createIndex('ssh_usernames_node').on('ssh_usernames').column('node_id').execute();
    },
  },
  {
    // 0005_webhooks. webhook_deliveries already has its (webhook_id, event_id) unique constraint
    // and its (status, next_attempt_at) index from migration 1; this adds the delivery log.
    version: 5,
    name: 'webhooks: delivery attempt log (webhook_delivery_attempts)',
    async up(trx, d) {
      const T = ts(d);
      await trx.schema.createTable('webhook_delivery_attempts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('delivery_id', 'text', (c) => c.notNull().references('webhook_deliveries.id').onDelete('cascade'))
        .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('event_type', 'text', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .addColumn('inserted_at', T, (c) => c.notNull())
        .execute();
      await trx.schema.createIndex('webhook_delivery_attempts_webhook').on('webhook_delivery_attempts').columns(['webhook_id', 'inserted_at']).execute();
      await trx.schema.createIndex('webhook_delivery_attempts_delivery').on('webhook_delivery_attempts').column('delivery_id').execute();
    },
  },
  {
    version: 6,
    name: '0006_execution_error: why an agent could not run an execution to its own end',
    async up(trx) {
      await trx.schema.alterTable('command_executions').addColumn('error', 'text').execute();
    },
  },
  {
    // The reference's NodeStatus enum is healthy / unhealthy / unreachable; rows written before
    // used `offline` for "tunnel down". Events already in the outbox keep the word they were sent with.
    version: 7,
    name: '0007_node_status_unreachable: node status offline is unreachable (the reference enum)',
    async up(trx) {
      await trx.updateTable('nodes').set({ status: 'unreachable' }).where('status', '=', 'offline' as never).execute();
    },
  },
  {
    // Event sinks (NATS JetStream) read the outbox in a publish order of their own: events.seq,
    // handed out after commit by one sequencer at a time (event_sequence's row lock), so an event
    // that commits late (a long transaction, an agent event with an old time) still gets a seq
    // above every cursor. Each sink keeps its cursor in event_sink_cursors.
    version: 8,
    name: '0008_event_sinks: events.seq publish order, event_sequence, event_sink_cursors',
    async up(trx, d) {
      const s = trx.schema;
      await s.alterTable('events').addColumn('seq', 'bigint').execute();
      await s.createIndex('events_seq').on('events').column('seq').execute();
      await s.createTable('event_sequence')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('last_seq', 'bigint', (c) => c.notNull())
        .execute();
      await trx.insertInto('event_sequence').values({ name: 'events', last_seq: 0 }).execute();
      await s.createTable('event_sink_cursors')
        .addColumn('sink', 'text', (c) => c.primaryKey())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', ts(d), (c) => c.notNull())
        .execute();
    },
  },
];

/** Applies every migration not yet recorded; returns the versions it applied. */
export async function migrate(db: Kysely<Schema>, dialect: Dialect, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  // Under the lock too: two admins starting together would both try to create it (PostgreSQL's
  // CREATE TABLE IF NOT EXISTS is not safe against a concurrent create).
  await db.transaction().execute(async (trx) => {
    if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(trx);
    await trx.schema.createTable('schema_migrations').ifNotExists()
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('applied_at', ts(dialect), (c) => c.notNull())
      .execute();
  });
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    const done = await db.transaction().execute(async (trx) => {
      if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(${MIGRATION_LOCK})`.execute(trx);
      const row = await trx.selectFrom('schema_migrations').select('version').where('version', '=', m.version).executeTakeFirst();
      if (row) return false;
      await m.up(trx, dialect);
      await trx.insertInto('schema_migrations').values({ version: m.version, name: m.name, applied_at: nowIso() }).execute();
      return true;
    });
    if (done) applied.push(m.version);
  }
  return applied;
}

/** Advisory-lock key of the migration runner ("outp" in ASCII). */
const MIGRATION_LOCK = 0x6f757470;
