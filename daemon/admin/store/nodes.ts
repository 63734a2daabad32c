// Node store operations shared by the API, the SSH jump and the CLI: the NodeResponse view,
// lookup by id / node name / alias, delete (cascades per the reference), change of cluster
// (respecting node_limit) with its event.
import { Conflict, NotFound, ValidationFailed } from '../../base/errors';
import { vpnDomain } from './naming';
import { dialectOf, inTx, type DbOrTrx } from './db';
import { emitEvent } from './events';
import type { NodeRow } from './schema';
import { iso } from './util';

export type NodeWithCluster = NodeRow & { cluster_name: string };

export const nodesWithCluster = (db: DbOrTrx) => db.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id');

export async function getNode(db: DbOrTrx, id: string): Promise<NodeWithCluster | undefined> {
  return nodesWithCluster(db).selectAll('nodes').select('clusters.name as cluster_name').where('nodes.id', '=', id).executeTakeFirst();
}

/** Resolves what an operator typed (node id, node name or alias) to a node; ids win, then aliases, then names. */
export async function resolveNode(db: DbOrTrx, target: string): Promise<NodeWithCluster | undefined> {
  const byId = await getNode(db, target);
  if (byId) return byId;
  const alias = await db.selectFrom('aliases').select('node_id').where('name', '=', target.toLowerCase()).executeTakeFirst();
  if (alias) return getNode(db, alias.node_id);
  const named = await nodesWithCluster(db).selectAll('nodes').select('clusters.name as cluster_name').where('nodes.node_name', '=', target).orderBy('nodes.inserted_at').limit(2).execute();
  return named.length === 1 ? named[0] : undefined; // an ambiguous name resolves to nothing
}

/** The AES-GCM context (AAD) a node's stored proxy password is sealed under: bound to its row. */
export const proxyPasswordContext = (nodeId: string): string => `node:${nodeId}:proxy_password`;

export interface NodeViewOptions {
  /** The caller may see secrets (MASTER_KEY, or an admin without keys on loopback): proxy_password is filled in. */
  secrets?: boolean;
  /** Opens a sealed secret (SecretBox#open); throws when it cannot. */
  open?(sealed: string, context: string): string;
}

/** The stored proxy password in clear, or null when there is none or it cannot be opened (e.g. MASTER_KEY changed). */
function revealProxyPassword(n: NodeRow, o: NodeViewOptions): string | null {
  if (!n.proxy_password) return null;
  if (!n.proxy_password.startsWith('v1:')) return n.proxy_password; // stored before it was sealed
  try { return o.open ? o.open(n.proxy_password, proxyPasswordContext(n.id)) : null; } catch { return null; }
}

/**
 * NodeResponse of the reference. api_token is always null: only its hash is stored, the agent
 * got the token once at enrollment. proxy_password only for callers allowed to see secrets
 * (null for the others). wireguard_metrics_port is null: Outpost has no WireGuard.
 * host_metrics_port is the agent API port, which serves GET /metrics (Prometheus).
 */
export function nodeView(n: NodeWithCluster, o: NodeViewOptions = {}): Record<string, unknown> {
  return {
    id: n.id, id_type: n.id_type, node_name: n.node_name, cluster_name: n.cluster_name, status: n.status, api_token: null,
    version: n.version, ip_address: n.ip_address, hostname: n.hostname,
    http_port: n.http_port, ssh_port: n.ssh_port, http_proxy_port: n.http_proxy_port, socks5_proxy_port: n.socks5_proxy_port,
    host_metrics_port: n.host_metrics_port, wireguard_metrics_port: null, proxy_password: o.secrets ? revealProxyPassword(n, o) : null,
    self_update_enabled: n.self_update_enabled === 1,
    mdns_hostname: `${n.node_name}.local`, vpn_hostname: `${n.node_name}.${vpnDomain(n.cluster_name)}`, netmaker_host_id: null,
    last_seen_at: n.last_seen_at, inserted_at: n.inserted_at, updated_at: n.updated_at,
  };
}

/** Deletes a node: its SSH usernames (and keys) and aliases go, its command executions stay with node_id NULL. */
export async function deleteNode(db: DbOrTrx, id: string): Promise<boolean> {
  const r = await db.deleteFrom('nodes').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/**
 * Moves a node to another cluster if that cluster has room (node_limit), with
 * edge.node.cluster_changed. Throws NotFound 404 (node), 422 (no such cluster), 409 (full).
 */
export async function changeNodeCluster(db: DbOrTrx, nodeId: string, clusterName: string, now = new Date()): Promise<NodeWithCluster> {
  return inTx(db, async (trx) => {
    const node = await getNode(trx, nodeId);
    if (!node) throw new NotFound(`node ${JSON.stringify(nodeId)} not found`);
    let q = trx.selectFrom('clusters').selectAll().where('name', '=', clusterName);
    if (dialectOf(trx) === 'postgres') q = q.forUpdate(); // serializes node_limit checks per cluster
    const target = await q.executeTakeFirst();
    if (!target) throw new ValidationFailed(`cluster '${clusterName}' does not exist`, { fields: [{ field: 'body.cluster_name', message: 'does not exist' }] });
    if (target.id === node.cluster_id) return node;
    if (target.node_limit !== null) {
      const { n } = await trx.selectFrom('nodes').select((eb) => eb.fn.countAll<number>().as('n')).where('cluster_id', '=', target.id).executeTakeFirstOrThrow();
      if (Number(n) >= target.node_limit) throw new Conflict(`cluster '${target.name}' is full (node_limit ${target.node_limit})`, { fields: [{ field: 'cluster_name', message: 'node_limit reached' }] });
    }
    const at = iso(now);
    await trx.updateTable('nodes').set({ cluster_id: target.id, updated_at: at }).where('id', '=', nodeId).execute();
    await emitEvent(trx, 'edge.node.cluster_changed', { node_id: nodeId, previous_cluster_name: node.cluster_name, cluster_name: target.name }, nodeId, now);
    return { ...node, cluster_id: target.id, cluster_name: target.name, updated_at: at };
  });
}
