// Startup and shutdown order of outpostd, top to bottom. main.ts is the process entry; tests
// start the same daemon in-process through startDaemon().
import fs from 'node:fs';
import path from 'node:path';
import { Engine } from '../core';
import { DenyPolicy } from './agent/net/deny';
import { PROXY_DRAIN_GRACE_MS, ProxyService } from './agent/proxy';
import { QueueStore } from '../core/queue';
import { StreamStore } from '../core/stream';
import { TsStore } from '../core/ts';
import { CommandService } from './agent/commands';
import { AgentTunnel } from './agent/tunnel';
import { decodeKeyBlob } from './admin/tunnel/backend';
import { loadNative, type NativeReport } from '../native';
import type { Config } from './config';
import { HttpServer, prepareKeys } from './http';
import type { Logger } from './log';
import { Metrics } from './metrics';
import { AgentMetricsService } from './agent/metrics';
import { agentMetricsRoutes } from './routes/agent-metrics';
import { kvRoutes } from './routes/kv';
import { namespaceRoutes } from './routes/namespaces';
import { queueRoutes } from './routes/queue';
import { streamRoutes } from './routes/stream';
import { tsRoutes } from './routes/ts';
import { agentCommandRoutes } from './routes/agent-commands';
import { WsHub } from './ws/server';
import { systemRoutes } from './routes/system';
import { SshUserStore } from './agent/ssh-users/store';
import { RecordingStore } from './agent/ssh/recording';
import { SshService } from './agent/ssh/server';
import { agentSshRoutes } from './routes/agent-ssh';
import { VERSION } from './version';
import type { AdminService } from './admin';

export interface Daemon {
  port: number;
  engine: Engine;
  queues: QueueStore;
  streams: StreamStore;
  ws: WsHub;
  ts: TsStore;
  commands: CommandService;
  /** The tunnel to the admin, when ENROLLMENT_KEY is set. */
  tunnel?: AgentTunnel;
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
  denyPolicy: DenyPolicy;
  /** HTTP and SOCKS5 proxies (`proxy.running` false when proxy.enabled is off); stats() always works. */
  proxy: ProxyService;
  /** Drain: stop accepting, finish in-flight requests, commit queued writes, close stores. */
  close(): Promise<{ drained: boolean }>;
}

