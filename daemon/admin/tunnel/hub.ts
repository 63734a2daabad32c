// TunnelHub: the admin end of the agent tunnels. Accepts GET /api/v1/agent/tunnel (uWS
// WebSocket, node api_token as bearer), keeps one tunnel per node (a newer one replaces the
// older), sends deliveries/cancels/credential syncs/metrics requests, and hands what agents
// report to the TunnelBackend in batches: heartbeats once per flush interval (latest per node),
// results/events/acks in one call per event-loop turn, so 1,000 results are one commit.
// Per-connection state is a handful of fields; the map of unacked sends exists only while
// something is unacked.
import type { WebSocket } from '@trufflesuite/uws-js-unofficial';
import type { HttpServer, Req } from '../../http';
import { HttpError } from '../../base/errors';
import type { Logger } from '../../base/log';
import type { AgentEventRecord, CommandResultRecord, DeliveryAck, HeartbeatRecord, StatusChange, TunnelBackend, TunnelNode } from './backend';
import type { CredentialSet } from '../../tunnel/enrollment';
import type { Duplex } from 'node:stream';
import { StreamMux } from '../../tunnel/streams';
import { LiveOutput } from '../commands/live-output';
import type { MetricsOutcome, TunnelStats } from '../api/context';
import { decodeEnvelope, encodeEnvelope, parseJsonBytes, type CommandDeliver, type Envelope, type MetricsKind } from '../../tunnel/schema';

export const TUNNEL_PATH = '/api/v1/agent/tunnel';
export const MAX_FRAME = 4 << 20;
export const MAX_BACKPRESSURE = 8 << 20;
/** Close codes the agent understands (docs/tunnel.md). */
export const CLOSE_REPLACED = 4000;
export const CLOSE_BAD_HELLO = 4001;
export const CLOSE_SLOW = 4008;
/** The node was deleted or re-registered: the token this tunnel authenticated with is revoked. */
export const CLOSE_REVOKED = 4003;
export const CLOSE_SHUTDOWN = 1001;
/** A node is unhealthy after this many heartbeat intervals without one. */
export const MISSED_BEATS = 3;

export interface TunnelHubOptions {
  http: HttpServer;
  backend: TunnelBackend;
  log: Logger;
  heartbeatIntervalMs: number;
  /** How often batched heartbeats go to the backend (default 1000 ms). */
  heartbeatFlushMs?: number;
  /** Default wait for a metrics answer (default 5000 ms). */
  metricsTimeoutMs?: number;
}

type Sent = { kind: 'command' | 'cancel'; id: string } | { kind: 'credentials'; version: number };

interface Conn {
  node: TunnelNode;
  remote: string;
  ws?: WebSocket<Conn>;
  open: boolean;
  ready: boolean; // Hello accepted
  outSeq: number;
  sent?: Map<number, Sent>;
  inAck: number;
  lastBeat: number;
  unhealthy: boolean;
  /** Byte streams (SSH jump) over this tunnel, created on first use. */
  mux?: StreamMux;
}


interface PendingMetrics { conn: Conn; resolve: (o: MetricsOutcome) => void; timer: NodeJS.Timeout }


export class TunnelHub {
  /** Output pieces of running executions (CommandOutput), for the live views; best effort. */
  readonly liveOutput = new LiveOutput();
  private readonly byNode = new Map<string, Conn>();
  private readonly pendingBeats = new Map<string, HeartbeatRecord>();
  private statusChanges: StatusChange[] = [];
  private results: Array<{ conn: Conn; seq: number; rec: CommandResultRecord }> = [];
  private events: Array<{ conn: Conn; seq: number; rec: AgentEventRecord }> = [];
  /** Reliable inbound frames that carry nothing to store (unknown body), acked in order with the rest. */
  private bare: Array<{ conn: Conn; seq: number }> = [];
  private acks: DeliveryAck[] = [];
  private flushScheduled = false;
  private flushing?: Promise<void>;
  private readonly metrics = new Map<number, PendingMetrics>();
  private nextRequestId = 1;
  private readonly beatTimer: NodeJS.Timeout;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  private readonly counters: TunnelStats = { connected: 0, connections_total: 0, rejected_total: 0, replaced_total: 0, heartbeats_total: 0, results_total: 0, events_total: 0, deliveries_total: 0, backend_errors_total: 0 };

