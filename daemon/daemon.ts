// Startup and shutdown order of outpostd, top to bottom. main.ts is the process entry; tests
// start the same daemon in-process through startDaemon().
import fs from 'node:fs';
import path from 'node:path';
import { openDataPlane, type DataPlane, type DataPlaneOptions } from '../core';
import type { QueueStore } from '../core/queue';
import type { StreamStore } from '../core/stream';
import type { TsStore } from '../core/ts';
import { CommandService, commandOutputFeed } from './agent/commands';
import { AgentServices } from './agent/services';
import type { AgentTunnel } from './agent/tunnel';
import type { EgressPolicy } from './net';
import type { ProxyService } from './agent/proxy';
import type { SshUserStore } from './agent/ssh-users/store';
import type { SshService } from './agent/ssh/server';
import { loadNative, type NativeReport } from '../native';
import { FIELDS, getPath, setConfigValue, type Config } from './config/config';
import { HostIdentity } from './agent/tunnel/host-identity';
import { lockDataDir } from './process/data-dir-lock';
import { HttpServer, prepareKeys } from './http';
import type { Logger } from './base/log';
import { Metrics } from './dataplane/metrics';
import { AgentMetricsService } from './agent/metrics';
import { agentMetricsRoutes } from './agent/metrics/routes';
import { kvRoutes } from './dataplane/kv';
import { namespaceRoutes } from './dataplane/namespaces';
import { queueRoutes } from './dataplane/queue';
import { streamRoutes } from './dataplane/stream';
import { tsRoutes } from './dataplane/ts';
import { agentCommandRoutes } from './agent/commands/routes';
import { WsHub } from './dataplane/ws/server';
import { systemRoutes } from './dataplane/system';
import { VERSION } from './base/version';
import type { AdminService } from './admin';

export interface Daemon {
  port: number;
  /** The data engine (core/: KV, queues, streams, time series); `queues`, `streams` and `ts` are its stores. */
  dataPlane: DataPlane;
  queues: QueueStore;
  streams: StreamStore;
  ws: WsHub;
  ts: TsStore;
  commands: CommandService;
  /** The tunnel to the admin, when ENROLLMENT_KEY is set or the agent was enrolled before. */
  tunnel?: AgentTunnel;
  /** This host's node id: the fleet's once enrolled, else the data plane's. */
  host: HostIdentity;
  http: HttpServer;
  /** The control plane, when admin.enabled. */
  admin?: AdminService;
  native: NativeReport;
  /** Host and agent metrics; agent services plug their stats() into agentMetrics.sources. */
  agentMetrics: AgentMetricsService;
  /** The agent's SSH server (undefined when ssh.enabled is false) and its port. */
  ssh?: SshService;
  sshPort?: number;
  sshUsers: SshUserStore;
  /** Deny rules for connections made for clients (proxies, ssh -L); the agent's ports join as they bind. */
  denyPolicy: EgressPolicy;
  /** HTTP and SOCKS5 proxies (`proxy.running` false when proxy.enabled is off); stats() always works. */
  proxy: ProxyService;
  /** Drain: stop accepting, finish in-flight requests, commit queued writes, close stores. */
  close(): Promise<{ drained: boolean }>;
  /**
   * SIGHUP: takes the values of `keys` (settings marked reload: true in FIELDS) from `next`
   * into the running configuration and the parts that copied them at startup.
   */
  reload(next: Config, keys: readonly string[]): void;
}

/** Options of the data plane derived from the configuration. */
function dataPlaneOptions(cfg: Config, log: Logger): DataPlaneOptions {
  return {
    dataDir: cfg.data_dir,
    partitions: cfg.core.partitions,
    workers: cfg.core.workers,
    writeMode: cfg.core.write_mode,
    maxInflight: cfg.core.max_inflight,
    maxBatch: cfg.core.max_batch,
    maxValueBytes: cfg.kv.max_value_bytes,
    autoCreateNamespaces: cfg.kv.auto_create_namespaces,
    reapIntervalMs: cfg.kv.reap_interval_ms,
    readCacheBytes: cfg.kv.read_cache_bytes,
    queue: { maxDeliveries: cfg.queue.max_deliveries, dedupWindowMs: cfg.queue.dedup_window_ms, sweepIntervalMs: cfg.queue.lease_sweep_interval_ms },
    stream: { retention: { max_records: cfg.stream.max_records, max_age_ms: cfg.stream.max_age_ms }, trimIntervalMs: cfg.stream.trim_interval_ms },
    ts: { trimIntervalMs: cfg.ts.trim_interval_ms, rollupIntervalMs: cfg.ts.rollup_interval_ms },
    onListenerError: (err) => log.error({ err }, 'a KV change listener failed (the write itself is committed)'),
  };
}

