// The admin role (control plane): opens the store (migrations first), makes sure the default
// cluster exists, serves the control-plane API on its own uWS app (admin.bind ?? bind :
// admin.port) with the Edge Admin envelope, and sweeps node statuses every heartbeat interval.
// Webhooks: routes on the same app, the dispatcher started once the store is open and woken
// (ctx.wake()) after every commit that wrote events; it also polls every second. The event sinks
// (admin.event_sinks, plugins from the registry: NATS JetStream) relay the same outbox on their
// own loops, woken by the same ctx.wake(), closed before the store.
import { randomBytes, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { builtinPlugins } from '../../plugins';
import { isLoopback, type Config } from '../config/config';
import { HttpServer, prepareKeys, type CallRecord } from '../http';
import type { Logger } from '../base/log';
import { adminMetricsRoutes } from './metrics/admin-metrics';
import { adminPrometheusRoutes, FleetMetrics } from './metrics/admin-prometheus';
import { adminRoutes } from './fleet/admins';
import { aliasRoutes } from './fleet/aliases';
import { clusterRoutes } from './fleet/clusters';
import { enrollmentKeyRoutes } from './fleet/enrollment-keys';
import { adminEnvelope } from './api/envelope';
import { NAME_PATTERN } from './api/schemas';
import { eventTypeRoutes } from './fleet/events';
import { nodeMetricsRoutes } from './metrics/node-metrics';
import { nodeRoutes } from './fleet/nodes';
import { docRoutes } from './api/openapi';
import { asyncApiRoutes } from './api/asyncapi';
import { createEventSinks, type EventSinks } from './event-sinks';
import { CommandDispatch } from './commands/dispatch';
import { commandRoutes } from './commands/routes';
import { sshRoutes } from './fleet/ssh';
import { createWebhooks, SqlWebhookStore, type Webhooks } from './webhooks';
import type { AdminCtx, AdminIdentity } from './api/context';
import { ensureCluster } from './store/clusters';
import { openStore, type AdminStore, type Db } from './store/db';
import { pruneLogs } from './store/prune';
import { resetTunnels, sweepNodeStatuses } from './store/status';
import { iso } from './store/util';
import { tunnelRoutes, type TunnelHub } from './tunnel';
import { JumpServer } from './jump/server';
import { resolveNode } from './store/nodes';
import type { TunnelBackend } from './tunnel/backend';
import { SqlTunnelBackend } from './tunnel/sql-backend';

export interface AdminService {
  http: HttpServer;
  store: AdminStore;
  ctx: AdminCtx;
  /** The agent tunnels (deliveries, cancels, credential syncs, live metrics). */
  hub: TunnelHub;
  /** Command delivery after commit and the expiry sweeper. */
  commands: CommandDispatch;
  /** Webhook API and dispatcher; `webhooks.stats()` is Admins.Metrics `webhook`. */
  webhooks: Webhooks;
  /** The event sinks (admin.event_sinks: NATS JetStream), each relaying the outbox past its own cursor. */
  eventSinks: EventSinks;
  /** The SSH jump endpoint and its port, when admin.ssh_authorized_keys is set. */
  jump?: JumpServer;
  jumpPort?: number;
  port: number;
  /** URLs that go into enrollment keys. */
  urls(): string[];
  close(): Promise<void>;
}

export class AdminConfigError extends Error {}

/** Reads (or creates on first start) this admin's identity from admin_metadata. */
async function loadIdentity(db: Db): Promise<AdminIdentity> {
  const get = async (key: string) => (await db.selectFrom('admin_metadata').select('value').where('key', '=', key).executeTakeFirst())?.value;
  let id = await get('admin_id');
  let hostId = await get('host_id');
  if (!id || !hostId) {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    const bytes = randomBytes(12);
    const fresh = Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
    const at = iso();
    for (const [key, value] of [['admin_id', fresh], ['host_id', randomUUID()]] as const) {
      // Another admin starting on the same database may have won: keep its value.
      await db.insertInto('admin_metadata').values({ key, value, updated_at: at }).onConflict((oc) => oc.column('key').doNothing()).execute();
    }
    id = (await get('admin_id'))!;
    hostId = (await get('host_id'))!;
  }
  return { id, name: `admin-${id}`, host_id: hostId, admin_cluster_name: 'admin-cluster-1', hostname: os.hostname() };
}

/** The backend, with `wake` called after every call that commits (they may have emitted events). */
function wakeAfterCommits(b: TunnelBackend, wake: () => void): TunnelBackend {
  const after = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    const r = await fn(...a);
    wake();
    return r;
  };
  return {
    enroll: after(b.enroll.bind(b)),
    authenticate: b.authenticate.bind(b),
    tunnelUp: after(b.tunnelUp.bind(b)),
    tunnelDown: after(b.tunnelDown.bind(b)),
    recordHeartbeats: b.recordHeartbeats.bind(b),
    setStatus: after(b.setStatus.bind(b)),
    delivered: after(b.delivered.bind(b)),
    recordResults: after(b.recordResults.bind(b)),
    recordEvents: after(b.recordEvents.bind(b)),
    credentials: b.credentials.bind(b),
  };
}

