// TunnelClient: the agent end of the tunnel. Holds one outbound WebSocket (undici) to the
// admin: Hello → HelloOk, then re-sends every unacked outbox frame in order, heartbeats every
// interval, and answers deliveries/cancels/credential syncs/metrics through hooks. A lost
// connection (or an admin silent for 3 intervals) is retried with exponential backoff and full
// jitter. Whatever is reported while disconnected waits in the durable outbox.
import os from 'node:os';
import type { Duplex } from 'node:stream';
import { StreamMux } from '../../tunnel/streams';
import { splice } from '../../tunnel/splice';
import { WebSocket } from 'undici';
import type { CredentialSet } from '../../tunnel/enrollment';
import { decodeEnvelope, encodeEnvelope, jsonBytes, type CommandDeliver, type CommandResult, type Envelope, type Heartbeat, type MetricsKind, type NodeFacts } from '../../tunnel/schema';
import type { Logger } from '../../base/log';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { probeTunnel } from './probe';
import { RetryLog } from './retry-log';
import type { TunnelStore } from './store';

export interface TunnelHooks {
  /** Take an execution; resolve once it is durably accepted (the tunnel acks after). Returns a local reference kept with the delivery. */
  onCommandDeliver?(d: CommandDeliver): Promise<string | null | void>;
  /** Stop an execution; `ref` is what onCommandDeliver returned. Its result is reported as usual. */
  onCommandCancel?(executionId: string, ref: string | null): Promise<void>;
  /** A new full credential set, already saved in credentials.json. */
  onCredentialSync?(set: CredentialSet): Promise<void> | void;
  /** Metrics for the admin; throw to report them unavailable. */
  onMetricsRequest?(kind: MetricsKind): Promise<unknown>;
  /** A byte stream the admin opens to one of this agent's services ("ssh"); reject to refuse it. */
  onStreamOpen?(target: string): Promise<Duplex>;
  /** Extra heartbeat fields (commands running/queued…). */
  heartbeat?(): Partial<Heartbeat>;
}

export interface TunnelClientOptions {
  url: string;
  token: string;
  nodeId: string;
  agentVersion: string;
  store: TunnelStore;
  hooks: TunnelHooks;
  log: Logger;
  heartbeatIntervalMs: number;
  backoff?: BackoffOptions;
  capabilities?: string[];
  /** The credential set the agent holds (its version goes in Hello). */
  credentials?: CredentialSet;
  /** Persists a new credential set before it is applied and acked. */
  saveCredentials?(set: CredentialSet): void;
  /** Ports and proxy password, read at every connect (NodeResponse fields on the admin). */
  facts?(): NodeFacts;
}

export type TunnelState = 'idle' | 'connecting' | 'up' | 'waiting' | 'stopped';

export interface TunnelClientStats { state: TunnelState; connects_total: number; disconnects_total: number; outbox_pending: number; last_error: string | null; connected_since: string | null }

/** Live output is not sent while this much is waiting in the WebSocket's send buffer. */
const LIVE_BACKPRESSURE = 1 << 20;

export class TunnelClient {
  private ws?: WebSocket;
  /** Streams (SSH jump) of the current connection. */
  private mux?: StreamMux;
  state: TunnelState = 'idle';
  private attempt = 0;
  private retryTimer?: NodeJS.Timeout;
  private beatTimer?: NodeJS.Timeout;
  private lastRx = 0;
  /** Highest admin seq processed on this connection (cumulative ack we send). */
  private inAck = 0;
  private ackTimer = false;
  /** Admin frames are handled one at a time, in order (acks are cumulative). */
  private chain: Promise<void> = Promise.resolve();
  /** Reliable frames being handled now (settled() waits for them). */
  private readonly handling = new Set<Promise<void>>();
  private credentials?: CredentialSet;
  private connectedSince: number | null = null;
  private lastError: string | null = null;
  private connects = 0;
  private disconnects = 0;
  /** Resolves on the next HelloOk (tests and start-up wait on it). */
  private upWaiters: Array<() => void> = [];
  /** Says why the tunnel is down, without repeating itself every retry. */
  private readonly trouble: RetryLog;

  constructor(private readonly o: TunnelClientOptions) {
    this.credentials = o.credentials;
    this.trouble = new RetryLog(o.log, 'tunnel to the admin is down');
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.connect();
  }

