// What every control-plane route module receives: the store, the settings, and this admin's
// identity and URLs.
import type { Config } from '../config';
import type { Logger } from '../log';
import type { AdminStore, Db } from './store/db';
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
  /**
   * Call after committing a transaction that emitted events (emitEvent writes them in the
   * caller's transaction): the webhook dispatcher runs now instead of at its next 1 s poll.
   */
  wake(): void;
  /** The webhook feature; `webhooks.stats()` is Admins.Metrics `webhook`. */
  webhooks: Webhooks;
}

/** DNS names of the reference's shapes (no VPN here: names for hosts files and the SSH jump). */
export const DOMAIN = 'outpost.internal';
export const networkName = (cluster: string) => `cluster-${cluster}`;
export const vpnDomain = (cluster: string) => `cluster-${cluster}.${DOMAIN}`;
