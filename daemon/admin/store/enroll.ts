// The store API the agent tunnel calls: enrollment (atomic use of an enrollment key), node
// authentication by api_token, heartbeats and tunnel up/down. Each change and its events commit
// in one transaction.
//
//   consumeEnrollmentKey(db, secret, info, now, nodeToken) → { node_id, api_token, cluster, reenrolled } | throws EnrollError (daemon/tunnel/enrollment.ts: the codes the enrollment route answers with)
//   authenticateNode(db, api_token)        → node row | null
//   recordHeartbeat(db, nodeId, at, info, heartbeatIntervalMs) → new status | null (unknown node)
//   setTunnelState(db, nodeId, up, at, heartbeatIntervalMs)    → new status | null
import { sameSecret } from '../../security/compare';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import { invalid } from '../../base/errors';
import { EnrollError } from '../../tunnel/enrollment';
import { dialectOf, inTx, type DbOrTrx } from './db';
import { keyIdOf } from './enrollment-key';
import { emitEvent } from './events';
import type { NodeRow, NodeStatus } from './schema';
import { changeStatus, computeStatus } from './status';
import { bool, iso, newId } from './util';

/** What an agent tells the admin about itself when it enrolls (and, partly, in heartbeats). */
export interface NodeInfo {
  /** /etc/machine-id as a UUID (persistent) or a random UUID the agent keeps (random). */
  node_id: string;
  id_type: 'persistent' | 'random';
  node_name?: string;
  version?: string;
  hostname?: string;
  /** Address the admin (hosts export, SSH jump) should use for the node. */
  ip_address?: string;
  http_port?: number;
  ssh_port?: number;
  http_proxy_port?: number;
  socks5_proxy_port?: number;
  host_metrics_port?: number;
  proxy_password?: string;
  self_update_enabled?: boolean;
  /** Anything else worth keeping (JSON object). */
  info?: Record<string, unknown>;
}

export interface Enrollment {
  /** The requested node id, or a new one when the requested id was taken and not proven (see consumeEnrollmentKey). */
  node_id: string;
  /** Shown once: the admin keeps only its sha256. Format "<node_id>.<secret>". */
  api_token: string;
  cluster: { id: string; name: string };
  /** The node id was already enrolled (its row was updated, its old token revoked). */
  reenrolled: boolean;
  /** The requested node id was taken and not proven: the node was enrolled under a new id (node_id) and that node is left as it was. */
  requested_node_id?: string;
}

/** Node ids: a UUID, or 32 hex digits (machine-id), or another 8–64 char [A-Za-z0-9-] id. */
export const NODE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9-]{6,62}[A-Za-z0-9]$/;

const sha256 = (s: string) => createHash('sha256').update(s).digest();


/**
 * Uses one enrollment of the key (atomically: one conditional UPDATE decrements uses_remaining
 * only while it is NULL or > 0 and the key has not expired, so of two agents racing for the
 * last use exactly one wins), then registers the node. The cluster must have room
 * (node_limit), else nothing changes (the use is not spent).
 *
 * A node id that is already enrolled is re-registered in place (new token, the old one revoked)
 * only when `nodeToken` is that node's current api_token AND the key belongs to the node's
 * cluster. Otherwise the agent gets a new node (a new random id) in the key's cluster and the
 * named node is left exactly as it was: a node id is public (it is in URLs, logs and events), so
 * knowing it plus holding some enrollment key must not let anyone take the node's place, revoke
 * its token and receive its SSH credentials; and a key of cluster A never moves a node of
 * cluster B (PATCH /nodes/{id}/change_cluster does that, with an operator's token).
 */
