// Row types of the control-plane store (Kysely's Database interface). Conventions, the same on
// SQLite and PostgreSQL: ids are text UUIDs (nodes: the id the agent sends), timestamps are
// ISO-8601 UTC strings with milliseconds (`Date#toISOString()`; timestamptz on PostgreSQL,
// text on SQLite, read back as the same string), booleans are integers 0/1, JSON is text.

export type Ts = string;
export type Bool01 = 0 | 1;

export interface ClusterRow { id: string; name: string; ipv4_range: string; node_limit: number | null; inserted_at: Ts; updated_at: Ts }

export interface EnrollmentKeyRow {
  id: string; cluster_id: string; name: string | null;
  /** The blob handed to agents (base64 JSON: admin URLs + secret). */
  key: string;
  /** The random secret inside the blob; what an enrolling agent presents. */
  secret: string;
  uses_remaining: number | null; expired_at: Ts | null; last_used_at: Ts | null; inserted_at: Ts; updated_at: Ts;
}

export type NodeStatus = 'healthy' | 'unhealthy' | 'unreachable';

export interface NodeRow {
  id: string; cluster_id: string; id_type: 'persistent' | 'random'; node_name: string;
  /** sha256 hex of the node's api_token; the token itself is only ever returned at enrollment. */
  api_token_hash: string;
  version: string | null; ip_address: string | null; hostname: string | null;
  http_port: number | null; ssh_port: number | null; http_proxy_port: number | null; socks5_proxy_port: number | null;
  host_metrics_port: number | null; wireguard_metrics_port: number | null; proxy_password: string | null;
  self_update_enabled: Bool01; status: NodeStatus; tunnel_connected: Bool01;
  /** Agent-reported extras (JSON object text). */
  info: string | null;
  /** The latest heartbeat's brief metrics (JSON, 0003_commands). */
  last_heartbeat: string | null;
  last_seen_at: Ts | null; inserted_at: Ts; updated_at: Ts;
}

export interface AliasRow { id: string; node_id: string; name: string; inserted_at: Ts; updated_at: Ts }

export interface CommandRow { id: string; command_text: string; targeting: string; timeout: number | null; expired_at: Ts | null; inserted_at: Ts; updated_at: Ts }

export type ExecutionStatus = 'pending' | 'sent' | 'completed' | 'failed' | 'cancelled' | 'expired';

export interface CommandExecutionRow {
  id: string; command_id: string; node_id: string | null; cluster_name: string | null; target_all: Bool01;
  status: string; exit_code: number | null; output: string | null;
  sent_at: Ts | null; completed_at: Ts | null; cancelled_at: Ts | null; cancel_requested_at: Ts | null;
  /** The agent took the cancel (0003_commands). */
  cancel_acked_at: Ts | null;
  /** Why the agent could not run it to its own end, e.g. "agent restarted while the command was running" (0006). */
  error?: string | null;
  timeout: number | null; expired_at: Ts | null; inserted_at: Ts; updated_at: Ts;
}

export interface SshUsernameRow { id: string; node_id: string; username: string; password_hash: string | null; inserted_at: Ts; updated_at: Ts }
export interface SshPublicKeyRow { id: string; ssh_username_id: string; key_name: string; public_key: string; fingerprint: string | null; inserted_at: Ts; updated_at: Ts }
/** Per node: the SSH credential set's version and the last one the agent acknowledged. */
export interface NodeCredentialsRow { node_id: string; version: number; synced_version: number | null; synced_at: Ts | null; updated_at: Ts }

export interface SelfUpdateRequestRow { id: string; targeting: string; status: string; summary: string | null; inserted_at: Ts; updated_at: Ts }

export interface WebhookRow {
  id: string; url: string; subscribed_events: string;
  /** AES-256-GCM ciphertexts (the webhook engineer's format); never returned by the API. */
  secret_enc: string; headers_enc: string | null; inserted_at: Ts; updated_at: Ts;
}

export interface WebhookDeliveryRow {
  id: string; webhook_id: string; event_id: string; event_type: string; status: string; attempts: number;
  next_attempt_at: Ts | null; last_status_code: number | null; last_error: string | null; delivered_at: Ts | null; inserted_at: Ts; updated_at: Ts;
}

/** One HTTP attempt of a webhook delivery: the delivery log (migration 5). */
export interface WebhookDeliveryAttemptRow {
  id: string; delivery_id: string; webhook_id: string; event_id: string; event_type: string;
  /** 1-based attempt number within its delivery. */
  attempt: number;
  /** ok | recoverable | terminal */
  outcome: string;
  status_code: number | null; duration_ms: number; error: string | null; inserted_at: Ts;
}

/** The durable event outbox: written in the same transaction as the change it describes. */
/** seq: the outbox's publish order for event sinks, assigned after commit (0008_event_sinks); null until then. */
export interface EventRow { id: string; type: string; source: string; subject: string | null; data: string; time: Ts; dispatched_at: Ts | null; seq: number | null }

/** The last seq handed out (one row, name 'events'); its row lock serializes the sequencers of several admins. */
export interface EventSequenceRow { name: string; last_seq: number }

/** Each event sink's durable cursor: every event with seq <= position is published. */
export interface EventSinkCursorRow { sink: string; position: number; updated_at: Ts }

/** An event an agent reported over the tunnel (0003_commands). */
export interface AgentEventRow { id: string; node_id: string; type: string; data: string | null; time: Ts; inserted_at: Ts }

export interface AdminMetadataRow { key: string; value: string; updated_at: Ts }
export interface SchemaMigrationRow { version: number; name: string; applied_at: Ts }

export interface Schema {
  clusters: ClusterRow;
  enrollment_keys: EnrollmentKeyRow;
  nodes: NodeRow;
  aliases: AliasRow;
  commands: CommandRow;
  command_executions: CommandExecutionRow;
  ssh_usernames: SshUsernameRow;
  ssh_public_keys: SshPublicKeyRow;
  node_credentials: NodeCredentialsRow;
  self_update_requests: SelfUpdateRequestRow;
  webhooks: WebhookRow;
  webhook_deliveries: WebhookDeliveryRow;
  webhook_delivery_attempts: WebhookDeliveryAttemptRow;
  events: EventRow;
  event_sequence: EventSequenceRow;
  event_sink_cursors: EventSinkCursorRow;
  agent_events: AgentEventRow;
  admin_metadata: AdminMetadataRow;
  schema_migrations: SchemaMigrationRow;
}
