// The agent's network services, in the order the daemon starts them: the egress policy (checked
// before anything opens), the SSH credential store and server, the HTTP and SOCKS5 proxies and
// the tunnel to the admin; and the hooks that connect them (credential sync → SSH users,
// metrics requests → host/agent metrics, deliveries → command runner).
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { decodeKeyBlob, type CredentialSet } from '../tunnel/enrollment';
import type { Config } from '../config/config';
import type { HostIdentity } from './tunnel/host-identity';
import type { HttpServer } from '../http';
import type { Logger } from '../base/log';
import { agentSshRoutes } from './ssh/routes';
import { VERSION } from '../base/version';
import type { CommandService } from './commands';
import type { AgentMetricsService } from './metrics';
import { EgressPolicy } from '../net';
import { PROXY_DRAIN_GRACE_MS, ProxyService } from './proxy';
import { resolveRunAs, RunAsError } from './host/run-as';
import { SshUserStore } from './ssh-users/store';
import { RecordingStore } from './ssh/recording';
import { SshService } from './ssh/server';
import type { LoginEvent } from './ssh/types';
import type { AgentTunnel } from './tunnel';
import { readEnrolled } from './tunnel/identity';

export class AgentServices {
  readonly denyPolicy: EgressPolicy;
  readonly sshUsers: SshUserStore;
  readonly recordings: RecordingStore;
  readonly ssh?: SshService;
  readonly proxy: ProxyService;
  tunnel?: AgentTunnel;
  /** username + credential pairs already reported as verified since start. */
  private readonly verified = new Set<string>();
  sshPort?: number;
  private readonly enrollmentKey?: string;

  /** Synchronous checks and stores; throws on bad CIDRs or a malformed ENROLLMENT_KEY before anything listens. */
  constructor(private readonly cfg: Config, private readonly log: Logger, private readonly host: HostIdentity) {
    this.denyPolicy = new EgressPolicy({ allowLan: true, allowCidrs: cfg.proxy.allow_cidrs, denyCidrs: cfg.proxy.deny_cidrs, hint: 'list it in proxy.allow_cidrs to allow it' });
    if (cfg.ssh.enabled && cfg.ssh.port) this.denyPolicy.addOwnPort(cfg.ssh.port);
    this.enrollmentKey = cfg.agent.enrollment_key;
    if (this.enrollmentKey) decodeKeyBlob(this.enrollmentKey);
    const dir = path.join(cfg.data_dir, 'agent');
    this.sshUsers = new SshUserStore(path.join(dir, 'ssh.mdb'), () => host.nodeId);
    this.recordings = new RecordingStore(this.sshUsers.env, path.join(dir, 'recordings'), { enabled: cfg.ssh.recording, maxBytes: cfg.ssh.recording_max_bytes, maxTotalBytes: cfg.ssh.recordings_max_total_bytes });
    this.ssh = cfg.ssh.enabled ? new SshService({
      checkTarget: (host, port) => this.denyPolicy.checkTarget(host, port),
      dir, store: this.sshUsers, recordings: this.recordings, log, runAs: cfg.ssh.run_as,
      idleTimeoutMs: cfg.ssh.idle_timeout_ms, preauthTimeoutMs: cfg.ssh.preauth_timeout_ms, keepaliveIntervalMs: cfg.ssh.keepalive_interval_ms, authFailuresPerMinute: cfg.ssh.auth_failures_per_minute, auditMaxBytes: cfg.ssh.audit_max_bytes,
      onLogin: (e) => this.loginVerified(e),
    }) : undefined;
    this.proxy = new ProxyService(this.denyPolicy, cfg.proxy.idle_timeout_ms, log);
  }

  /**
   * The first successful login of each username with each credential (key fingerprint or
   * password) since the agent started goes to the admin as edge.ssh_username.verified, through the
   * tunnel's durable outbox; later logins with the same credential are in the audit log only.
   */
  private loginVerified(e: LoginEvent): void {
    if (!this.tunnel) return;
    const k = `${e.username}\u0000${e.method}\u0000${e.key_fingerprint ?? ''}`;
    if (this.verified.has(k)) return;
    this.verified.add(k);
    this.tunnel.reportEvent('edge.ssh_username.verified', e).catch((err) => {
      this.verified.delete(k);
      this.log.warn({ err, username: e.username }, 'ssh: could not queue edge.ssh_username.verified');
    });
  }

  /** Local API routes (they work with the SSH server off, too). */
  routes(http: HttpServer): void {
    agentSshRoutes(http, this.sshUsers, this.recordings);
  }

  /** Once the API listens on `apiPort`: SSH and the proxies. */
  async start(apiPort: number, commands: CommandService, metrics: AgentMetricsService): Promise<void> {
    const { cfg, log } = this;
    this.denyPolicy.addOwnPort(apiPort);
    // Said at start, not only at the first login or command: as root, sessions and fleet
    // commands run as ssh.run_as, and a fresh host (no systemd/install.sh) lacks that account.
    try {
      resolveRunAs(cfg.ssh.run_as);
    } catch (err) {
      if (!(err instanceof RunAsError)) throw err;
      log.warn({ run_as: cfg.ssh.run_as }, `${err.message}: SSH logins and fleet commands will fail until then`);
    }
    if (this.ssh) {
      this.sshPort = await this.ssh.listen(cfg.ssh.bind ?? cfg.bind, cfg.ssh.port);
      this.denyPolicy.addOwnPort(this.sshPort);
      log.info({ port: this.sshPort, bind: cfg.ssh.bind ?? cfg.bind, host_keys: this.ssh.fingerprints, run_as: cfg.ssh.run_as, recording: cfg.ssh.recording }, 'ssh listening');
    }
    if (cfg.proxy.enabled) {
      await this.proxy.start({ bind: cfg.proxy.bind ?? cfg.bind, httpPort: cfg.proxy.http_port, socks5Port: cfg.proxy.socks5_port, password: cfg.proxy.password, dataDir: cfg.data_dir, authFailuresPerMinute: cfg.proxy.auth_failures_per_minute });
    }
    metrics.sources = { commands: () => commands.stats(), proxy: () => this.proxy.stats(), ...(this.ssh ? { ssh: () => this.ssh!.stats() } : {}) };
  }

