// A small, real in-memory TunnelBackend: enrollment keys with uses/expiry, nodes with hashed
// tokens, executions, credential sets, heartbeats and events, all in Maps. It is the store's
// stand-in for the tunnel's tests and benchmark (and documents the contract by example);
// production uses the control-plane store through an adapter.
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { type AgentEventRecord, type CommandResultRecord, type DeliveryAck, type HeartbeatRecord, type NodeStatus, type ResumeSet, type StatusChange, type TunnelBackend, type TunnelInfo, type TunnelNode } from '../../daemon/admin/tunnel/backend';
import { EnrollError, type CredentialSet, type EnrollRequest, type EnrollResult } from '../../daemon/tunnel/enrollment';
import type { CommandDeliver } from '../../daemon/tunnel/schema';

export interface MemKey { secret: string; cluster_name: string; uses_remaining: number | null; expired_at: number | null }
export interface MemNode { node_id: string; cluster_name: string; token_sha256: Buffer; status: NodeStatus; last_seen_at: number | null; version: string | null; name: string | null }
export interface MemExecution { id: string; node_id: string; deliver: CommandDeliver; status: 'pending' | 'sent' | 'completed' | 'cancelled' | 'expired'; cancel_requested: boolean; cancel_acked: boolean; sent_at: number | null; result: CommandResultRecord | null }

const hash = (t: string) => createHash('sha256').update(t).digest();

export class MemoryTunnelBackend implements TunnelBackend {
  readonly keys = new Map<string, MemKey>();
  readonly nodes = new Map<string, MemNode>();
  readonly byToken = new Map<string, string>(); // sha256 hex → node id
  readonly executions = new Map<string, MemExecution>();
  readonly credentialSets = new Map<string, CredentialSet>();
  readonly credentialAcks = new Map<string, number>();
  readonly heartbeats: HeartbeatRecord[] = [];
  readonly events = new Map<string, AgentEventRecord>();
  readonly statusLog: Array<{ node_id: string; from: NodeStatus; to: NodeStatus; reason: string }> = [];
  readonly resultCalls: number[] = [];
  heartbeatCalls = 0;
  /** Every listener is called after a write (tests wait on it). */
  readonly listeners = new Set<() => void>();
  /** Make the next n writes fail (tests the not-acked path). */
  failWrites = 0;
  keepHeartbeats = true;

  addKey(secret: string, cluster_name = 'default', uses_remaining: number | null = 1, expired_at: number | null = null): void {
    this.keys.set(secret, { secret, cluster_name, uses_remaining, expired_at });
  }

  /** Creates a pending execution for a node (what the commands API does). */
  addExecution(node_id: string, command_text: string, timeout_ms?: number): MemExecution {
    const id = randomUUID();
    const ex: MemExecution = { id, node_id, deliver: { execution_id: id, command_id: randomUUID(), command_text, ...(timeout_ms ? { timeout_ms } : {}) }, status: 'pending', cancel_requested: false, cancel_acked: false, sent_at: null, result: null };
    this.executions.set(id, ex);
    return ex;
  }

  private changed(): void { for (const l of this.listeners) l(); }