  constructor(private readonly o: TunnelHubOptions) {
    const idle = Math.min(960, Math.max(16, Math.ceil((o.heartbeatIntervalMs * 4) / 4000) * 4));
    // The upgrade is served like an HTTP route of the admin listener (state, error envelope, crash
    // containment); the node's api_token is checked by the hub's own authenticator.
    o.http.ws<Conn, TunnelNode>({
      path: TUNNEL_PATH, tags: ['Agent.Tunnel'], operationId: 'openAgentTunnel', remoteAddress: true,
      summary: 'The agent tunnel: a WebSocket of binary protobuf Envelope frames (daemon/tunnel/tunnel.proto, docs/tunnel.md), authenticated with the node api_token',
      auth: { scheme: 'nodeToken', description: "the node's api_token, from its enrollment", authenticate: (req) => this.authenticate(req) },
      responses: { 101: { description: 'switching protocols: the tunnel is open, the agent sends its Hello' }, 401: { description: 'missing or invalid node api_token' }, 503: { description: 'the admin is starting, draining, or cannot check the token now' } },
      maxPayloadLength: MAX_FRAME,
      maxBackpressure: MAX_BACKPRESSURE,
      idleTimeout: idle,
      sendPingsAutomatically: true,
      upgrade: (req, node): Conn => ({ node, remote: req.remoteAddress ?? '', open: true, ready: false, outSeq: 0, inAck: 0, lastBeat: Date.now(), unhealthy: false }),
      refused: () => { this.counters.rejected_total++; },
      open: (ws) => this.onOpen(ws),
      message: (ws, msg, isBinary) => this.onMessage(ws.getUserData(), msg, isBinary),
      close: (ws, code) => this.onClose(ws.getUserData(), code),
    });
    this.beatTimer = setInterval(() => this.flushHeartbeats(), o.heartbeatFlushMs ?? 1000);
    this.sweepTimer = setInterval(() => this.sweep(), o.heartbeatIntervalMs);
    this.beatTimer.unref();
    this.sweepTimer.unref();
  }

  // --- public surface ----------------------------------------------------------------------

  get size(): number { return this.byNode.size; }
  isConnected(nodeId: string): boolean { return this.byNode.get(nodeId)?.ready === true; }
  /**
   * Closes this admin's tunnel of a node whose token was just revoked (deleted, re-registered):
   * tokens are only checked at the upgrade, so without this the old connection would stay up.
   */
  disconnect(nodeId: string, reason: string): boolean {
    const c = this.byNode.get(nodeId);
    if (!c) return false;
    this.o.log.info({ node_id: nodeId, reason }, 'tunnel closed: its token was revoked');
    this.drop(c, CLOSE_REVOKED, reason);
    return true;
  }
  connectedNodes(): IterableIterator<string> { return this.byNode.keys(); }
  stats(): TunnelStats { return { ...this.counters, connected: this.byNode.size }; }

  /** Sends an execution to its node. False when the node has no tunnel: it stays pending and goes out on the next tunnelUp. */
  deliverCommand(nodeId: string, d: CommandDeliver): boolean {
    const c = this.byNode.get(nodeId);
    if (!c?.ready) return false;
    this.counters.deliveries_total++;
    return this.sendReliable(c, { command_deliver: d }, { kind: 'command', id: d.execution_id });
  }

  /** A byte stream to one of the node's own services through its tunnel ("ssh": its SSH server). */
  openStream(nodeId: string, target = 'ssh'): Promise<Duplex> {
    const c = this.byNode.get(nodeId);
    if (!c?.ready) return Promise.reject(new Error('the node is not connected'));
    c.mux ??= new StreamMux((e) => this.send(c, e));
    return c.mux.open(target);
  }

  /** Asks the node to stop an execution; its CommandResult reports the real outcome. */
  cancelCommand(nodeId: string, executionId: string): boolean {
    const c = this.byNode.get(nodeId);
    if (!c?.ready) return false;
    return this.sendReliable(c, { command_cancel: { execution_id: executionId } }, { kind: 'cancel', id: executionId });
  }

  /** Pushes the node's full credential set (fetched from the backend when not given). */
  async syncCredentials(nodeId: string, set?: CredentialSet | null): Promise<boolean> {
    set ??= await this.o.backend.credentials(nodeId);
    const c = this.byNode.get(nodeId);
    if (!set || !c?.ready) return false;
    return this.sendReliable(c, { credential_sync: { version: set.version, users: set.users } }, { kind: 'credentials', version: set.version });
  }