  /** Resolves once the tunnel is up (HelloOk received). */
  whenUp(): Promise<void> {
    if (this.state === 'up') return Promise.resolve();
    return new Promise((r) => this.upWaiters.push(r));
  }

  stats(): TunnelClientStats {
    return { state: this.state, connects_total: this.connects, disconnects_total: this.disconnects, outbox_pending: this.o.store.pending, last_error: this.lastError, connected_since: this.connectedSince ? new Date(this.connectedSince).toISOString() : null };
  }

  /** Queues a command outcome durably; sent now when the tunnel is up, else after the next Hello. */
  async reportResult(r: CommandResult): Promise<void> { await this.enqueue({ command_result: r }); }

  /** Queues an agent event durably (delivered at least once; the admin drops repeats by id). */
  async reportEvent(id: string, type: string, data: unknown, time = Date.now()): Promise<void> {
    await this.enqueue({ event: { id, type, time, json: jsonBytes(data) } });
  }

  private async enqueue(body: Envelope): Promise<void> {
    const { frame } = await this.o.store.append(body);
    this.sendQueued(frame);
  }

  /** Sends a frame just appended to the store if the tunnel is up (else the next Hello re-sends it). */
  sendQueued(frame: Uint8Array): void {
    if (this.state === 'up') this.sendRaw(frame);
  }

  /** Closes the socket and stops reconnecting. Queued frames stay in the store. */
  /** Resolves once the reliable frames already taken are handled (their writes are done). */
  async settled(): Promise<void> {
    while (this.handling.size) await Promise.all([...this.handling]);
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    clearInterval(this.beatTimer);
    const ws = this.ws;
    this.ws = undefined;
    if (ws && ws.readyState <= 1) ws.close(1000, 'agent shutting down');
  }

  // --- connection ------------------------------------------------------------------------

