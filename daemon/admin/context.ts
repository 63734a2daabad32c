// What every control-plane route module receives: the store, the settings, and this admin's
// identity and URLs.
import type { Config } from '../config';
import type { Logger } from '../log';
import type { CredentialSet } from './tunnel/backend';
import type { MetricsOutcome, TunnelStats } from './tunnel/hub';
import type { LiveOutput } from './commands/live-output';
import type { MetricsKind } from './tunnel/schema';
import type { AdminStore, Db } from './store/db';
import type { SinkStats } from './event-sinks/relay';
import type { Webhooks } from './webhooks';

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
  /** The webhook feature; `webhooks.stats()` is Admins.Metrics `webhook`. */
  webhooks: Webhooks;
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
  readonly liveOutput?: LiveOutput;
}

/** The reference's AdminMetricsResponse `webhook` section. */
export interface WebhookCounters { fan_outs_total: number; deliveries_total: number; deliveries_ok_total: number; deliveries_recoverable_total: number; deliveries_terminal_total: number }

/** DNS names of the reference's shapes (no VPN here: names for hosts files and the SSH jump). */
export const DOMAIN = 'outpost.internal';
export const networkName = (cluster: string) => `cluster-${cluster}`;
export const vpnDomain = (cluster: string) => `cluster-${cluster}.${DOMAIN}`;