/**
 * The admin's call log: one line per mutating call (every method but GET), answered or refused
 * (401, 404, 422 too), with the caller — which credential (master, api, invalid, none, public),
 * the remote address — and the outcome (status, request id). The token itself is never logged.
 */
function logMutatingCall(log: Logger): (c: CallRecord) => void {
  return (c) => {
    if (c.method === 'GET' || c.method === 'HEAD' || c.method === 'OPTIONS') return;
    // The path is the caller's (even without a token): bounded, so a line stays a line.
    const path = c.path.length > 256 ? `${c.path.slice(0, 256)}…` : c.path;
    const line = { method: c.method, path, status: c.status, credential: c.credential, remote_address: c.remoteAddress, request_id: c.requestId, ...(c.aborted ? { aborted: true } : {}) };
    const msg = `${c.method} ${path} ${c.aborted ? 'aborted' : c.status}`;
    if (c.status >= 500) log.error(line, msg);
    else if (c.status >= 400 || c.aborted) log.warn(line, msg);
    else log.info(line, msg);
  };
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** First retention pass after start, then the interval between passes. */
const PRUNE_FIRST_MS = 60_000;
const PRUNE_EVERY_MS = 3_600_000;

export async function startAdmin(cfg: Config, log: Logger): Promise<AdminService> {
  const bind = cfg.admin.bind ?? cfg.bind;
  if (!cfg.api_key && !cfg.master_key && !isLoopback(bind)) {
    throw new AdminConfigError(`refusing to serve the control plane on ${bind} without authentication: set API_KEY or MASTER_KEY, or bind it to 127.0.0.1 / ::1`);
  }
  const dflt = cfg.admin.default_cluster_name;
  if (dflt !== undefined && (dflt.length > 24 || !new RegExp(NAME_PATTERN).test(dflt))) {
    // Its routes would answer 400 for it (the reference's name rule), so it could never be used.
    throw new AdminConfigError(`DEFAULT_CLUSTER_NAME ${JSON.stringify(dflt)} is not a valid cluster name: at most 24 characters of lowercase letters, digits and inner hyphens (^[a-z0-9]([a-z0-9-]*[a-z0-9])?$)`);
  }
  const startedAt = Date.now();
  const store = await openStore({ dataDir: cfg.data_dir, databaseUrl: cfg.admin.database_url });
  log.info({ dialect: store.dialect, location: store.location }, 'admin store open (migrations applied)');
  let http: HttpServer | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;
  let hub: TunnelHub | undefined;
  let commands: CommandDispatch | undefined;
  let webhooks: Webhooks | undefined;
  let sinks: EventSinks | undefined;
  let jump: JumpServer | undefined;
  let jumpPort: number | undefined;
  let fleet: FleetMetrics | undefined;
  try {
    const identity = await loadIdentity(store.db);
    if (cfg.admin.default_cluster_name) await ensureCluster(store.db, cfg.admin.default_cluster_name);
    const offline = await resetTunnels(store.db);
    if (offline) log.warn({ nodes: offline, status: 'unreachable', reason: 'admin restarted' }, 'nodes unreachable until their agents reconnect');

    http = new HttpServer({ maxBodyBytes: cfg.http.max_body_bytes, maxInflight: cfg.http.max_inflight_requests, keys: prepareKeys(cfg.api_key, cfg.master_key, cfg.metrics_key), log, envelope: adminEnvelope, onCall: logMutatingCall(log) });
    let port = 0;
    const urls = () => {
      if (cfg.admin.public_url) return [cfg.admin.public_url.replace(/\/+$/, '')];
      const host = bind === '0.0.0.0' || bind === '::' ? os.hostname() : bind;
      return [`http://${urlHost(host)}:${port}`];
    };
    const repo = new SqlWebhookStore(store.db, store.dialect);
    // The plugins the configuration picks: the webhook transport (notifier http) and the event sinks.
    const plugins = builtinPlugins();
    const wh = createWebhooks(
      { allowPrivateIps: cfg.admin.webhook_allow_private_ips, maxAttempts: cfg.admin.webhook_max_attempts, masterKey: cfg.master_key, dataDir: cfg.data_dir, adminId: identity.id },
      { webhooks: repo, deliveries: repo, outbox: repo, log, catalogRoute: false, plugins },
    );
    webhooks = wh;
    const es = createEventSinks(cfg, { store, plugins, adminId: identity.id, log });
    sinks = es;
    const wake = () => { wh.dispatcher.wake(); es.wake(); };
    const ctx: AdminCtx = { db: store.db, store, cfg, log, identity, adminUrls: urls, startedAt, wake, box: wh.box, webhookStats: () => wh.stats(), eventSinkStats: () => es.stats() };
    adminRoutes(http, ctx);
    clusterRoutes(http, ctx);
    enrollmentKeyRoutes(http, ctx);
    nodeRoutes(http, ctx);
    aliasRoutes(http, ctx);
    const nodeMetrics = nodeMetricsRoutes(http, ctx);
    adminMetricsRoutes(http, ctx, nodeMetrics);
    fleet = new FleetMetrics({ ctx, http, nodeMetrics, leased: () => wh.dispatcher.leased });
    adminPrometheusRoutes(http, fleet);
    sshRoutes(http, ctx);
    eventTypeRoutes(http);
    for (const r of wh.routes) http.add(r);
    hub = tunnelRoutes(http, wakeAfterCommits(new SqlTunnelBackend(store.db, cfg.admin.heartbeat_interval_ms, (p, c) => wh.box.seal(p, c), log), wake), { log, heartbeatIntervalMs: cfg.admin.heartbeat_interval_ms, publicUrl: cfg.admin.public_url?.replace(/\/+$/, ''), enrollFailuresPerMinute: cfg.admin.enroll_failures_per_minute });
    ctx.hub = hub;
    commands = new CommandDispatch(store.db, hub, log);
    commandRoutes(http, ctx, commands);
    asyncApiRoutes(http, cfg);
    docRoutes(http, () => urls()[0]);
    http.finish();
    port = await http.listen(bind, cfg.admin.port, 'admin.port');
    http.state = 'ready';
    wh.dispatcher.start();
    es.start();
    fleet.start();
    // The SSH jump (ssh -J), when operators' keys are configured: direct-tcpip to a node's SSH
    // server through its tunnel, the node named by id, alias or name.
    if (cfg.admin.ssh_authorized_keys) {
      const tunnels = hub;
      jump = new JumpServer({
        dir: path.join(cfg.data_dir, 'admin'), authorizedKeysFile: cfg.admin.ssh_authorized_keys, log,
        idleTimeoutMs: cfg.ssh.idle_timeout_ms, preauthTimeoutMs: cfg.ssh.preauth_timeout_ms, failuresPerMinute: cfg.ssh.auth_failures_per_minute,
        resolve: async (target) => {
          const n = await resolveNode(store.db, target);
          return n ? { nodeId: n.id, name: n.node_name } : undefined;
        },
        open: (nodeId) => tunnels.openStream(nodeId, 'ssh'),
      });
      jumpPort = await jump.listen(bind, cfg.admin.ssh_port);
      log.info({ port: jumpPort, bind, host_keys: jump.fingerprints, authorized_keys: cfg.admin.ssh_authorized_keys }, 'admin ssh jump listening');
    }
    if (!cfg.admin.public_url && (bind === '0.0.0.0' || bind === '::')) log.warn({ url: urls()[0] }, 'admin.public_url is not set: enrollment keys point agents at this host name');

    const interval = cfg.admin.heartbeat_interval_ms;
    const jobs = fleet.jobs;
    let sweeping = false;
    sweeper = setInterval(() => {
      if (sweeping) return;
      sweeping = true;
      jobs.track('node_status_sweep', () => sweepNodeStatuses(store.db, interval)).then((changed) => {
        for (const id of changed) log.warn({ node_id: id, previous_status: 'healthy', status: 'unhealthy', reason: 'heartbeats late' }, `node ${id} is unhealthy (was healthy)`);
        if (changed.length) wake();
      }).catch((err) => log.warn({ err }, 'node status sweep failed')).finally(() => { sweeping = false; });
    }, interval);
    sweeper.unref();
    // Retention of the append-only logs: a minute after start, then hourly.
    const prune = () => {
      jobs.track('log_prune', () => pruneLogs(store.db, cfg.admin.event_retention_days)).then(
        (r) => { if (r.events || r.deliveries || r.attempts || r.agent_events) log.info({ ...r, retention_days: cfg.admin.event_retention_days }, 'admin: old events and webhook deliveries pruned'); },
        (err) => log.warn({ err }, 'admin: pruning old events failed (retried in an hour)'),
      );
    };
    pruneTimer = setTimeout(function again() { prune(); pruneTimer = setTimeout(again, PRUNE_EVERY_MS).unref(); }, PRUNE_FIRST_MS).unref();
    commands.start();

    const server = http;
    const fleetMetrics = fleet;
    const tunnels = hub;
    const dispatch = commands;
    log.info({ bind, port, dialect: store.dialect, admin: identity.name, url: urls()[0] }, 'admin listening');
    let closing: Promise<void> | undefined;
    return {
      http: server, store, ctx, hub: tunnels, commands: dispatch, port, urls, webhooks: wh, eventSinks: es, jump, jumpPort,
      close() {
        closing ??= (async () => {
          clearInterval(sweeper);
          clearTimeout(pruneTimer);
          fleetMetrics.close();
          await jump?.close();
          dispatch.stop();
          await tunnels.close();
          const drained = await server.close(cfg.http.drain_timeout_ms);
          if (!drained) log.warn({ inflight: server.inflight }, 'admin drain timeout: in-flight requests abandoned');
          // Attempts in flight get a moment to finish; the rest stay leased and are re-sent later.
          await wh.dispatcher.close();
          // A publish in flight is abandoned, not waited for: the cursor re-sends it next start.
          await es.close();
          await store.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    clearInterval(sweeper);
    fleet?.close();
    await jump?.close().catch(() => undefined);
    commands?.stop();
    await hub?.close().catch(() => undefined);
    await http?.close(0).catch(() => undefined);
    await webhooks?.dispatcher.close(0).catch(() => undefined);
    await sinks?.close().catch(() => undefined);
    await store.close();
    throw err;
  }
}
