// The node-lifecycle half of the SQL TunnelBackend: enrollment (an atomic key use), token
// authentication, tunnel up/down, heartbeats and hub-decided status changes, each committed with
// its outbox events by the admin store's functions (store/enroll.ts, store/status.ts), then
// `committed()` wakes the webhook dispatcher. The command and credential methods are inert
// here (no deliveries owed, acks/results/events ignored): the commands/SSH adapter replaces them.
import { EnrollmentError, consumeEnrollmentKey, authenticateNode, recordHeartbeat, setTunnelState } from '../store/enroll';
import { inTx, type Db } from '../store/db';
import { changeStatus } from '../store/status';
import {
  EnrollError, type AgentEventRecord, type CommandResultRecord, type CredentialSet, type DeliveryAck, type EnrollErrorCode, type EnrollRequest, type EnrollResult,
  type HeartbeatRecord, type ResumeSet, type StatusChange, type TunnelBackend, type TunnelInfo, type TunnelNode,
} from './backend';

const ENROLL_CODES: Record<EnrollmentError['code'], EnrollErrorCode> = {
  invalid_key: 'invalid_key', expired: 'key_expired', spent: 'key_exhausted', cluster_full: 'node_limit', invalid_node: 'node_conflict',
};

export interface SqlNodeBackendOptions {
  heartbeatIntervalMs: number;
  /** Called after every commit that may have written events (the webhook dispatcher's wake). */
  committed?: () => void;
}

export class SqlNodeBackend implements TunnelBackend {
  constructor(private readonly db: Db, private readonly o: SqlNodeBackendOptions) {}

  private async commit<T>(fn: () => Promise<T>): Promise<T> {
    const out = await fn();
    this.o.committed?.();
    return out;
  }

  async enroll(req: EnrollRequest): Promise<EnrollResult> {
    try {
      const e = await this.commit(() => consumeEnrollmentKey(this.db, req.secret, {
        node_id: req.node_id, id_type: req.id_type, node_name: req.name, version: req.agent_version, hostname: req.host_name,
        ssh_port: req.ports?.ssh_port, http_port: req.ports?.http_port, http_proxy_port: req.ports?.http_proxy_port, socks5_proxy_port: req.ports?.socks5_proxy_port,
        info: req.os || req.arch ? { os: req.os, arch: req.arch } : undefined,
      }));
      return { node_id: e.node_id, api_token: e.api_token, cluster_name: e.cluster.name, reregistered: e.reenrolled };
    } catch (err) {
      if (err instanceof EnrollmentError) throw new EnrollError(ENROLL_CODES[err.code], err.message);
      throw err;
    }
  }

  async authenticate(apiToken: string): Promise<TunnelNode | null> {
    const node = await authenticateNode(this.db, apiToken);
    if (!node) return null;
    const c = await this.db.selectFrom('clusters').select('name').where('id', '=', node.cluster_id).executeTakeFirst();
    return { node_id: node.id, cluster_name: c?.name ?? '' };
  }

  async tunnelUp(node: TunnelNode, info: TunnelInfo, at: number): Promise<ResumeSet> {
    // A tunnel coming up counts as a heartbeat: last_seen_at, version, tunnel_connected, status.
    await this.commit(() => recordHeartbeat(this.db, node.node_id, new Date(at), { version: info.agent_version || undefined, hostname: info.host_name || undefined }, this.o.heartbeatIntervalMs));
    return { deliveries: [], cancels: [], credentials: null };
  }

  async tunnelDown(nodeId: string, at: number): Promise<void> {
    await this.commit(() => setTunnelState(this.db, nodeId, false, this.o.heartbeatIntervalMs, new Date(at)));
  }

  async recordHeartbeats(beats: HeartbeatRecord[]): Promise<void> {
    await this.commit(async () => {
      for (const b of beats) await recordHeartbeat(this.db, b.node_id, new Date(b.received_at), {}, this.o.heartbeatIntervalMs);
    });
  }

  async setStatus(changes: StatusChange[]): Promise<void> {
    await this.commit(async () => {
      for (const c of changes) {
        await inTx(this.db, async (trx) => {
          const n = await trx.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
            .select(['nodes.id', 'nodes.status', 'clusters.name as cluster_name']).where('nodes.id', '=', c.node_id).executeTakeFirst();
          if (n) await changeStatus(trx, n, c.status, new Date(c.at));
        });
      }
    });
  }

  async delivered(_acks: DeliveryAck[]): Promise<void> { /* commands/SSH adapter */ }
  async recordResults(_results: CommandResultRecord[]): Promise<void> { /* commands adapter */ }
  async recordEvents(_events: AgentEventRecord[]): Promise<void> { /* commands adapter */ }
  async credentials(_nodeId: string): Promise<CredentialSet | null> { return null; }
}
