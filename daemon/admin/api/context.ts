// What every control-plane route module receives: the store, the settings, and this admin's
// identity and URLs.
import type { Config } from '../../config/config';
import type { Logger } from '../../base/log';
import type { CredentialSet } from '../../tunnel/enrollment';
import type { MetricsKind } from '../../tunnel/schema';
import type { AdminStore, Db } from '../store/db';
import type { SecretBox } from '../../security/secret-box';

export interface AdminIdentity {
  /** 12 lowercase alphanumerics, generated on the first start and kept in admin_metadata. */
  id: string;
  name: string;
  host_id: string;
  admin_cluster_name: string;
  hostname: string;
}

export interface AdminCtx {
  db: Db;
  store: AdminStore;
  cfg: Config;
  log: Logger;
  identity: AdminIdentity;
  /** Base URLs agents use to reach this admin (go into enrollment keys). */
  adminUrls(): string[];
  startedAt: number;
  /** The agent tunnel hub (TunnelHub), once tunnelRoutes() is mounted; routes read it per request. */
  hub?: AdminHub;
  /** Webhook delivery counters for Admins.Metrics, once the webhooks are mounted. */
  webhookStats?: () => WebhookCounters;
  /** Counters of the event sinks (admin.event_sinks), once they are built. */
  eventSinkStats?: () => SinkStats[];
  /**
   * Call after committing a transaction that emitted events (emitEvent writes them in the
   * caller's transaction): the webhook dispatcher and the event sinks run now instead of at their next 1 s poll.
   */
  wake(): void;
  /** Seals and opens secrets kept in the store (webhook secrets, proxy passwords): AES-256-GCM. */
  box: SecretBox;
}

/** What the routes use of the tunnel hub (TunnelHub implements it). */
export interface AdminHub {
  syncCredentials(nodeId: string, set?: CredentialSet | null): Promise<boolean>;
  requestMetrics(nodeId: string, kind: MetricsKind, timeoutMs?: number): Promise<MetricsOutcome>;
  isConnected(nodeId: string): boolean;
  /** Closes this admin's tunnel of the node (its token was revoked); false when it has none. */
  disconnect(nodeId: string, reason: string): boolean;
  stats(): TunnelStats;
  /** Live output pieces of running executions (GET /api/v1/commands/:id/output). */
  readonly liveOutput?: LiveOutputReader;
}

/** The outcome of a metrics request to a node over its tunnel. */
export type MetricsOutcome = { ok: true; data: unknown } | { ok: false; reason: string };

/** The tunnel hub's counters (Admins.Metrics `tunnels`). */
export interface TunnelStats {
  connected: number;
  connections_total: number;
  rejected_total: number;
  replaced_total: number;
  heartbeats_total: number;
  results_total: number;
  events_total: number;
  deliveries_total: number;
  backend_errors_total: number;
}

/** What the commands routes read of the live output buffer (commands/live-output.ts implements it). */
export interface LiveOutputReader {
  read(executions: Array<{ id: string; node_id: string | null }>, cursor: number): { chunks: Array<{ execution_id: string; node_id: string; offset: number; data: string }>; cursor: number };
  wait(ms: number, signal?: AbortSignal): Promise<void>;
}

/** The reference's AdminMetricsResponse `webhook` section. */
export interface WebhookCounters { fan_outs_total: number; deliveries_total: number; deliveries_ok_total: number; deliveries_recoverable_total: number; deliveries_terminal_total: number }

export interface SinkStats {
  sink: string;
  kind: string;
  /** Events the destination accepted (PubAcks), re-publishes included. */
  published_total: number;
  /** Of those, acknowledged as duplicates (already in the stream). */
  duplicates_total: number;
  /** Publish attempts that failed (the batch is retried). */
  failures_total: number;
  /** Events in the outbox not yet published by this sink (as of the last pass; null before the first). */
  lag: number | null;
  /** The cursor: every event with seq at or below it is published. */
  position: number;
  /** Whether the last attempt failed, and why. */
  failing: boolean;
  last_error: string | null;
}
