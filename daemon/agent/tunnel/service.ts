// AgentTunnel: the agent's connection to its admin, start to stop. With an ENROLLMENT_KEY it
// enrolls once (retrying an unreachable admin with backoff, giving up with a clear log line on
// a refusal), keeps what enrollment gave in data_dir/agent/tunnel.json, and then holds the
// tunnel. The key is needed once: restarted without it, the agent reconnects with the identity
// in tunnel.json. Enrolling again (a new key) proves the node with its current api_token, so the
// admin re-registers the same node instead of creating another. Runs in the background: the
// daemon starts and serves whether or not the admin is up.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { decodeKeyBlob, type CredentialSet } from '../../tunnel/enrollment';
import { jsonBytes, type CommandResult, type NodeFacts } from '../../tunnel/schema';
import type { Logger } from '../../base/log';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { TunnelClient, type TunnelClientStats, type TunnelHooks } from './client';
import { CommandsBridge } from './commands-bridge';
import { enroll, EnrollFailure, httpOrigin } from './enroll';
import { RetryLog } from './retry-log';
import { agentDir, nodeIdentity, readCredentials, readEnrolled, sha256, writeCredentials, writeEnrolled, type EnrolledState } from './identity';
import { LmdbTunnelStore, type TunnelStore } from './store';

export interface AgentTunnelOptions {
  dataDir: string;
  /** Needed for the first enrollment only (and to enroll again with another key); without it the enrolled identity in tunnel.json is used. */
  enrollmentKey?: string;
  name?: string;
  agentVersion: string;
  heartbeatIntervalMs: number;
  log: Logger;
  hooks?: TunnelHooks;
  ports?: Partial<Record<'ssh_port' | 'http_port' | 'http_proxy_port' | 'socks5_proxy_port', number>>;
  /** Ports and proxy password sent in every Hello. */
  facts?(): NodeFacts;
  backoff?: BackoffOptions;
  /** Where the machine id is read (tests point it elsewhere). */
  machineIdFile?: string;
  /** Called with the enrolled identity: at start when tunnel.json holds one, and after every enrollment. */
  onEnrolled?(s: EnrolledState): void;
}

export interface AgentTunnelStats extends Partial<TunnelClientStats> { enrolled: boolean; node_id: string | null; cluster_name: string | null; enroll_error: string | null }

export class AgentTunnel {
  readonly store: TunnelStore;
  client?: TunnelClient;
  state?: EnrolledState;
  enrollError: string | null = null;
  private readonly hooks: TunnelHooks;
  private bridge?: CommandsBridge;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private enrolledWaiters: Array<() => void> = [];
  private readonly trouble: RetryLog;

  /** Checks the key (a malformed key fails the start, with the reason) and opens the outbox. */
  constructor(private readonly o: AgentTunnelOptions) {
    if (o.enrollmentKey) decodeKeyBlob(o.enrollmentKey);
    this.trouble = new RetryLog(o.log, 'enrollment failed');
    this.hooks = { ...o.hooks };
    this.store = new LmdbTunnelStore(path.join(agentDir(o.dataDir), 'tunnel.mdb'));
  }

  /** Hooks may be set before start() (the daemon wires the command runner, SSH credentials, metrics). */
  setHooks(h: TunnelHooks): void { Object.assign(this.hooks, h); }

  /** Runs deliveries on the local command runner and reports their outcomes (call before start()). */
  attachCommands(commands: ConstructorParameters<typeof CommandsBridge>[0]): void {
    const bridge = new CommandsBridge(commands, this.store, (r) => this.reportResult(r), this.o.log, (id, offset, data) => this.client?.sendOutput(id, offset, data));
    this.bridge = bridge;
    this.setHooks({
      onCommandDeliver: (d) => bridge.deliver(d),
      onCommandCancel: (id, ref) => bridge.cancel(id, ref),
      heartbeat: () => ({ commands_running: (commands as { running?: number }).running ?? 0, commands_queued: (commands as { queued?: number }).queued ?? 0 }),
    });
  }

  /** Queues a command outcome durably (sent when the tunnel is up). */
  async reportResult(r: CommandResult): Promise<void> {
    const { frame } = await this.store.append({ command_result: r });
    // The client may have come up while the append committed: it decides whether to send now.
    this.client?.sendQueued(frame);
  }

  /** Queues an agent event durably (delivered at least once, even across restarts). */
  async reportEvent(type: string, data: unknown): Promise<void> {
    const { frame } = await this.store.append({ event: { id: randomUUID(), type, time: Date.now(), json: jsonBytes(data) } });
    this.client?.sendQueued(frame);
  }

  /** The last credential set received (kept across restarts), for the SSH server at start. */
  credentials(): CredentialSet | undefined { return readCredentials(this.o.dataDir); }