  private connect(): void {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    this.inAck = 0;
    this.chain = Promise.resolve();
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.o.url, { headers: { authorization: `Bearer ${this.o.token}` } } as unknown as string[]);
    } catch (err) {
      this.lastError = (err as Error).message;
      const delay = this.retry();
      this.trouble.fail(`cannot open a WebSocket (${this.lastError})`, { url: this.o.url, retry_in_ms: delay });
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    let opened = false;
    this.mux?.closeAll('tunnel reconnecting');
    this.mux = new StreamMux((e) => {
      if (this.ws !== ws || ws.readyState !== 1) return false;
      this.sendEnvelope(e);
      return true;
    });
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.lastRx = Date.now();
      this.sendEnvelope({ hello: {
        node_id: this.o.nodeId, agent_version: this.o.agentVersion, host_name: os.hostname(),
        capabilities: this.o.capabilities ?? ['commands', 'credentials', 'metrics', 'events', 'command_output'],
        credentials_version: this.credentials?.version ?? 0, outbox_pending: this.o.store.pending,
        ...(this.o.facts ? { facts: this.o.facts() } : {}),
      } });
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastRx = Date.now();
      let e: Envelope;
      try { e = decodeEnvelope(new Uint8Array(ev.data as ArrayBuffer)); } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'tunnel: admin frame is not an Envelope');
        return;
      }
      this.onEnvelope(e);
    };
    ws.onerror = (ev) => {
      const err = (ev as unknown as { error?: Error }).error;
      this.lastError = err?.message ?? 'websocket error (refused, unreachable, or not a tunnel endpoint: check the admin URL and token)';
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.mux?.closeAll('tunnel closed');
      this.mux = undefined;
      const wasUp = this.state === 'up';
      clearInterval(this.beatTimer);
      if (wasUp) { this.disconnects++; this.connectedSince = null; }
      if (ev.code !== 1006 || !this.lastError) this.lastError = `closed ${ev.code}${ev.reason ? ` ${ev.reason}` : ''}`;
      if (this.state === 'stopped') return;
      if (!opened) { void this.explainThenRetry(); return; }
      const delay = this.retry();
      const fields = { url: this.o.url, retry_in_ms: delay };
      this.trouble.fail(wasUp ? `connection lost (${this.lastError})` : `closed before the admin accepted the Hello (${this.lastError})`, fields);
    };
  }

  /**
   * The handshake never opened: find out why (unreachable, token refused, admin error), log it,
   * then retry. The retry waits for the probe: a probe that is upgraded after all must be gone
   * before the next real tunnel opens, or the admin would take it for a newer tunnel of this node.
   */
  private async explainThenRetry(): Promise<void> {
    this.state = 'waiting';
    const delay = backoffDelay(this.attempt++, this.o.backoff ?? DEFAULT_BACKOFF);
    const started = Date.now();
    const p = await probeTunnel(this.o.url, this.o.token);
    if (this.state !== 'waiting') return; // stopped meanwhile
    this.retryTimer = setTimeout(() => this.connect(), Math.max(0, delay - (Date.now() - started)));
    const fields = { url: this.o.url, retry_in_ms: delay };
    if (p.status === 401 || p.status === 403) {
      this.lastError = `the admin refused this node's api_token (HTTP ${p.status}: ${p.message})`;
      this.trouble.fail(this.lastError, fields, 'error',
        'the node was deleted on the admin, or enrolled again elsewhere: restart the agent with a new ENROLLMENT_KEY (or remove data_dir/agent/tunnel.json to enroll again with a key that has uses left)');
      return;
    }
    if (p.status === undefined) this.lastError = `the admin is unreachable at ${new URL(this.o.url).host} (${p.message})`;
    else if (p.status !== 101) this.lastError = `the admin answered HTTP ${p.status}${p.message ? `: ${p.message}` : ''}`;
    this.trouble.fail(this.lastError ?? 'the WebSocket handshake failed', fields);
  }

  private retry(): number {
    if (this.state === 'stopped') return 0;
    this.state = 'waiting';
    const delay = backoffDelay(this.attempt++, this.o.backoff ?? DEFAULT_BACKOFF);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    return delay;
  }

  private up(ok: NonNullable<Envelope['hello_ok']>): void {
    this.state = 'up';
    this.attempt = 0;
    this.connects++;
    this.connectedSince = Date.now();
    this.lastError = null;
    const interval = ok.heartbeat_interval_ms || this.o.heartbeatIntervalMs;
    const outage = this.trouble.ok();
    this.o.log.info({ node_id: this.o.nodeId, cluster_name: ok.cluster_name, resend: this.o.store.pending, ...outage }, outage ? 'tunnel up again' : 'tunnel up');
    // Re-send everything unacked, in order; the admin is idempotent by id.
    for (const { frame } of this.o.store.unacked()) this.sendRaw(frame);
    clearInterval(this.beatTimer);
    this.beatTimer = setInterval(() => this.beat(interval), interval);
    this.beatTimer.unref();
    this.beat(interval);
    for (const w of this.upWaiters.splice(0)) w();
  }

  private beat(interval: number): void {
    if (this.state !== 'up') return;
    if (Date.now() - this.lastRx > 3 * interval) {
      this.o.log.warn({ silent_ms: Date.now() - this.lastRx }, 'tunnel: admin silent for 3 heartbeat intervals: reconnecting');
      this.ws?.close(4009, 'admin silent');
      return;
    }
    this.sendEnvelope({ heartbeat: {
      time: Date.now(), load_1m: os.loadavg()[0], mem_used_bytes: os.totalmem() - os.freemem(), mem_total_bytes: os.totalmem(),
      outbox_pending: this.o.store.pending, uptime_s: Math.floor(process.uptime()), ...this.o.hooks.heartbeat?.(),
    } });
  }

  // --- inbound ---------------------------------------------------------------------------

  private onEnvelope(e: Envelope): void {
    if (e.ack) void this.o.store.ackUpTo(e.ack).catch((err) => this.o.log.error({ err }, 'tunnel: outbox ack failed'));
    if (e.hello_ok) { this.up(e.hello_ok); return; }
    if (e.hello_error) {
      this.lastError = `${e.hello_error.code}: ${e.hello_error.message}`;
      this.o.log.error({ code: e.hello_error.code, retry: e.hello_error.retry }, `tunnel refused by the admin: ${e.hello_error.message}`);
      if (!e.hello_error.retry) this.stop();
      return;
    }
    if (e.heartbeat_ack) return;
    if (e.metrics_request) { void this.metrics(e.metrics_request.request_id, e.metrics_request.kind); return; }
    if (e.stream_open) { void this.openStream(e.stream_open.stream_id, e.stream_open.target); return; }
    if (e.stream_data || e.stream_close || e.stream_opened) { this.mux?.handle(e); return; }
    if (!e.seq) return;
    const seq = e.seq;
    const ws = this.ws;
    // Reliable frames: handled in order, acked once their effect is durable.
    this.chain = this.chain.then(async () => {
      if (this.state === 'stopped') return new Promise<void>(() => {}); // not acked: delivered again
      const handled = this.handleReliable(e);
      const done = handled.then(() => undefined, () => undefined).finally(() => this.handling.delete(done));
      this.handling.add(done);
      try {
        await handled;
      } catch (err) {
        // Not acked: the admin delivers it again after the next reconnect.
        this.o.log.error({ err, seq }, 'tunnel: handling an admin message failed: reconnecting so it is delivered again');
        if (this.ws === ws) ws?.close(4011, 'agent failed to handle a message');
        return new Promise<void>(() => {}); // stop this connection's chain
      }
      if (this.ws !== ws) return;
      if (seq > this.inAck) this.inAck = seq;
      this.scheduleAck();
    });
  }

  private async handleReliable(e: Envelope): Promise<void> {
    const h = this.o.hooks;
    if (e.command_deliver) {
      const d = e.command_deliver;
      if (this.o.store.delivery(d.execution_id)) return; // a repeat: already taken
      if (!h.onCommandDeliver) throw new Error('this agent runs no commands (no onCommandDeliver hook)');
      const ref = await h.onCommandDeliver(d);
      if (!this.o.store.delivery(d.execution_id)) await this.o.store.putDelivery(d.execution_id, { ref: ref ?? null, done: false, at: Date.now() });
      return;
    }
    if (e.command_cancel) {
      const rec = this.o.store.delivery(e.command_cancel.execution_id);
      if (!rec || rec.done) return; // unknown or already reported: its result says how it ended
      await h.onCommandCancel?.(e.command_cancel.execution_id, rec.ref);
      return;
    }
    if (e.credential_sync) {
      const set: CredentialSet = { version: e.credential_sync.version, users: e.credential_sync.users ?? [] };
      if (this.credentials?.version === set.version) return;
      this.o.saveCredentials?.(set);
      this.credentials = set;
      await h.onCredentialSync?.(set);
      this.sendEnvelope({ credential_ack: { version: set.version } });
    }
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = true;
    setImmediate(() => {
      this.ackTimer = false;
      if (this.state === 'up' && this.inAck) this.sendEnvelope({});
    });
  }

  private async openStream(id: number, target: string): Promise<void> {
    const mux = this.mux;
    if (!mux) return;
    let local: Duplex;
    try {
      if (!this.o.hooks.onStreamOpen) throw new Error('this agent serves no streams');
      local = await this.o.hooks.onStreamOpen(target);
    } catch (err) {
      mux.refuse(id, (err as Error).message);
      return;
    }
    if (mux !== this.mux) { local.destroy(); return; }
    splice(local, mux.accept(id));
  }

  private async metrics(requestId: number, kind: MetricsKind): Promise<void> {
    let resp: Envelope['metrics_response'];
    try {
      if (!this.o.hooks.onMetricsRequest) throw new Error('no metrics provider on this agent');
      const data = await this.o.hooks.onMetricsRequest(kind);
      resp = { request_id: requestId, ok: true, json: jsonBytes(data) };
    } catch (err) {
      resp = { request_id: requestId, ok: false, error: (err as Error).message };
    }
    this.sendEnvelope({ metrics_response: resp });
  }

  // --- outbound --------------------------------------------------------------------------

  /**
   * A piece of live command output (never re-sent, seq 0). Dropped rather than queued when the
   * tunnel is down or its send buffer is over LIVE_BACKPRESSURE: results and heartbeats come first.
   */
  sendOutput(executionId: string, offset: number, data: string): boolean {
    if (this.state !== 'up' || !this.ws || this.ws.readyState !== 1) return false;
    if ((this.ws as { bufferedAmount?: number }).bufferedAmount! > LIVE_BACKPRESSURE) return false;
    this.sendEnvelope({ command_output: { execution_id: executionId, offset, data } });
    return true;
  }

  private sendEnvelope(e: Envelope): void {
    if (this.inAck) e.ack = this.inAck;
    this.sendRaw(encodeEnvelope(e));
  }

  private sendRaw(frame: Uint8Array): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== 1) return;
    try { ws.send(frame); } catch (err) { this.lastError = (err as Error).message; }
  }
}