  /** Resolves when `cond` holds (checked after every write), or rejects after `ms`. */
  waitFor(cond: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const l = () => { if (cond()) { clearTimeout(t); this.listeners.delete(l); resolve(); } };
      const t = setTimeout(() => { this.listeners.delete(l); reject(new Error(`timed out after ${ms} ms waiting for ${what}`)); }, ms);
      this.listeners.add(l);
    });
  }

  private maybeFail(): void {
    if (this.failWrites > 0) { this.failWrites--; throw new Error('simulated store failure'); }
  }

  async enroll(req: EnrollRequest): Promise<EnrollResult> {
    // Constant-time key lookup is the real store's job (it indexes a hash); a Map is fine here.
    const k = this.keys.get(req.secret);
    if (!k) throw new EnrollError('invalid_key', 'no enrollment key matches the secret');
    if (k.expired_at !== null && k.expired_at <= Date.now()) throw new EnrollError('key_expired', `the enrollment key expired at ${new Date(k.expired_at).toISOString()}`);
    if (k.uses_remaining !== null && k.uses_remaining <= 0) throw new EnrollError('key_exhausted', 'the enrollment key has no uses left');
    if (k.uses_remaining !== null) k.uses_remaining--;
    const api_token = randomBytes(32).toString('base64url');
    const named = this.nodes.get(req.node_id);
    // Same rule as the store: a taken id is re-registered only by the holder of its token, with a
    // key of its own cluster; anyone else gets a new node and the named one stays as it was.
    const proven = named && named.cluster_name === k.cluster_name && timingSafeEqual(named.token_sha256, hash(req.node_token ?? ''));
    const prior = proven ? named : undefined;
    const node_id = named && !prior ? randomUUID() : req.node_id;
    if (prior) this.byToken.delete(prior.token_sha256.toString('hex'));
    const node: MemNode = { node_id, cluster_name: k.cluster_name, token_sha256: hash(api_token), status: 'unreachable', last_seen_at: null, version: req.agent_version ?? null, name: req.name ?? null };
    this.nodes.set(node.node_id, node);
    this.byToken.set(node.token_sha256.toString('hex'), node.node_id);
    this.changed();
    return { node_id: node.node_id, api_token, cluster_name: node.cluster_name, reregistered: Boolean(prior), ...(node_id !== req.node_id ? { requested_node_id: req.node_id } : {}) };
  }

  async authenticate(token: string): Promise<TunnelNode | null> {
    const h = hash(token);
    const id = this.byToken.get(h.toString('hex'));
    const n = id ? this.nodes.get(id) : undefined;
    if (!n || !timingSafeEqual(n.token_sha256, h)) return null;
    return { node_id: n.node_id, cluster_name: n.cluster_name };
  }

  private setNodeStatus(node_id: string, to: NodeStatus, reason: string): void {
    const n = this.nodes.get(node_id);
    if (!n || n.status === to) return;
    this.statusLog.push({ node_id, from: n.status, to, reason });
    n.status = to;
  }

  async tunnelUp(node: TunnelNode, info: TunnelInfo, at: number): Promise<ResumeSet> {
    const n = this.nodes.get(node.node_id);
    if (n) { n.last_seen_at = at; n.version = info.agent_version; }
    this.setNodeStatus(node.node_id, 'healthy', 'tunnel up');
    const deliveries: CommandDeliver[] = [];
    const cancels: string[] = [];
    for (const ex of this.executions.values()) {
      if (ex.node_id !== node.node_id) continue;
      if (ex.status === 'pending') deliveries.push(ex.deliver);
      else if (ex.status === 'sent' && ex.cancel_requested && !ex.cancel_acked) cancels.push(ex.id);
    }
    this.changed();
    return { deliveries, cancels, credentials: this.credentialSets.get(node.node_id) ?? null };
  }

  async tunnelDown(nodeId: string): Promise<void> {
    this.setNodeStatus(nodeId, 'unreachable', 'tunnel down');
    this.changed();
  }

  async recordHeartbeats(beats: HeartbeatRecord[]): Promise<void> {
    this.heartbeatCalls++;
    for (const b of beats) {
      const n = this.nodes.get(b.node_id);
      if (n) n.last_seen_at = b.received_at;
      if (this.keepHeartbeats) this.heartbeats.push(b);
    }
    this.changed();
  }

  async setStatus(changes: StatusChange[]): Promise<void> {
    for (const c of changes) this.setNodeStatus(c.node_id, c.status, c.reason);
    this.changed();
  }

  async delivered(acks: DeliveryAck[]): Promise<void> {
    this.maybeFail();
    for (const a of acks) {
      if (a.kind === 'credentials') { this.credentialAcks.set(a.node_id, a.version); continue; }
      const ex = this.executions.get(a.execution_id);
      if (!ex) continue;
      if (a.kind === 'command' && ex.status === 'pending') { ex.status = 'sent'; ex.sent_at = a.at; }
      if (a.kind === 'cancel') ex.cancel_acked = true;
    }
    this.changed();
  }

  async recordResults(results: CommandResultRecord[]): Promise<void> {
    this.maybeFail();
    this.resultCalls.push(results.length);
    for (const r of results) {
      const ex = this.executions.get(r.execution_id);
      if (!ex || ex.result) continue; // unknown, or a repeat
      ex.result = r;
      ex.status = r.status;
    }
    this.changed();
  }

  async recordEvents(events: AgentEventRecord[]): Promise<void> {
    this.maybeFail();
    for (const e of events) if (!this.events.has(e.id)) this.events.set(e.id, e);
    this.changed();
  }

  async credentials(nodeId: string): Promise<CredentialSet | null> {
    return this.credentialSets.get(nodeId) ?? null;
  }
}