  /** Live metrics from the node; never throws: an absent node, an error or a timeout is `ok: false`. */
  requestMetrics(nodeId: string, kind: MetricsKind, timeoutMs = this.o.metricsTimeoutMs ?? 5000): Promise<MetricsOutcome> {
    const c = this.byNode.get(nodeId);
    if (!c?.ready) return Promise.resolve({ ok: false, reason: 'node is not connected' });
    const request_id = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.metrics.delete(request_id); resolve({ ok: false, reason: `no answer within ${timeoutMs} ms` }); }, timeoutMs);
      this.metrics.set(request_id, { conn: c, resolve, timer });
      if (!this.send(c, { metrics_request: { request_id, kind } })) {
        clearTimeout(timer);
        this.metrics.delete(request_id);
        resolve({ ok: false, reason: 'tunnel closed' });
      }
    });
  }

  /** Stops timers, closes every tunnel (agents reconnect with backoff) and writes what is batched. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.beatTimer);
    clearInterval(this.sweepTimer);
    for (const c of [...this.byNode.values()]) c.ws?.end(CLOSE_SHUTDOWN, 'admin shutting down');
    for (const [id, p] of this.metrics) { clearTimeout(p.timer); p.resolve({ ok: false, reason: 'admin shutting down' }); this.metrics.delete(id); }
    this.flushHeartbeats();
    await this.flush();
  }

  // --- connection lifecycle ----------------------------------------------------------------

  /** The tunnel's credential: the node's api_token as the bearer, checked by the backend. */
  private authenticate(req: Req): Promise<TunnelNode> {
    if (this.closed) throw new HttpError('unavailable', 'the admin is not serving');
    const auth = req.headers.authorization ?? '';
    const token = /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : '';
    if (!token) throw new HttpError('unauthorized', 'missing bearer token: send Authorization: Bearer <node api_token>', { header: 'authorization' });
    return this.o.backend.authenticate(token).then(
      (node) => {
        if (!node) throw new HttpError('unauthorized', 'invalid node api_token (the node may have been deleted: enroll again)', { header: 'authorization' });
        return node;
      },
      (err) => {
        this.counters.backend_errors_total++;
        this.o.log.error({ err }, 'tunnel authentication failed');
        throw new HttpError('unavailable', 'cannot check the token now; retry later');
      },
    );
  }

  private onOpen(ws: WebSocket<Conn>): void {
    const c = ws.getUserData();
    c.ws = ws;
    if (this.closed) { ws.end(CLOSE_SHUTDOWN, 'admin shutting down'); return; }
    const old = this.byNode.get(c.node.node_id);
    // The new tunnel owns the node before the old one is ended: uWS runs its close handler
    // synchronously inside end(), which must see that it was replaced (no tunnelDown).
    this.byNode.set(c.node.node_id, c);
    if (old && old !== c) {
      this.counters.replaced_total++;
      old.ws?.end(CLOSE_REPLACED, 'replaced by a newer tunnel of the same node');
      this.o.log.info({ node_id: c.node.node_id, remote: c.remote }, 'tunnel replaced by a newer one');
    }
    this.counters.connections_total++;
  }

  private onClose(c: Conn, code: number): void {
    c.open = false;
    c.ready = false;
    c.mux?.closeAll('tunnel closed');
    for (const [id, p] of this.metrics) {
      if (p.conn !== c) continue;
      clearTimeout(p.timer);
      this.metrics.delete(id);
      p.resolve({ ok: false, reason: 'tunnel closed' });
    }
    if (this.byNode.get(c.node.node_id) !== c) return; // replaced: the newer tunnel owns the node
    this.byNode.delete(c.node.node_id);
    this.pendingBeats.delete(c.node.node_id);
    if (this.closed) return; // the admin is going away, not the node (the store settles status at start)
    this.o.backend.tunnelDown(c.node.node_id, Date.now(), `closed (${code})`).catch((err) => this.backendError(err, 'tunnelDown'));
  }

  private async hello(c: Conn, e: Envelope): Promise<void> {
    const h = e.hello!;
    if (h.node_id !== c.node.node_id) {
      this.send(c, { hello_error: { code: 'node_mismatch', message: `this token belongs to node ${c.node.node_id}, not ${h.node_id}`, retry: false } });
      c.ws?.end(CLOSE_BAD_HELLO, 'node mismatch');
      return;
    }
    const resume = await this.o.backend.tunnelUp(c.node, {
      agent_version: h.agent_version ?? '', host_name: h.host_name ?? '', capabilities: h.capabilities ?? [], remote_address: c.remote, credentials_version: h.credentials_version ?? 0,
      ...(h.facts ? { facts: h.facts } : {}),
    }, Date.now());
    if (!c.open) return;
    c.ready = true;
    c.lastBeat = Date.now();
    this.o.log.info({ node_id: c.node.node_id, credential: 'node_token', remote_address: c.remote, deliveries: resume.deliveries.length, resend: h.outbox_pending ?? 0 }, 'tunnel up');
    c.ws!.cork(() => {
      this.send(c, { hello_ok: { node_id: c.node.node_id, cluster_name: c.node.cluster_name, heartbeat_interval_ms: this.o.heartbeatIntervalMs, server_time: Date.now() } });
      for (const d of resume.deliveries) this.sendReliable(c, { command_deliver: d }, { kind: 'command', id: d.execution_id });
      for (const id of resume.cancels) this.sendReliable(c, { command_cancel: { execution_id: id } }, { kind: 'cancel', id });
      const cs = resume.credentials;
      if (cs && cs.version !== (h.credentials_version ?? 0)) this.sendReliable(c, { credential_sync: { version: cs.version, users: cs.users } }, { kind: 'credentials', version: cs.version });
    });
  }

  // --- inbound ---------------------------------------------------------------------------

  private onMessage(c: Conn, msg: ArrayBuffer, isBinary: boolean): void {
    if (!isBinary) { c.ws?.end(CLOSE_BAD_HELLO, 'text frames are not part of the tunnel protocol'); return; }
    let e: Envelope;
    try {
      e = decodeEnvelope(new Uint8Array(msg)); // decoded before returning: no copy needed
    } catch (err) {
      this.o.log.warn({ node_id: c.node.node_id, err: (err as Error).message }, 'tunnel frame is not an Envelope: closing');
      c.ws?.end(CLOSE_BAD_HELLO, 'bad frame');
      return;
    }
    if (e.ack) this.onAck(c, e.ack);
    if (!c.ready) {
      if (e.hello) {
        this.hello(c, e).catch((err) => {
          this.backendError(err, 'tunnelUp');
          this.drop(c, 1011, 'admin store unavailable');
        });
      }
      return; // nothing else counts before the Hello is accepted
    }
    const now = Date.now();
    if (e.heartbeat) {
      c.lastBeat = now;
      this.counters.heartbeats_total++;
      this.pendingBeats.set(c.node.node_id, { ...e.heartbeat, node_id: c.node.node_id, received_at: now });
      if (c.unhealthy) { c.unhealthy = false; this.statusChanges.push({ node_id: c.node.node_id, status: 'healthy', at: now, reason: 'heartbeats resumed' }); this.schedule(); }
      this.send(c, { heartbeat_ack: { time: now } });
      return;
    }
    if (e.metrics_response) {
      const p = this.metrics.get(e.metrics_response.request_id);
      if (!p || p.conn !== c) return;
      this.metrics.delete(e.metrics_response.request_id);
      clearTimeout(p.timer);
      if (!e.metrics_response.ok) { p.resolve({ ok: false, reason: e.metrics_response.error || 'the agent could not collect them' }); return; }
      try { p.resolve({ ok: true, data: parseJsonBytes(e.metrics_response.json) }); } catch { p.resolve({ ok: false, reason: 'the agent sent invalid JSON' }); }
      return;
    }
    if ((e.stream_data || e.stream_close || e.stream_opened) && c.mux) { c.mux.handle(e); return; }
    if (e.command_output) {
      const o = e.command_output;
      if (o.execution_id && o.execution_id.length <= 64 && o.data) this.liveOutput.append(c.node.node_id, o.execution_id, o.offset ?? 0, o.data);
      return;
    }
    if (!e.seq) return; // unreliable and not understood (credential_ack, future bodies)
    if (e.command_result) {
      const r = e.command_result;
      this.counters.results_total++;
      this.results.push({ conn: c, seq: e.seq, rec: {
        node_id: c.node.node_id, execution_id: r.execution_id, status: r.status, exit_code: r.exit_code ?? null, output: r.output ?? '',
        output_truncated: r.output_truncated ?? false, output_dropped_bytes: r.output_dropped_bytes ?? 0, error: r.error || null,
        started_at: r.started_at || null, completed_at: r.completed_at || null, cancelled_at: r.cancelled_at || null,
      } });
    } else if (e.event) {
      let data: unknown = null;
      try { data = parseJsonBytes(e.event.json); } catch { data = null; }
      this.counters.events_total++;
      this.events.push({ conn: c, seq: e.seq, rec: { node_id: c.node.node_id, id: e.event.id, type: e.event.type, time: e.event.time, data } });
    } else {
      this.bare.push({ conn: c, seq: e.seq });
    }
    this.schedule();
  }

  /** The agent durably holds everything we numbered up to `ack` on this connection. */
  private onAck(c: Conn, ack: number): void {
    if (!c.sent) return;
    const at = Date.now();
    for (const [seq, s] of c.sent) {
      if (seq > ack) break;
      c.sent.delete(seq);
      this.acks.push(s.kind === 'credentials'
        ? { node_id: c.node.node_id, kind: 'credentials', version: s.version, at }
        : { node_id: c.node.node_id, kind: s.kind, execution_id: s.id, at });
    }
    if (!c.sent.size) c.sent = undefined;
    this.schedule();
  }

  // --- batching to the backend -----------------------------------------------------------

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => { this.flushScheduled = false; void this.flush(); });
  }

  /** Ends a tunnel if it is still open; never throws (uWS throws on a socket already closed). */
  private drop(c: Conn, code: number, reason: string): void {
    if (!c.open) return;
    try { c.ws?.end(code, reason); } catch (err) { this.o.log.debug({ err: (err as Error).message }, 'tunnel already closed'); }
  }

  /** Writes what is batched, one flush at a time (so acks stay in each connection's order). */
  private flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    const results = this.results; const events = this.events; const bare = this.bare; const acks = this.acks; const changes = this.statusChanges;
    if (!results.length && !events.length && !bare.length && !acks.length && !changes.length) return Promise.resolve();
    this.results = []; this.events = []; this.bare = []; this.acks = []; this.statusChanges = [];
    const b = this.o.backend;
    const run = (async () => {
      try {
        await Promise.all([
          acks.length ? b.delivered(acks) : undefined,
          changes.length ? b.setStatus(changes) : undefined,
          results.length ? b.recordResults(results.map((x) => x.rec)) : undefined,
          events.length ? b.recordEvents(events.map((x) => x.rec)) : undefined,
        ]);
      } catch (err) {
        // Not acked: the agent re-sends after its next reconnect; drop the tunnels so it does now.
        this.backendError(err, 'flush');
        // Each connection once, and only while open: ending a closed uWS socket throws.
        for (const c of new Set([...results, ...events, ...bare].map((x) => x.conn))) this.drop(c, 1011, 'admin store unavailable');
        return;
      }
      const touched = new Set<Conn>();
      for (const x of results) { if (x.seq > x.conn.inAck) x.conn.inAck = x.seq; touched.add(x.conn); }
      for (const x of events) { if (x.seq > x.conn.inAck) x.conn.inAck = x.seq; touched.add(x.conn); }
      for (const x of bare) { if (x.seq > x.conn.inAck) x.conn.inAck = x.seq; touched.add(x.conn); }
      for (const c of touched) if (c.open) this.send(c, { ack: c.inAck });
    })();
    this.flushing = run.finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  private flushHeartbeats(): void {
    if (!this.pendingBeats.size) return;
    const beats = [...this.pendingBeats.values()];
    this.pendingBeats.clear();
    this.o.backend.recordHeartbeats(beats).catch((err) => this.backendError(err, 'recordHeartbeats'));
  }

  /** Healthy → unhealthy after MISSED_BEATS intervals without a heartbeat. */
  private sweep(): void {
    this.liveOutput.sweep();
    const limit = Date.now() - MISSED_BEATS * this.o.heartbeatIntervalMs;
    for (const c of this.byNode.values()) {
      if (!c.ready || c.unhealthy || c.lastBeat >= limit) continue;
      c.unhealthy = true;
      this.statusChanges.push({ node_id: c.node.node_id, status: 'unhealthy', at: Date.now(), reason: `no heartbeat for ${MISSED_BEATS} intervals` });
    }
    if (this.statusChanges.length) this.schedule();
  }

  // --- outbound --------------------------------------------------------------------------

  private sendReliable(c: Conn, body: Envelope, what: Sent): boolean {
    const seq = ++c.outSeq;
    (c.sent ??= new Map()).set(seq, what);
    return this.send(c, { ...body, seq });
  }

  /** Every frame carries our current ack of the peer's messages. */
  private send(c: Conn, e: Envelope): boolean {
    if (!c.open || !c.ws) return false;
    if (c.inAck && e.ack === undefined) e.ack = c.inAck;
    let r = 0;
    const buf = encodeEnvelope(e);
    c.ws.cork(() => { r = c.ws!.send(buf, true); });
    if (r === 2) {
      this.o.log.warn({ node_id: c.node.node_id }, 'tunnel backpressure over the limit: closing (the agent resumes on reconnect)');
      c.ws.end(CLOSE_SLOW, 'slow consumer');
      return false;
    }
    return true;
  }

  private backendError(err: unknown, op: string): void {
    this.counters.backend_errors_total++;
    this.o.log.error({ err, op }, 'tunnel backend call failed');
  }
}