export async function consumeEnrollmentKey(db: DbOrTrx, keySecret: string, info: NodeInfo, now: Date = new Date(), nodeToken?: string): Promise<Enrollment> {
  if (!NODE_ID_RE.test(info.node_id)) throw invalid({ node_id: 'must be 8-64 characters of [A-Za-z0-9-]' }, `node_id must be 8-64 characters of [A-Za-z0-9-] (got ${JSON.stringify(info.node_id)})`);
  const keyId = keyIdOf(keySecret);
  if (!keyId) throw new EnrollError('invalid_key', 'unknown enrollment key');
  return inTx(db, async (trx) => {
    const key = await trx.selectFrom('enrollment_keys').select(['id', 'secret', 'cluster_id', 'uses_remaining', 'expired_at']).where('id', '=', keyId).executeTakeFirst();
    // Compare even when the id is unknown, so timing does not tell ids apart from secrets.
    const match = sameSecret(keySecret, key?.secret ?? 'x');
    if (!key || !match) throw new EnrollError('invalid_key', 'unknown enrollment key');
    const at = iso(now);
    const used = await trx.updateTable('enrollment_keys')
      .set({ uses_remaining: sql<number | null>`case when uses_remaining is null then null else uses_remaining - 1 end`, last_used_at: at, updated_at: at })
      .where('id', '=', key.id)
      .where((eb) => eb.or([eb('uses_remaining', 'is', null), eb('uses_remaining', '>', 0)]))
      .where((eb) => eb.or([eb('expired_at', 'is', null), eb('expired_at', '>', at)]))
      .returning(['id', 'cluster_id', 'uses_remaining'])
      .executeTakeFirst();
    if (!used) {
      const expired = key.expired_at !== null && key.expired_at <= at;
      throw expired ? new EnrollError('key_expired', `enrollment key expired at ${key.expired_at}`) : new EnrollError('key_exhausted', 'enrollment key has no uses remaining');
    }
    let clusterQ = trx.selectFrom('clusters').select(['id', 'name', 'node_limit']).where('id', '=', used.cluster_id);
    if (dialectOf(trx) === 'postgres') clusterQ = clusterQ.forUpdate(); // serializes node_limit checks per cluster
    const cluster = await clusterQ.executeTakeFirstOrThrow();
    const named = await trx.selectFrom('nodes').selectAll().where('id', '=', info.node_id).executeTakeFirst();
    // The row is re-registered only by its own holder, within its own cluster.
    const existing = named && named.cluster_id === cluster.id && holdsToken(named, nodeToken) ? named : undefined;
    const nodeId = named && !existing ? newId() : info.node_id;
    if (cluster.node_limit !== null && !existing) {
      const { n } = await trx.selectFrom('nodes').select((eb) => eb.fn.countAll<number>().as('n')).where('cluster_id', '=', cluster.id).executeTakeFirstOrThrow();
      if (Number(n) >= cluster.node_limit) throw new EnrollError('node_limit', `cluster ${cluster.name} is full (node_limit ${cluster.node_limit})`);
    }
    const secret = randomBytes(32).toString('base64url');
    const apiToken = `${nodeId}.${secret}`;
    const fields = {
      cluster_id: cluster.id,
      // A new id in place of a taken one is the admin's random id, whatever the agent derived.
      id_type: info.id_type === 'persistent' && nodeId === info.node_id ? 'persistent' as const : 'random' as const,
      node_name: info.node_name || `node-${nodeId}`,
      api_token_hash: sha256(secret).toString('hex'),
      version: info.version ?? null,
      ip_address: info.ip_address ?? null,
      hostname: info.hostname ?? null,
      http_port: info.http_port ?? null,
      ssh_port: info.ssh_port ?? null,
      http_proxy_port: info.http_proxy_port ?? null,
      socks5_proxy_port: info.socks5_proxy_port ?? null,
      host_metrics_port: info.host_metrics_port ?? null,
      proxy_password: info.proxy_password ?? null,
      self_update_enabled: bool(info.self_update_enabled),
      info: info.info ? JSON.stringify(info.info) : null,
      updated_at: at,
    };
    await emitEvent(trx, 'edge.enrollment_key.verified', { enrollment_key_id: key.id, cluster_name: cluster.name, node_id: nodeId, uses_remaining: used.uses_remaining }, key.id, now);
    if (existing) {
      await trx.updateTable('nodes').set(fields).where('id', '=', nodeId).execute();
      await emitEvent(trx, 'edge.node.reregistered', { node_id: nodeId, cluster_name: cluster.name, version: fields.version }, nodeId, now);
      if ((existing.version ?? null) !== fields.version && fields.version !== null) {
        await emitEvent(trx, 'edge.node.version_changed', { node_id: nodeId, cluster_name: cluster.name, previous_version: existing.version, version: fields.version }, nodeId, now);
      }
    } else {
      await trx.insertInto('nodes').values({ id: nodeId, ...fields, status: 'unreachable', tunnel_connected: 0, last_seen_at: null, inserted_at: at }).execute();
      await emitEvent(trx, 'edge.node.registered', { node_id: nodeId, cluster_name: cluster.name, id_type: fields.id_type, version: fields.version }, nodeId, now);
    }
    return { node_id: nodeId, api_token: apiToken, cluster: { id: cluster.id, name: cluster.name }, reenrolled: Boolean(existing), ...(nodeId !== info.node_id ? { requested_node_id: info.node_id } : {}) };
  });
}