  start(): void {
    const key = this.o.enrollmentKey ? decodeKeyBlob(this.o.enrollmentKey) : undefined;
    this.bridge?.resume();
    const prior = readEnrolled(this.o.dataDir);
    if (prior && (!key || prior.key_sha256 === sha256(key.secret))) {
      if (!key) this.o.log.info({ node_id: prior.node_id, cluster_name: prior.cluster_name, tunnel_url: prior.tunnel_url }, 'no ENROLLMENT_KEY: connecting with the identity enrolled earlier (data_dir/agent/tunnel.json)');
      this.enrolled(prior);
      return;
    }
    if (!key) {
      this.o.log.warn('not enrolled: no ENROLLMENT_KEY and no data_dir/agent/tunnel.json; the agent runs without a control plane');
      return;
    }
    if (prior) this.o.log.info({ node_id: prior.node_id }, 'ENROLLMENT_KEY changed since the last enrollment: enrolling again, proving the node with its api_token');
    void this.enrollLoop(0, prior);
  }

  whenEnrolled(): Promise<void> {
    if (this.state) return Promise.resolve();
    return new Promise((r) => this.enrolledWaiters.push(r));
  }

  private enrolled(s: EnrolledState): void {
    this.state = s;
    this.enrollError = null;
    this.o.onEnrolled?.(s);
    for (const w of this.enrolledWaiters.splice(0)) w();
    this.connect();
  }

  /**
   * Enrolls with the key. With `prior` (enrolled before, with another key) the request names
   * that node and proves it with its api_token; if the key is refused the agent keeps its
   * earlier enrollment rather than going offline.
   */
  private async enrollLoop(attempt: number, prior?: EnrolledState): Promise<void> {
    if (this.stopped) return;
    const key = decodeKeyBlob(this.o.enrollmentKey!);
    const identity = prior ? { node_id: prior.node_id, id_type: prior.id_type } : nodeIdentity(this.o.dataDir, this.o.machineIdFile);
    try {
      const a = await enroll({ key, identity, name: this.o.name, agentVersion: this.o.agentVersion, ports: this.o.ports, nodeToken: prior?.api_token, tokenOrigins: prior ? priorOrigins(prior) : undefined });
      if (this.stopped) return;
      const state: EnrolledState = {
        node_id: a.node_id, id_type: a.node_id === identity.node_id ? identity.id_type : 'random', api_token: a.api_token, cluster_name: a.cluster_name,
        urls: key.urls, tunnel_url: a.tunnel_url, key_sha256: sha256(key.secret), enrolled_at: new Date().toISOString(),
      };
      writeEnrolled(this.o.dataDir, state);
      const outage = this.trouble.ok();
      // onEnrolled first: from this line on, the log's `node` is the fleet id.
      this.enrolled(state);
      this.o.log.info({ node_id: a.node_id, cluster_name: a.cluster_name, admin: a.admin_url, reregistered: a.reregistered, ...outage }, 'enrolled with the admin');
      if (a.requested_node_id) {
        this.o.log.warn({ node_id: a.node_id, requested_node_id: a.requested_node_id },
          `the admin enrolled this agent as a new node ${a.node_id}: node ${a.requested_node_id} is already enrolled and this agent did not prove it (no valid api_token of it, or a key of another cluster); that node is left as it was on the admin`);
      }
    } catch (err) {
      this.enrollError = (err as Error).message;
      if (err instanceof EnrollFailure && !err.retryable) {
        if (prior) {
          this.o.log.error({ status: err.status, reason: err.reason, node_id: prior.node_id }, `${err.message}; keeping the earlier enrollment`);
          this.enrolled(prior);
          return;
        }
        this.o.log.error({ status: err.status, reason: err.reason }, `${err.message}; the agent keeps running without a control plane`);
        return;
      }
      const delay = backoffDelay(attempt, this.o.backoff ?? DEFAULT_BACKOFF);
      this.trouble.fail((err as Error).message, { retry_in_ms: delay });
      this.timer = setTimeout(() => void this.enrollLoop(attempt + 1, prior), delay);
    }
  }

  private connect(): void {
    const s = this.state!;
    this.client = new TunnelClient({
      url: s.tunnel_url, token: s.api_token, nodeId: s.node_id, agentVersion: this.o.agentVersion, store: this.store,
      hooks: this.hooks, log: this.o.log, heartbeatIntervalMs: this.o.heartbeatIntervalMs, backoff: this.o.backoff,
      credentials: readCredentials(this.o.dataDir), saveCredentials: (set) => writeCredentials(this.o.dataDir, set),
      ...(this.o.facts ? { facts: this.o.facts } : {}),
    });
    this.client.start();
  }

  stats(): AgentTunnelStats {
    return { enrolled: Boolean(this.state), node_id: this.state?.node_id ?? null, cluster_name: this.state?.cluster_name ?? null, enroll_error: this.enrollError, ...this.client?.stats() };
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.client?.stop();
    // Writes of frames taken before the stop finish before the outbox closes.
    await this.client?.settled();
    await this.bridge?.close();
    await this.store.close();
  }
}

/** The admin this node enrolled with, as http origins: the only place its token is sent. */
function priorOrigins(prior: EnrolledState): string[] {
  const out: string[] = [];
  for (const u of [...(prior.urls ?? []), prior.tunnel_url]) {
    const o = u ? httpOrigin(u) : undefined;
    if (o && !out.includes(o)) out.push(o);
  }
  return out;
}
