// Admins.Metadata routes for this single admin (several admins sharing PostgreSQL come later):
// me, my_admin_cluster (itself, weak leader), admin_clusters, edge_clusters (every cluster is
// assigned here), orphaned_clusters (always empty: one admin owns everything).
import type { HttpServer, Req, Res } from '../../http';
import type { AdminCtx } from '../api/context';
import { ok } from '../api/envelope';
import { single } from '../api/schemas';

const TAGS = ['Admins.Metadata'];
/** Capacity figures of the reference's shape; with no VPN mesh they are a configured budget. */
export const MAX_PEERS = 250;

export function adminRoutes(http: HttpServer, ctx: AdminCtx): void {
  const { db, identity } = ctx;
  const me = () => ({
    id: identity.id, name: identity.name, admin_cluster_name: identity.admin_cluster_name, admin_peer_count: 0,
    max_wireguard_peers: MAX_PEERS, edge_node_capacity: MAX_PEERS, erlang_node_name: `outpostd@${identity.hostname}`,
    netmaker_host_id: identity.host_id, vpn_hostname: identity.hostname, last_computed_at: new Date(ctx.startedAt).toISOString(),
  });
  const topologyEntry = () => {
    const m = me();
    return { name: m.name, admin_peer_count: 0, edge_node_capacity: m.edge_node_capacity, max_wireguard_peers: m.max_wireguard_peers, erlang_node_name: m.erlang_node_name, netmaker_host_id: m.netmaker_host_id, vpn_hostname: m.vpn_hostname };
  };
  const totalNodes = async () => Number((await db.selectFrom('nodes').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);

  http.add({
    method: 'get', path: '/api/v1/admins/me', auth: 'api', tags: TAGS, summary: "This admin's identity and configuration",
    responses: { 200: { description: 'admin', schema: single({ type: 'object' }) } },
    handler(req: Req, res: Res) { ok(req, res, me()); },
  });

  http.add({
    method: 'get', path: '/api/v1/admins/my_admin_cluster', auth: 'api', tags: TAGS, summary: 'The admin cluster of this admin: itself, weak leader',
    responses: { 200: { description: 'admin cluster', schema: single({ type: 'object' }) } },
    async handler(req: Req, res: Res) {
      const total = await totalNodes();
      ok(req, res, { name: identity.admin_cluster_name, topology: [topologyEntry()], total_admins: 1, total_edge_capacity: MAX_PEERS, total_nodes: total, degraded: total > MAX_PEERS, weak_leader: identity.name });
    },
  });

  http.add({
    method: 'get', path: '/api/v1/admins/admin_clusters', auth: 'api', tags: TAGS, summary: 'All admin clusters (this one)',
    responses: { 200: { description: 'admin clusters', schema: single({ type: 'array' }) } },
    handler(req: Req, res: Res) {
      ok(req, res, [{
        name: identity.admin_cluster_name, ipv4_range: null, admin_count: 1,
        admins: [{ name: identity.name, netmaker_host_id: identity.host_id, vpn_hostname: identity.hostname, status: 'online', last_checked_in: new Date().toISOString(), ipv4_address: null, use_static_port: false, wireguard_ip_address: null, wireguard_port: null }],
      }]);
    },
  });

  http.add({
    method: 'get', path: '/api/v1/admins/edge_clusters', auth: 'api', tags: TAGS, summary: 'Edge cluster assignments: admin name → cluster name → node ids',
    responses: { 200: { description: 'assignments', schema: single({ type: 'object' }) } },
    async handler(req: Req, res: Res) {
      const clusters = await db.selectFrom('clusters').select(['id', 'name']).orderBy('name').execute();
      const nodes = await db.selectFrom('nodes').select(['id', 'cluster_id']).orderBy('inserted_at').orderBy('id').execute();
      const mine = Object.create(null) as Record<string, string[]>; // cluster names are user-chosen keys
      for (const c of clusters) mine[c.name] = nodes.filter((n) => n.cluster_id === c.id).map((n) => n.id);
      ok(req, res, { [identity.name]: mine });
    },
  });

  http.add({
    method: 'get', path: '/api/v1/admins/orphaned_clusters', auth: 'api', tags: TAGS, summary: 'Clusters no admin could take (always empty with one admin)',
    responses: { 200: { description: 'orphaned clusters', schema: single({ type: 'object' }) } },
    handler(req: Req, res: Res) { ok(req, res, {}); },
  });
}