  /**
   * The tunnel to the admin, when ENROLLMENT_KEY is set or the agent was enrolled before (the
   * key is needed once: tunnel.json keeps the identity); it enrolls and connects in the background.
   */
  startTunnel(apiPort: number, commands: CommandService, metrics: AgentMetricsService, selfKey?: string): void {
    const { cfg, log } = this;
    const enrollmentKey = this.enrollmentKey ?? selfKey;
    const enrolled = readEnrolled(cfg.data_dir) !== undefined;
    if (!enrollmentKey && !enrolled) {
      // data_dir/agent/node_id is written when an enrollment starts: this agent was meant to join a fleet.
      const tried = fs.existsSync(path.join(cfg.data_dir, 'agent', 'node_id'));
      if (tried) log.warn('not enrolled: data_dir/agent/tunnel.json is missing (the enrollment never completed, or the file was removed) and there is no ENROLLMENT_KEY: set one to enroll; running without a control plane');
      else log.info('no control plane: not enrolled and no ENROLLMENT_KEY (set one to enroll this agent)');
    }
    if (enrollmentKey || enrolled) {
      const ports = { http: this.proxy.httpPort, socks5: this.proxy.socks5Port };
      // Loaded only with a control plane: protobufjs and the tunnel schema cost ~9 MiB.
      const { AgentTunnel } = require('./tunnel') as typeof import('./tunnel');
      this.tunnel = new AgentTunnel({
        dataDir: cfg.data_dir, enrollmentKey, name: cfg.agent.name ?? os.hostname(), agentVersion: VERSION,
        heartbeatIntervalMs: cfg.admin.heartbeat_interval_ms, log,
        onEnrolled: (s) => this.host.enrolled(s.node_id, s.cluster_name),
        ports: { http_port: apiPort, ...(this.sshPort ? { ssh_port: this.sshPort } : {}), ...(ports.http ? { http_proxy_port: ports.http } : {}), ...(ports.socks5 ? { socks5_proxy_port: ports.socks5 } : {}) },
        // The agent API serves GET /metrics (Prometheus), so it is the host metrics port too.
        facts: () => ({
          http_port: apiPort, host_metrics_port: apiPort, ssh_port: this.sshPort ?? 0,
          http_proxy_port: this.proxy.httpPort ?? 0, socks5_proxy_port: this.proxy.socks5Port ?? 0, proxy_password: this.proxy.password ?? '',
        }),
      });
      this.tunnel.attachCommands(commands);
      // The last set the admin pushed is applied again at start (it may not have been applied
      // before a crash), so logins work while the admin is down; newer sets wait for it.
      const saved = this.tunnel.credentials();
      const initial = (saved ? this.applyCredentials(saved) : Promise.resolve()).catch((err: unknown) => log.error({ err }, 'ssh: applying the saved admin credential set failed'));
      this.tunnel.setHooks({
        onMetricsRequest: async (kind) => (kind === 'host' ? metrics.host() : kind === 'agent' ? metrics.agent() : metrics.unified()),
        // The admin's SSH jump reaches this node's SSH server through the tunnel (and nothing else).
        onStreamOpen: (target) => new Promise((resolve, reject) => {
          if (target !== 'ssh') return reject(new Error(`unknown stream target ${JSON.stringify(target)}`));
          if (!this.sshPort) return reject(new Error('the SSH server is not running on this node'));
          const sock = net.connect({ port: this.sshPort, host: '127.0.0.1', allowHalfOpen: true }, () => { sock.setNoDelay(true); resolve(sock); });
          sock.once('error', reject);
        }),
        onCredentialSync: async (set) => { await initial; await this.applyCredentials(set); },
      });
      this.tunnel.start();
    }
  }

  /** Applies the admin's SSH credential set to the local store and logs what changed. */
  private async applyCredentials(set: CredentialSet): Promise<void> {
    const r = await this.sshUsers.applyAdminSet(set);
    for (const u of r.replaced_local) this.log.warn({ username: u }, 'ssh: the admin manages this username now; the local username of the same name was replaced');
    for (const s of r.skipped) this.log.warn({ username: s.username, key_id: s.key_id, reason: s.reason }, 'ssh: an entry of the admin credential set was skipped');
    this.log.info({ version: r.version, users: r.users, keys: r.keys, removed: r.removed.length }, 'ssh: admin credential set applied');
  }

  /** First step of shutdown: no new deliveries from the admin. */
  async stopTunnel(): Promise<void> {
    await this.tunnel?.close();
  }

  /** Closes SSH and drains the proxies (within drainMs). */
  async close(drainMs: number): Promise<void> {
    await this.ssh?.close();
    await this.proxy.close(Math.min(drainMs, PROXY_DRAIN_GRACE_MS));
  }

  async closeStores(): Promise<void> {
    await this.sshUsers.close();
  }
}
