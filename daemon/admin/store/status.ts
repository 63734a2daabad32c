// Node status from heartbeats and the tunnel: healthy (tunnel up, a heartbeat within 3
// intervals), unhealthy (tunnel up, heartbeats late), unreachable (tunnel down). Every change is
// written with an edge.node.status_changed event in the same transaction.
import { inTx, type DbOrTrx } from './db';
import { emitEvent } from './events';
import type { NodeStatus } from './schema';
import { iso } from './util';

/** Heartbeats a node may miss before it turns unhealthy. */
export const MISSED_HEARTBEATS = 3;

export function computeStatus(tunnelUp: boolean, lastSeenAt: string | null, now: Date, heartbeatIntervalMs: number): NodeStatus {
  if (!tunnelUp) return 'unreachable';
  if (!lastSeenAt) return 'unhealthy';
  return now.getTime() - Date.parse(lastSeenAt) <= MISSED_HEARTBEATS * heartbeatIntervalMs ? 'healthy' : 'unhealthy';
}

/** Writes a new status (and its event) if it differs from `from`. Returns whether it changed. */
export async function changeStatus(db: DbOrTrx, node: { id: string; status: NodeStatus; cluster_name: string }, to: NodeStatus, now: Date): Promise<boolean> {
  if (node.status === to) return false;
  const res = await db.updateTable('nodes').set({ status: to, updated_at: iso(now) }).where('id', '=', node.id).where('status', '=', node.status).executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) return false; // someone else changed it first; their event stands
  await emitEvent(db, 'edge.node.status_changed', { node_id: node.id, cluster_name: node.cluster_name, previous_status: node.status, status: to }, node.id, now);
  return true;
}

/**
 * Periodic sweep: healthy nodes whose heartbeats are late turn unhealthy. Returns the ids that
 * changed. Run it every heartbeat interval.
 */
export async function sweepNodeStatuses(db: DbOrTrx, heartbeatIntervalMs: number, now: Date = new Date()): Promise<string[]> {
  const cutoff = iso(now.getTime() - MISSED_HEARTBEATS * heartbeatIntervalMs);
  const late = await db.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .select(['nodes.id', 'nodes.status', 'clusters.name as cluster_name'])
    .where('nodes.status', '=', 'healthy').where('nodes.tunnel_connected', '=', 1)
    .where((eb) => eb.or([eb('nodes.last_seen_at', 'is', null), eb('nodes.last_seen_at', '<', cutoff)]))
    .execute();
  const changed: string[] = [];
  for (const n of late) {
    if (await inTx(db, (trx) => changeStatus(trx, n, 'unhealthy', now))) changed.push(n.id);
  }
  return changed;
}

/**
 * After an admin start no tunnel is connected: every node is unreachable until its agent dials in.
 * (Single admin. With several admins sharing PostgreSQL this becomes per-admin ownership.)
 */
export async function resetTunnels(db: DbOrTrx, now: Date = new Date()): Promise<number> {
  const rows = await db.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .select(['nodes.id', 'nodes.status', 'clusters.name as cluster_name']).where((eb) => eb.or([eb('nodes.tunnel_connected', '=', 1), eb('nodes.status', '!=', 'unreachable')])).execute();
  await db.updateTable('nodes').set({ tunnel_connected: 0 }).where('tunnel_connected', '=', 1).execute();
  let n = 0;
  for (const r of rows) if (await inTx(db, (trx) => changeStatus(trx, r, 'unreachable', now))) n++;
  return n;
}
