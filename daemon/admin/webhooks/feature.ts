// Wiring for the webhook feature: one call builds the secret box, the egress policy, the HTTP
// notifier (plugin `http` of the plugin registry), the API service, its route specs and the
// dispatcher from the admin settings and the store's repos. The admin app mounts `routes`, starts
// `dispatcher` after the store is open, calls `dispatcher.wake()` after committing a transaction
// that emitted events, reports `dispatcher.stats()` as Admins.Metrics `webhook`, and closes the
// dispatcher on shutdown.
import { builtinPlugins, type PluginRegistry } from '../../../plugins';
import { DialDenied, type DialGuard } from '../../../plugins/contracts/notifier';
import type { RouteSpec } from '../../http';
import type { Logger } from '../../base/log';
import { EgressPolicy } from '../../net';
import { VERSION } from '../../base/version';
import { WebhookDispatcher, type DispatcherOptions, type WebhookStats } from './dispatcher';
import type { DeliveryRepo, OutboxRepo, Resolver, WebhookRepo } from './ports';
import { webhookRoutes } from './routes';
import { SecretBox } from '../../security/secret-box';
import { WebhookService } from './service';

export interface WebhooksConfig {
  /** admin.webhook_allow_private_ips (WEBHOOK_ALLOW_PRIVATE_IPS). */
  allowPrivateIps: boolean;
  /** admin.webhook_max_attempts (WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** MASTER_KEY (the encryption key is derived from it), else data_dir/admin/secret.key is used. */
  masterKey?: string;
  dataDir: string;
  /** This admin's id: CloudEvents source `/outpost/admin/<id>` for events without one. */
  adminId: string;
}

export interface WebhooksDeps {
  webhooks: WebhookRepo;
  deliveries: DeliveryRepo;
  outbox: OutboxRepo;
  log?: Logger;
  /** DNS for the SSRF checks (create time and dial time); the system resolver by default. */
  resolve?: Resolver;
  /** Include GET /api/v1/event_types in `routes` (default true; false where the app already serves the catalog). */
  catalogRoute?: boolean;
  /** Where the transport comes from (notifier `http`); the built-in plugins by default. */
  plugins?: PluginRegistry;
  /** Dispatcher tuning (timeouts, backoff, polling) — tests shorten these. */
  tuning?: Partial<Pick<DispatcherOptions, 'attemptTimeoutMs' | 'leaseMarginMs' | 'retryBaseMs' | 'retryMaxMs' | 'pollMs' | 'concurrency' | 'now' | 'random'>>;
}

export interface Webhooks {
  service: WebhookService;
  dispatcher: WebhookDispatcher;
  routes: RouteSpec[];
  box: SecretBox;
  policy: EgressPolicy;
  /** The dispatcher's counters: the reference's Admins.Metrics `webhook` object. */
  stats(): WebhookStats;
  /** Run the dispatcher now (after a commit that emitted events). */
  wake(): void;
}

export function createWebhooks(cfg: WebhooksConfig, deps: WebhooksDeps): Webhooks {
  const box = SecretBox.open({ masterKey: cfg.masterKey, dataDir: cfg.dataDir });
  // The shared egress policy (daemon/net) in its strict form: private networks denied too,
  // unless admin.webhook_allow_private_ips. Checked at create time and inside every dial.
  const policy = new EgressPolicy({ allowPrivate: cfg.allowPrivateIps, resolve: deps.resolve, hint: 'set WEBHOOK_ALLOW_PRIVATE_IPS=true to allow private targets' });
  const userAgent = `outpost-webhooks/${VERSION}`;
  const service = new WebhookService({ webhooks: deps.webhooks, deliveries: deps.deliveries, box, policy });
  const guard: DialGuard = { checkIp: (ip) => policy.check(ip)?.message ?? null, lookup: policy.lookup((message) => new DialDenied(message)) };
  // Webhooks are HTTP: their transport is the registry's notifier `http`.
  const notifier = (deps.plugins ?? builtinPlugins()).create('notifier', 'http', 'webhook notifier', { guard, userAgent, setting: () => undefined, log: deps.log });
  const dispatcher = new WebhookDispatcher({
    outbox: deps.outbox, deliveries: deps.deliveries, webhooks: deps.webhooks, box, notifier,
    source: `/outpost/admin/${cfg.adminId}`, userAgent, maxAttempts: cfg.maxAttempts, log: deps.log, ...deps.tuning,
  });
    const routes = webhookRoutes(service).filter((r) => deps.catalogRoute !== false || r.path !== '/api/v1/event_types');
  return { service, dispatcher, routes, box, policy, stats: () => dispatcher.stats(), wake: () => dispatcher.wake() };
}

