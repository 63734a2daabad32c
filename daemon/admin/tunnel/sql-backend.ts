// The TunnelBackend (daemon/admin/tunnel/backend.ts) over the control-plane store: what the
// hub learns from agents becomes rows and outbox events, committed before the hub acks. Same
// contract as test/helpers/memory-tunnel-backend.ts (its executable reference): idempotent by execution id,
// event id and ack; batches commit in one transaction each.
import { credentialSet, markCredentialsSynced } from '../store/ssh';
import { type AgentEventRecord, type CommandResultRecord, type DeliveryAck, type HeartbeatRecord, type ResumeSet, type StatusChange, type TunnelBackend, type TunnelInfo, type TunnelNode } from './backend';
import { EnrollError, type CredentialSet, type EnrollRequest, type EnrollResult } from '../../tunnel/enrollment';
import { deliverOf, executionEventData, isTerminal } from '../commands/store';
import { inTx, type Db, type DbOrTrx } from '../store/db';
import { authenticateNode, consumeEnrollmentKey, setTunnelState } from '../store/enroll';
import { emitEvent, emitEvents, isEventType, type EventType } from '../store/events';
import { proxyPasswordContext } from '../store/nodes';
import { changeStatus } from '../store/status';
import type { NodeStatus } from '../store/schema';
import type { Logger } from '../../base/log';
import { iso, isUniqueViolation } from '../store/util';

/** Agent-reported event types that also go to the outbox (webhooks); others are only kept. */
const AGENT_OUTBOX_TYPES: ReadonlySet<EventType> = new Set(['edge.ssh_username.verified']);

/**
 * The node's credential set (SSH usernames and keys) for the tunnel. Filled in by the SSH part;
 * null means "the store has none for it".
 */
export async function nodeCredentials(db: DbOrTrx, nodeId: string): Promise<CredentialSet | null> {
  return credentialSet(db, nodeId);
}

/** An agent took credential set `version`. */
export async function credentialsAcked(db: DbOrTrx, acks: Array<{ node_id: string; version: number; at: number }>): Promise<void> {
  await markCredentialsSynced(db, acks);
}