/**
 * @param dataPlane replaces options of the data plane; bench/ablation passes a write mode the
 * engine does not carry.
 */
export async function startDaemon(cfg: Config, log: Logger, dataPlane: Partial<DataPlaneOptions> = {}): Promise<Daemon> {
  const startedAt = Date.now();

  // 1. Native addons: fail early and clearly, warn loudly on a fallback.
  const native = loadNative();
  log.info({ uws: native.uws, lmdb: native.lmdb }, 'native backends');
  for (const w of native.warnings) log.warn(w);

  // 2. Security posture.
  if (!cfg.api_key && !cfg.master_key) {
    log.warn(`NO API KEY IS SET: the API on ${cfg.bind} accepts every local request. Set API_KEY or MASTER_KEY before exposing it.`);
  }

  // 3. Data dir and the data plane (core/: LMDB stores, worker pool).
  fs.mkdirSync(cfg.data_dir, { recursive: true, mode: 0o700 });
  // One daemon per data dir (data_dir/outpostd.pid); released when the stores close, or at exit.
  const dirLock = lockDataDir(cfg.data_dir);
  const releaseAtExit = () => dirLock.release();
  process.once('exit', releaseAtExit);
  let dp: DataPlane;
  try {
    dp = await openDataPlane({ ...dataPlaneOptions(cfg, log), ...dataPlane });
  } catch (err) {
    dirLock.release();
    process.removeListener('exit', releaseAtExit);
    throw err;
  }
  const { queues, streams, ts } = dp;
  // One node id per host: the fleet's once enrolled (read from tunnel.json here, updated on enrollment).
  const host = new HostIdentity(dp.nodeId, log, cfg.data_dir);
  // Command runner: executions a previous run left running are recorded as failed here.
  // The option objects stay referenced here: SIGHUP's reload() updates them in place.
  const commandOpts = {
    file: path.join(cfg.data_dir, 'agent', 'commands.mdb'), nodeId: () => host.nodeId, shell: cfg.commands.shell, runAs: cfg.ssh.run_as,
    maxConcurrent: cfg.commands.max_concurrent, outputCapBytes: cfg.commands.output_cap_bytes, killGraceMs: cfg.commands.kill_grace_ms, log,
  };
  const commands = await CommandService.open(commandOpts);

  // 4. HTTP server and routes; it answers 503 until the end of startup.
  const keys = prepareKeys(cfg.api_key, cfg.master_key, cfg.metrics_key);
  const http = new HttpServer({
    maxBodyBytes: cfg.http.max_body_bytes,
    maxInflight: cfg.http.max_inflight_requests,
    keys,
    log,
  });
  // WebSocket routes go before finish(), whose catch-all would shadow them.
  const ws = new WsHub({ http, kv: dp.kv, namespaces: dp.namespaces, streams, queues, ts, log, feeds: [commandOutputFeed(commands)] });
  const metrics = new Metrics(dp.kv, http);
  metrics.wsConnections = () => ws.conns.size;
  metrics.timeseries = () => ({ rollup_points_total: ts.rolledPoints, rollup_buckets_recomputed_total: ts.rolledDirty, trimmed_total: ts.trimmed });
  const agentMetrics = new AgentMetricsService({ nodeId: () => host.nodeId, startedAt, tablesBytes: () => dp.kv.cache.usedBytes, log });
  agentMetrics.clusterName = () => host.clusterName;
  metrics.agent = agentMetrics;
  // Host figures are sampled in the background, so a scrape only reads memory.
  agentMetrics.start();
  agentMetricsRoutes(http, agentMetrics);
  let agent: AgentServices | undefined;
  const closeStores = async () => {
    metrics.close();
    agentMetrics.close();
    await commands.close();
    await dp.close();
    await agent?.closeStores();
    dirLock.release();
    process.removeListener('exit', releaseAtExit);
  };
  // The agent's network services: CIDRs and ENROLLMENT_KEY are checked here, before anything listens.
  try {
    agent = new AgentServices(cfg, log, host);
  } catch (err) {
    await closeStores();
    throw err;
  }
  systemRoutes(http, dp, metrics, native, startedAt, () => agent.ssh?.fingerprints, () => host.nodeId);
  namespaceRoutes(http, dp);
  kvRoutes(http, dp);
  queueRoutes(http, dp);
  streamRoutes(http, dp);
  tsRoutes(http, dp);
  agentCommandRoutes(http, commands);
  agent.routes(http);
  http.finish();
  let port: number;
  try {
    port = await http.listen(cfg.bind, cfg.api_port, 'api_port');
  } catch (err) {
    await closeStores();
    throw err;
  }

  // 4b. Agent services (SSH, proxies), 5. the control plane (admin role), then the tunnel to the
  // admin (in all-in-one mode, to the admin just started).
  let admin: AdminService | undefined;
  try {
    await agent.start(port, commands, agentMetrics);
    if (cfg.admin.enabled) {
      // Loaded only for the admin role: an agent does not carry Kysely and the store.
      const { startAdmin } = await import('./admin');
      admin = await startAdmin(cfg, log);
    }
    // All-in-one: without an ENROLLMENT_KEY, the local agent enrolls into the admin just started.
    let selfKey: string | undefined;
    if (admin && !cfg.agent.enrollment_key && cfg.admin.self_enroll) {
      const { selfEnrollmentKey } = await import('./admin/fleet/self-enroll');
      selfKey = await selfEnrollmentKey(admin.ctx);
    }
    agent.startTunnel(port, commands, agentMetrics, selfKey);
  } catch (err) {
    await agent.stopTunnel().catch(() => undefined);
    await agent.close(0).catch(() => undefined);
    await http.close(0);
    await closeStores();
    throw err;
  }

  // 6. Ready.
  http.state = 'ready';
  commands.start();
  log.info({ version: VERSION, bind: cfg.bind, port, data_dir: cfg.data_dir, node_id: host.nodeId, partitions: dp.kv.partitionCount, workers: cfg.core.workers, write_mode: dp.writeMode, startup_ms: Date.now() - startedAt }, 'outpostd listening');

  let closing: Promise<{ drained: boolean }> | undefined;
  return {
    port,
    dataPlane: dp,
    queues,
    streams,
    ws,
    ts,
    commands,
    tunnel: agent.tunnel,
    host,
    http,
    admin,
    native,
    agentMetrics,
    ssh: agent.ssh,
    sshPort: agent.sshPort,
    sshUsers: agent.sshUsers,
    denyPolicy: agent.denyPolicy,
    proxy: agent.proxy,
    reload(next, keys) {
      for (const key of keys) {
        const f = FIELDS.find((x) => x.key === key);
        if (!f?.reload) throw new Error(`${key} is not reloadable`);
        setConfigValue(cfg, key, getPath(next, key));
        cfg.sources[key] = next.sources[key];
      }
      // Parts that read cfg when they act (drain timeout, event retention) see the new values
      // already; these copied theirs at startup.
      log.level = cfg.log_level;
      http.setLimits({ maxBodyBytes: cfg.http.max_body_bytes, maxInflight: cfg.http.max_inflight_requests });
      admin?.http.setLimits({ maxBodyBytes: cfg.http.max_body_bytes, maxInflight: cfg.http.max_inflight_requests });
      commandOpts.maxConcurrent = cfg.commands.max_concurrent;
      commandOpts.outputCapBytes = cfg.commands.output_cap_bytes;
      commandOpts.killGraceMs = cfg.commands.kill_grace_ms;
      Object.assign(agent.recordings.opts, { enabled: cfg.ssh.recording, maxBytes: cfg.ssh.recording_max_bytes, maxTotalBytes: cfg.ssh.recordings_max_total_bytes });
    },
    close() {
      closing ??= (async () => {
        log.info({ inflight: http.inflight }, 'draining');
        queues.interrupt();
        // No new deliveries; results of commands the shutdown ends are reported after the restart.
        await agent.stopTunnel();
        // Running commands get SIGTERM and are recorded as ended by the shutdown; pending ones
        // stay queued for the next start.
        await commands.stop();
        ws.closeAll();
        const [drained] = await Promise.all([http.close(cfg.http.drain_timeout_ms), agent.close(cfg.http.drain_timeout_ms)]);
        if (!drained) log.warn({ inflight: http.inflight }, 'drain timeout: in-flight requests abandoned');
        await admin?.close();
        await closeStores();
        log.info({ drained }, 'stopped');
        return { drained };
      })();
      return closing;
    },
  };
}