export async function startDaemon(cfg: Config, log: Logger): Promise<Daemon> {
  const startedAt = Date.now();

  // 1. Native addons: fail early and clearly, warn loudly on a fallback.
  const native = loadNative();
  log.info({ uws: native.uws, lmdb: native.lmdb }, 'native backends');
  for (const w of native.warnings) log.warn(w);

  // 2. Security posture.
  if (!cfg.api_key && !cfg.master_key) {
    log.warn(`NO API KEY IS SET: the API on ${cfg.bind} accepts every local request. Set API_KEY or MASTER_KEY before exposing it.`);
  }

  // Proxy allow/deny CIDRs are checked before anything is opened.
  const denyPolicy = new DenyPolicy({ allowCidrs: cfg.proxy.allow_cidrs, denyCidrs: cfg.proxy.deny_cidrs });
  if (cfg.ssh.enabled) denyPolicy.addOwnPort(cfg.ssh.port);
  // A malformed ENROLLMENT_KEY fails the start here, with the reason.
  // (The config has no `agent` object when none of its settings is set.)
  const enrollmentKey = cfg.agent?.enrollment_key;
  if (enrollmentKey) decodeKeyBlob(enrollmentKey);

  // 3. Data dir and the data engine (LMDB partitions + worker pool).
  fs.mkdirSync(cfg.data_dir, { recursive: true, mode: 0o700 });
  const engine = await Engine.open({
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
  });

  const streams = new StreamStore(path.join(cfg.data_dir, 'stream.mdb'), { max_records: cfg.stream.max_records, max_age_ms: cfg.stream.max_age_ms }, cfg.stream.trim_interval_ms);
  const ts = new TsStore(path.join(cfg.data_dir, 'ts.mdb'), { trimIntervalMs: cfg.ts.trim_interval_ms, rollupIntervalMs: cfg.ts.rollup_interval_ms });
  const queues = new QueueStore(path.join(cfg.data_dir, 'queue.mdb'), { maxDeliveries: cfg.queue.max_deliveries, dedupWindowMs: cfg.queue.dedup_window_ms });
  // Command runner: executions a previous run left running are recorded as failed here.
  const commands = await CommandService.open({
    file: path.join(cfg.data_dir, 'agent', 'commands.mdb'), nodeId: engine.nodeId, shell: cfg.commands.shell, runAs: cfg.ssh.run_as,
    maxConcurrent: cfg.commands.max_concurrent, outputCapBytes: cfg.commands.output_cap_bytes, killGraceMs: cfg.commands.kill_grace_ms, log,
  });

  // 4. HTTP server and routes; it answers 503 until the end of startup.
  const keys = prepareKeys(cfg.api_key, cfg.master_key);
  const http = new HttpServer({
    maxBodyBytes: cfg.http.max_body_bytes,
    maxInflight: cfg.http.max_inflight_requests,
    keys,
    log,
  });
  // WebSocket routes go before finish(), whose catch-all would shadow them.
  const ws = new WsHub({ http, engine, streams, queues, ts, keys, log, commands });
  const metrics = new Metrics(engine, http);
  metrics.wsConnections = () => ws.conns.size;
  metrics.timeseries = () => ({ rollup_points_total: ts.rolledPoints, rollup_buckets_recomputed_total: ts.rolledDirty, trimmed_total: ts.trimmed });
  const agentMetrics = new AgentMetricsService({ nodeId: engine.nodeId, startedAt, tablesBytes: () => engine.cache.usedBytes, log });
  metrics.agent = agentMetrics;
  agentMetricsRoutes(http, agentMetrics);
  // The agent's SSH credentials and recordings (the routes work with the server off, too).
  const agentDir = path.join(cfg.data_dir, 'agent');
  const sshUsers = new SshUserStore(path.join(agentDir, 'ssh.mdb'), engine.nodeId);
  const recordings = new RecordingStore(sshUsers.env, path.join(agentDir, 'recordings'), { enabled: cfg.ssh.recording, maxBytes: cfg.ssh.recording_max_bytes, maxTotalBytes: cfg.ssh.recordings_max_total_bytes });
  const ssh = cfg.ssh.enabled ? new SshService({
    checkTarget: (host, port) => denyPolicy.checkTarget(host, port),
    dir: agentDir, store: sshUsers, recordings, log, runAs: cfg.ssh.run_as,
    idleTimeoutMs: cfg.ssh.idle_timeout_ms, keepaliveIntervalMs: cfg.ssh.keepalive_interval_ms, authFailuresPerMinute: cfg.ssh.auth_failures_per_minute,
  }) : undefined;
  systemRoutes(http, engine, metrics, native, startedAt, () => ssh?.fingerprints);
  namespaceRoutes(http, engine);
  kvRoutes(http, engine);
  queueRoutes(http, engine, queues);
  streamRoutes(http, engine, streams);
  tsRoutes(http, engine, ts);
  agentCommandRoutes(http, commands);
  agentSshRoutes(http, sshUsers, recordings);
  http.finish();
  // Stores close after the engine, whose pool workers read ts.mdb.
  const closeStores = async () => {
    metrics.close();
    await commands.close();
    await queues.close();
    await streams.close();
    await engine.close();
    await ts.close();
    await sshUsers.close();
  };
  let port: number;
  try {
    port = await http.listen(cfg.bind, cfg.api_port);
  } catch (err) {
    await closeStores();
    throw err;
  }

  // 4b. Agent services, once the API is up.
  let sshPort: number | undefined;
  if (ssh) {
    try {
      sshPort = await ssh.listen(cfg.ssh.bind ?? cfg.bind, cfg.ssh.port);
    } catch (err) {
      await http.close(0);
      await ssh.close();
      await closeStores();
      throw err;
    }
    log.info({ port: sshPort, bind: cfg.ssh.bind ?? cfg.bind, host_keys: ssh.fingerprints, run_as: cfg.ssh.run_as, recording: cfg.ssh.recording }, 'ssh listening');
  }
  if (sshPort) denyPolicy.addOwnPort(sshPort);
  denyPolicy.addOwnPort(port);

  // 4b. Agent proxies (HTTP + SOCKS5).
  const proxy = new ProxyService(denyPolicy, cfg.proxy.idle_timeout_ms, log);
  if (cfg.proxy.enabled) {
    try {
      await proxy.start({ bind: cfg.proxy.bind ?? cfg.bind, httpPort: cfg.proxy.http_port, socks5Port: cfg.proxy.socks5_port, password: cfg.proxy.password, dataDir: cfg.data_dir });
    } catch (err) {
      await http.close(0);
      await closeStores();
      throw err;
    }
  }

  // 5. Control plane (admin role): store + migrations, then its own API port.
  let admin: AdminService | undefined;
  if (cfg.admin.enabled) {
    try {
      // Loaded only for the admin role: an agent does not carry Kysely and the store.
      const { startAdmin } = await import('./admin');
      admin = await startAdmin(cfg, log);
    } catch (err) {
      await http.close(0);
      await closeStores();
      throw err;
    }
  }

  // Agent services report their counters to the metrics (each source's stats() returns its
  // sub-object of the reference's AgentMetricsResponse; an absent one reads as zero).
  agentMetrics.sources = { commands: () => commands.stats(), proxy: () => proxy.stats(), ...(ssh ? { ssh: () => ssh.stats() } : {}) };

  // 6. Ready.
  http.state = 'ready';
  // The tunnel to the admin (enrolls in the background; deliveries run on the command runner).
  let tunnel: AgentTunnel | undefined;
  if (enrollmentKey) {
    try {
      tunnel = new AgentTunnel({
        dataDir: cfg.data_dir, enrollmentKey, name: cfg.agent?.name, agentVersion: VERSION,
        heartbeatIntervalMs: cfg.admin.heartbeat_interval_ms, log, ports: { http_port: port, ...(cfg.ssh.enabled ? { ssh_port: cfg.ssh.port } : {}) },
      });
    } catch (err) {
      await http.close(0);
      await closeStores();
      throw err;
    }
    tunnel.attachCommands(commands);
  }
  commands.start();
  tunnel?.start();
  log.info({ version: VERSION, bind: cfg.bind, port, data_dir: cfg.data_dir, node_id: engine.nodeId, partitions: engine.partitionCount, workers: cfg.core.workers, write_mode: cfg.core.write_mode, startup_ms: Date.now() - startedAt }, 'outpostd listening');

  let closing: Promise<{ drained: boolean }> | undefined;
  return {
    port,
    engine,
    queues,
    streams,
    ws,
    ts,
    commands,
    tunnel,
    http,
    admin,
    native,
    agentMetrics,
    ssh,
    sshPort,
    sshUsers,
    denyPolicy,
    proxy,
    close() {
      closing ??= (async () => {
        log.info({ inflight: http.inflight }, 'draining');
        queues.interrupt();
        // No new deliveries; results of commands the shutdown ends are reported after the restart.
        await tunnel?.close();
        // Running commands get SIGTERM and are recorded as ended by the shutdown; pending ones
        // stay queued for the next start.
        await commands.stop();
        ws.closeAll();
        await ssh?.close();
        const [drained] = await Promise.all([http.close(cfg.http.drain_timeout_ms), proxy.close(Math.min(cfg.http.drain_timeout_ms, PROXY_DRAIN_GRACE_MS))]);
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