/** "::ffff:10.0.0.1" → "10.0.0.1"; empty → null. */
function plainAddress(a: string): string | null {
  if (!a) return null;
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Seals a secret for its row and field (SecretBox#seal): the proxy password is kept encrypted at rest. */
export type SealSecret = (plaintext: string, context: string) => string;

/** A node status change, logged once its transaction committed. */
interface Transition { node_id: string; cluster_name: string; previous_status: NodeStatus; status: NodeStatus; reason: string }

export class SqlTunnelBackend implements TunnelBackend {
  constructor(private readonly db: Db, private readonly heartbeatIntervalMs: number, private readonly seal?: SealSecret, private readonly log?: Logger) {}

  /**
   * One line per committed status change: info when a node comes online (healthy), warn when it
   * turns unhealthy or unreachable — what an operator greps the journal for.
   */
  private logTransitions(changes: Transition[]): void {
    if (!this.log) return;
    for (const c of changes) {
      const line = { node_id: c.node_id, cluster_name: c.cluster_name, previous_status: c.previous_status, status: c.status, reason: c.reason };
      if (c.status === 'healthy') this.log.info(line, `node ${c.node_id} is ${c.status} (was ${c.previous_status})`);
      else this.log.warn(line, `node ${c.node_id} is ${c.status} (was ${c.previous_status})`);
    }
  }

  async enroll(req: EnrollRequest): Promise<EnrollResult> {
    try {
      const e = await consumeEnrollmentKey(this.db, req.secret, {
        node_id: req.node_id, id_type: req.id_type, node_name: req.name, version: req.agent_version, hostname: req.host_name,
        ssh_port: req.ports?.ssh_port, http_port: req.ports?.http_port, http_proxy_port: req.ports?.http_proxy_port, socks5_proxy_port: req.ports?.socks5_proxy_port,
        ...(req.os || req.arch ? { info: { ...(req.os ? { os: req.os } : {}), ...(req.arch ? { arch: req.arch } : {}) } } : {}),
      }, new Date(), req.node_token);
      return { node_id: e.node_id, api_token: e.api_token, cluster_name: e.cluster.name, reregistered: e.reenrolled, ...(e.requested_node_id ? { requested_node_id: e.requested_node_id } : {}) };
    } catch (err) {
      // Two first enrollments of one node id at once: the second insert hits the primary key.
      if (isUniqueViolation(err)) throw new EnrollError('node_conflict', `node ${req.node_id} is being enrolled by another request; retry`);
      throw err;
    }
  }

  async authenticate(apiToken: string): Promise<TunnelNode | null> {
    const n = await authenticateNode(this.db, apiToken);
    if (!n) return null;
    const c = await this.db.selectFrom('clusters').select('name').where('id', '=', n.cluster_id).executeTakeFirst();
    return c ? { node_id: n.id, cluster_name: c.name } : null;
  }

  async tunnelUp(node: TunnelNode, info: TunnelInfo, at: number): Promise<ResumeSet> {
    const when = new Date(at);
    const resume = await inTx(this.db, async (trx) => {
      const n = await trx.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
        .select(['nodes.id', 'nodes.version', 'nodes.status', 'nodes.last_seen_at', 'clusters.name as cluster_name']).where('nodes.id', '=', node.node_id).executeTakeFirst();
      if (!n) return { deliveries: [], cancels: [], changed: [] as Transition[] };
      const seen = iso(when);
      const set: Record<string, unknown> = { last_seen_at: n.last_seen_at && n.last_seen_at > seen ? n.last_seen_at : seen, updated_at: seen };
      if (info.agent_version) set.version = info.agent_version;
      if (info.host_name) set.hostname = info.host_name;
      const ip = plainAddress(info.remote_address);
      if (ip) set.ip_address = ip;
      // What the agent runs now (NodeFacts): a port it does not report is not running (null).
      const f = info.facts;
      if (f) {
        for (const k of ['http_port', 'ssh_port', 'http_proxy_port', 'socks5_proxy_port', 'host_metrics_port'] as const) set[k] = f[k] || null;
        set.proxy_password = f.proxy_password ? (this.seal ? this.seal(f.proxy_password, proxyPasswordContext(n.id)) : f.proxy_password) : null;
      }
      await trx.updateTable('nodes').set(set).where('id', '=', n.id).execute();
      if (info.agent_version && info.agent_version !== n.version) {
        await emitEvent(trx, 'edge.node.version_changed', { node_id: n.id, cluster_name: n.cluster_name, previous_version: n.version, version: info.agent_version }, n.id, when);
      }
      const to = await setTunnelState(trx, n.id, true, this.heartbeatIntervalMs, when);
      const changed: Transition[] = to && to !== n.status ? [{ node_id: n.id, cluster_name: n.cluster_name, previous_status: n.status, status: to, reason: 'tunnel up' }] : [];
      // Owed: pending executions (oldest first, not past their deadline) and unacked cancels.
      const pending = await trx.selectFrom('command_executions').innerJoin('commands', 'commands.id', 'command_executions.command_id')
        .select(['command_executions.id', 'command_executions.command_id', 'command_executions.timeout', 'command_executions.expired_at', 'commands.command_text'])
        .where('command_executions.node_id', '=', n.id).where('command_executions.status', '=', 'pending')
        .where((eb) => eb.or([eb('command_executions.expired_at', 'is', null), eb('command_executions.expired_at', '>', seen)]))
        .orderBy('command_executions.inserted_at').orderBy('command_executions.id').execute();
      const cancels = await trx.selectFrom('command_executions').select('id')
        .where('node_id', '=', n.id).where('status', 'in', ['sent', 'expired']).where('sent_at', 'is not', null)
        .where('cancel_requested_at', 'is not', null).where('cancel_acked_at', 'is', null)
        .orderBy('cancel_requested_at').execute();
      return { deliveries: pending.map((p) => deliverOf(p, p.command_text)), cancels: cancels.map((c) => c.id), changed };
    });
    this.logTransitions(resume.changed);
    return { deliveries: resume.deliveries, cancels: resume.cancels, credentials: await this.credentials(node.node_id) };
  }

  async tunnelDown(nodeId: string, at: number, reason?: string): Promise<void> {
    const before = this.log ? await this.db.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id').select(['nodes.status', 'clusters.name as cluster_name']).where('nodes.id', '=', nodeId).executeTakeFirst() : undefined;
    const to = await setTunnelState(this.db, nodeId, false, this.heartbeatIntervalMs, new Date(at));
    if (before && to && to !== before.status) this.logTransitions([{ node_id: nodeId, cluster_name: before.cluster_name, previous_status: before.status, status: to, reason: `tunnel down${reason ? `: ${reason}` : ''}` }]);
  }

  /** One transaction per batch: last_seen_at and the latest brief metrics; an unhealthy node that beats again is healthy. */
  async recordHeartbeats(beats: HeartbeatRecord[]): Promise<void> {
    if (!beats.length) return;
    const changed: Transition[] = [];
    await inTx(this.db, async (trx) => {
      const now = new Date();
      const ids = beats.map((b) => b.node_id);
      const rows = new Map<string, { id: string; status: 'healthy' | 'unhealthy' | 'unreachable'; tunnel_connected: number; last_seen_at: string | null; cluster_name: string }>();
      for (let i = 0; i < ids.length; i += 500) {
        const part = await trx.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
          .select(['nodes.id', 'nodes.status', 'nodes.tunnel_connected', 'nodes.last_seen_at', 'clusters.name as cluster_name']).where('nodes.id', 'in', ids.slice(i, i + 500)).execute();
        for (const r of part) rows.set(r.id, r);
      }
      for (const b of beats) {
        const n = rows.get(b.node_id);
        if (!n) continue;
        const seen = iso(b.received_at);
        const { node_id: _n, received_at: _r, ...brief } = b;
        await trx.updateTable('nodes').set({ last_seen_at: n.last_seen_at && n.last_seen_at > seen ? n.last_seen_at : seen, last_heartbeat: JSON.stringify(brief) }).where('id', '=', b.node_id).execute();
        if (n.status === 'unhealthy' && n.tunnel_connected === 1 && await changeStatus(trx, n, 'healthy', now)) {
          changed.push({ node_id: n.id, cluster_name: n.cluster_name, previous_status: n.status, status: 'healthy', reason: 'heartbeats resumed' });
        }
      }
    });
    this.logTransitions(changed);
  }

  async setStatus(changes: StatusChange[]): Promise<void> {
    if (!changes.length) return;
    const changed: Transition[] = [];
    await inTx(this.db, async (trx) => {
      for (const c of changes) {
        const n = await trx.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
          .select(['nodes.id', 'nodes.status', 'nodes.tunnel_connected', 'clusters.name as cluster_name']).where('nodes.id', '=', c.node_id).executeTakeFirst();
        if (!n) continue;
        // The hub judges connected nodes only: a node whose tunnel is down stays unreachable.
        if (c.status !== 'unreachable' && n.tunnel_connected !== 1) continue;
        if (await changeStatus(trx, n, c.status, new Date(c.at))) changed.push({ node_id: n.id, cluster_name: n.cluster_name, previous_status: n.status, status: c.status, reason: c.reason });
      }
    });
    this.logTransitions(changed);
  }

  async delivered(acks: DeliveryAck[]): Promise<void> {
    if (!acks.length) return;
    const creds: Array<{ node_id: string; version: number; at: number }> = [];
    await inTx(this.db, async (trx) => {
      for (const a of acks) {
        if (a.kind === 'credentials') { creds.push(a); continue; }
        const at = iso(a.at);
        if (a.kind === 'command') {
          const r = await trx.updateTable('command_executions').set({ status: 'sent', sent_at: at, updated_at: at })
            .where('id', '=', a.execution_id).where('node_id', '=', a.node_id).where('status', '=', 'pending').returningAll().executeTakeFirst();
          if (r) await emitEvents(trx, [{ type: 'edge.command_execution.sent', subject: r.id, data: executionEventData(r) }], new Date(a.at));
        } else {
          await trx.updateTable('command_executions').set({ cancel_acked_at: at }).where('id', '=', a.execution_id).where('node_id', '=', a.node_id).where('cancel_acked_at', 'is', null).execute();
        }
      }
      if (creds.length) await credentialsAcked(trx, creds);
    });
  }

  /** Terminal outcomes; a result for an execution already terminal (or not this node's) is ignored. */
  async recordResults(results: CommandResultRecord[]): Promise<void> {
    if (!results.length) return;
    await inTx(this.db, async (trx) => {
      const now = Date.now();
      for (const r of results) {
        const e = await trx.selectFrom('command_executions').selectAll().where('id', '=', r.execution_id).executeTakeFirst();
        if (!e || e.node_id !== r.node_id || isTerminal(e.status)) continue;
        const end = iso(r.completed_at ?? r.cancelled_at ?? now);
        const upd = await trx.updateTable('command_executions').set({
          status: r.status, exit_code: r.exit_code, output: r.output, error: r.error,
          // A result can overtake its delivery ack (both in one flush): it was sent, then.
          sent_at: e.sent_at ?? iso(r.started_at ?? now),
          completed_at: r.status === 'completed' ? end : e.completed_at,
          cancelled_at: r.status === 'cancelled' ? iso(r.cancelled_at ?? r.completed_at ?? now) : e.cancelled_at,
          updated_at: iso(now),
        }).where('id', '=', e.id).where('status', '=', e.status).executeTakeFirst();
        if (Number(upd.numUpdatedRows) !== 1) continue; // moved meanwhile (cancelled or expired by the admin)
        const events: Parameters<typeof emitEvents>[1] = [];
        if (e.status === 'pending') events.push({ type: 'edge.command_execution.sent', subject: e.id, data: executionEventData({ ...e, status: 'sent' }) });
        events.push({ type: `edge.command_execution.${r.status}`, subject: e.id, data: executionEventData({ ...e, status: r.status, exit_code: r.exit_code }) });
        await emitEvents(trx, events, new Date(now));
      }
    });
  }

  /** Kept once per id; catalog types agents originate also go to the outbox. */
  async recordEvents(events: AgentEventRecord[]): Promise<void> {
    if (!events.length) return;
    await inTx(this.db, async (trx) => {
      const at = iso();
      for (const e of events) {
        const ins = await trx.insertInto('agent_events').values({ id: e.id, node_id: e.node_id, type: e.type, data: JSON.stringify(e.data ?? null), time: iso(e.time || Date.now()), inserted_at: at })
          .onConflict((oc) => oc.column('id').doNothing()).returning('id').executeTakeFirst();
        if (!ins || !isEventType(e.type) || !AGENT_OUTBOX_TYPES.has(e.type)) continue;
        const data = e.data && typeof e.data === 'object' ? e.data as Record<string, unknown> : { value: e.data };
        await emitEvent(trx, e.type, { ...data, node_id: e.node_id }, e.node_id, new Date(e.time || Date.now()));
      }
    });
  }

  credentials(nodeId: string): Promise<CredentialSet | null> {
    return nodeCredentials(this.db, nodeId);
  }
}
