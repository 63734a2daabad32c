// Nodes.Node routes: list with the reference's filters, get, delete (cascade), change_cluster.
import { getRoute, listRoute } from '../api/routes';
import { sql } from 'kysely';
import type { HttpServer, Req, Res } from '../../http';
import type { AdminCtx } from '../api/context';
import { changeNodeCluster, deleteNode, getNode, nodesWithCluster, nodeView, type NodeWithCluster } from '../store/nodes';
import { noContent, notFound, ok } from '../api/envelope';
import type { ListSpec } from '../api/list';
import { NAME_PATTERN, nodeIdParam, nodeSchema, single } from '../api/schemas';

const TAGS = ['Nodes.Node'];

export const nodeListSpec: ListSpec = {
  filters: {
    cluster_name: { kind: 'text', expr: 'clusters.name', description: 'Filter by cluster name (exact match or wildcard: prod*, *east)' },
    id_type: { kind: 'enum', expr: 'nodes.id_type', values: ['persistent', 'random'], description: 'Filter by node ID type' },
    status: { kind: 'enum', expr: 'nodes.status', values: ['healthy', 'unhealthy', 'unreachable'], description: 'Filter by node status' },
    self_update_enabled: { kind: 'bool', where: (v) => sqlEq('nodes.self_update_enabled', v ? 1 : 0), description: 'Filter by self-update enabled status' },
    version: { kind: 'text', expr: 'nodes.version', description: 'Filter by agent version (exact match or wildcard: 1.0.0, 1.*)' },
    node_name: { kind: 'text', expr: 'nodes.node_name', description: 'Filter by node name (exact match or wildcard)' },
    inserted_at: { kind: 'date', expr: 'nodes.inserted_at' },
    updated_at: { kind: 'date', expr: 'nodes.updated_at' },
    last_seen_at: { kind: 'date', expr: 'nodes.last_seen_at' },
  },
  sort: {
    node_name: 'nodes.node_name', cluster_name: 'clusters.name', status: 'nodes.status', version: 'nodes.version', id_type: 'nodes.id_type',
    last_seen_at: 'nodes.last_seen_at', inserted_at: 'nodes.inserted_at', updated_at: 'nodes.updated_at', id: 'nodes.id',
  },
  defaultSort: [['inserted_at', 'asc']],
  id: 'nodes.id',
};

function sqlEq(col: string, v: number) { return sql<boolean>`${sql.ref(col)} = ${v}`; }

/**
 * Who sees a node's proxy_password: MASTER_KEY callers, and every caller of an admin with no
 * keys at all (it then serves loopback only, see startAdmin). API_KEY callers get null.
 */
export const seesSecrets = (req: Req): boolean => req.scope === 'master' || req.scope === 'none';

export function nodeRoutes(http: HttpServer, ctx: AdminCtx): void {
  const { db } = ctx;
  const params = { type: 'object', required: ['id'], properties: { id: nodeIdParam } };
  const open = (sealed: string, context: string) => ctx.box.open(sealed, context);
  const view = (n: NodeWithCluster, req: Req) => nodeView(n, { secrets: seesSecrets(req), open });

  listRoute<NodeWithCluster>(http, {
    path: '/api/v1/nodes', tags: TAGS, summary: 'List nodes (paginated, filtered, sorted)', what: 'nodes', schema: nodeSchema, spec: nodeListSpec,
    base: () => nodesWithCluster(db), select: (q) => q.selectAll('nodes').select('clusters.name as cluster_name'), view,
  });
  getRoute(http, { path: '/api/v1/nodes/:id', tags: TAGS, summary: 'Get a node', params, what: 'node', schema: nodeSchema, load: (id) => getNode(db, id), view });

  http.add({
    method: 'delete', path: '/api/v1/nodes/:id', auth: 'api', tags: TAGS,
    summary: 'Delete a node: its SSH usernames (and their keys) and aliases are deleted; command executions are kept with node_id NULL', params,
    responses: { 204: { description: 'deleted' }, 404: { description: 'no such node' } },
    async handler(req: Req, res: Res) {
      if (!(await deleteNode(db, req.params.id))) throw notFound('node', req.params.id);
      // Its token is gone with the row: a tunnel opened with it must not stay up.
      ctx.hub?.disconnect(req.params.id, 'node deleted');
      noContent(res);
    },
  });

  http.add({
    method: 'patch', path: '/api/v1/nodes/:id/change_cluster', auth: 'api', tags: TAGS, operationId: 'changeNodeCluster',
    summary: "Move a node to another cluster (409 when that cluster's node_limit is reached)", params,
    body: { type: 'object', required: ['cluster_name'], additionalProperties: false, properties: { cluster_name: { type: 'string', maxLength: 24, pattern: NAME_PATTERN, description: 'Name of the target cluster' } } },
    responses: { 200: { description: 'moved', schema: single(nodeSchema) }, 404: { description: 'no such node' }, 409: { description: 'target cluster full' }, 422: { description: 'no such target cluster' } },
    async handler(req: Req, res: Res) {
      const moved = await changeNodeCluster(db, req.params.id, (req.body as { cluster_name: string }).cluster_name);
      ctx.wake(); // edge.node.cluster_changed committed
      ok(req, res, view(moved, req));
    },
  });
}