/** True when `token` is `node`'s current api_token ("<node id>.<secret>", the secret compared in constant time). */
function holdsToken(node: NodeRow, token: string | undefined): boolean {
  const i = token ? token.lastIndexOf('.') : -1;
  const presented = sha256(i > 0 ? token!.slice(i + 1) : '');
  const expected = Buffer.from(node.api_token_hash, 'hex');
  const ok = expected.length === 32 && timingSafeEqual(presented, expected);
  return ok && i > 0 && token!.slice(0, i) === node.id;
}

/** The node an api_token belongs to, or null. The token's secret is compared in constant time. */
export async function authenticateNode(db: DbOrTrx, token: string): Promise<NodeRow | null> {
  const i = token.lastIndexOf('.');
  if (i <= 0) return null;
  const nodeId = token.slice(0, i);
  if (!NODE_ID_RE.test(nodeId)) return null;
  const node = await db.selectFrom('nodes').selectAll().where('id', '=', nodeId).executeTakeFirst();
  const presented = sha256(token.slice(i + 1));
  const expected = node ? Buffer.from(node.api_token_hash, 'hex') : Buffer.alloc(32);
  const ok = expected.length === 32 && timingSafeEqual(presented, expected);
  return node && ok ? node : null;
}

/** Fields a heartbeat may refresh. */
export type HeartbeatInfo = Partial<Omit<NodeInfo, 'node_id' | 'id_type'>>;

async function nodeWithCluster(db: DbOrTrx, nodeId: string) {
  return db.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .select(['nodes.id', 'nodes.status', 'nodes.version', 'nodes.last_seen_at', 'nodes.tunnel_connected', 'clusters.name as cluster_name'])
    .where('nodes.id', '=', nodeId).executeTakeFirst();
}

/**
 * A heartbeat arrived over the tunnel at `at`: last_seen_at moves, reported fields are
 * refreshed (edge.node.version_changed when the version differs), the tunnel counts as up and
 * the status is recomputed. Returns the node's status, or null for an unknown node.
 */
export async function recordHeartbeat(db: DbOrTrx, nodeId: string, at: Date, info: HeartbeatInfo, heartbeatIntervalMs: number): Promise<NodeStatus | null> {
  return inTx(db, async (trx) => {
    const node = await nodeWithCluster(trx, nodeId);
    if (!node) return null;
    const seen = iso(at);
    const lastSeen = node.last_seen_at && node.last_seen_at > seen ? node.last_seen_at : seen;
    const set: Record<string, unknown> = { last_seen_at: lastSeen, tunnel_connected: 1, updated_at: iso() };
    for (const k of ['version', 'ip_address', 'hostname', 'http_port', 'ssh_port', 'http_proxy_port', 'socks5_proxy_port', 'host_metrics_port', 'proxy_password'] as const) {
      if (info[k] !== undefined) set[k] = info[k];
    }
    if (info.node_name) set.node_name = info.node_name;
    if (info.self_update_enabled !== undefined) set.self_update_enabled = bool(info.self_update_enabled);
    if (info.info) set.info = JSON.stringify(info.info);
    await trx.updateTable('nodes').set(set).where('id', '=', nodeId).execute();
    if (info.version !== undefined && info.version !== node.version) {
      await emitEvent(trx, 'edge.node.version_changed', { node_id: nodeId, cluster_name: node.cluster_name, previous_version: node.version, version: info.version }, nodeId, at);
    }
    const status = computeStatus(true, lastSeen, new Date(), heartbeatIntervalMs);
    await changeStatus(trx, node, status, new Date());
    return status;
  });
}

/** The node's tunnel connected (up) or went away (down). Returns the node's status, or null. */
export async function setTunnelState(db: DbOrTrx, nodeId: string, up: boolean, heartbeatIntervalMs: number, at: Date = new Date()): Promise<NodeStatus | null> {
  return inTx(db, async (trx) => {
    const node = await nodeWithCluster(trx, nodeId);
    if (!node) return null;
    if (node.tunnel_connected !== bool(up)) await trx.updateTable('nodes').set({ tunnel_connected: bool(up), updated_at: iso(at) }).where('id', '=', nodeId).execute();
    const status = computeStatus(up, node.last_seen_at, at, heartbeatIntervalMs);
    await changeStatus(trx, node, status, at);
    return status;
  });
}
