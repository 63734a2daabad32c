// Nodes.Cluster routes: create (name rules, `default` reserved, IPv4 range given or allocated),
// list with the reference's filters, get, patch node_limit, delete only when empty.
import { sql } from 'kysely';
import { Conflict } from '../../base/errors';
import type { HttpServer, Req, Res } from '../../http';
import { type AdminCtx } from '../api/context';
import { networkName, vpnDomain } from '../store/naming';
import { clusterByName, createCluster, nodeCount } from '../store/clusters';
import type { DbOrTrx } from '../store/db';
import type { ClusterRow } from '../store/schema';
import { iso, isForeignKeyViolation } from '../store/util';
import { invalid, noContent, notFound, ok, paged } from '../api/envelope';
import { isSetFilter, listQuerySchema, runList, type ListSpec } from '../api/list';
import { clusterSchema, nameParam, NAME_PATTERN, paginated, single } from '../api/schemas';

const TAGS = ['Nodes.Cluster'];
const NODE_COUNT = sql`(select count(*) from nodes where nodes.cluster_id = clusters.id)`;

export const clusterListSpec: ListSpec = {
  filters: {
    name: { kind: 'text', expr: 'clusters.name', description: 'Filter by cluster name (exact match or wildcard: prod*, *tion, *rod*)' },
    ipv4_range: { kind: 'text', expr: 'clusters.ipv4_range', description: 'Filter by IPv4 range (exact match or wildcard)' },
    has_node_limit: isSetFilter('clusters.node_limit', 'true returns clusters with a limit, false returns unlimited'),
    node_limit: { kind: 'int', expr: 'clusters.node_limit', ops: ['eq', 'gte', 'lte'], description: 'Filter by node limit' },
    node_count: { kind: 'int', expr: NODE_COUNT, ops: ['eq', 'gte', 'lte'], description: 'Filter by node_count' },
    inserted_at: { kind: 'date', expr: 'clusters.inserted_at' },
    updated_at: { kind: 'date', expr: 'clusters.updated_at' },
  },
  sort: { name: 'clusters.name', ipv4_range: 'clusters.ipv4_range', node_limit: 'clusters.node_limit', node_count: NODE_COUNT, inserted_at: 'clusters.inserted_at', updated_at: 'clusters.updated_at', id: 'clusters.id' },
  defaultSort: [['name', 'asc']],
  id: 'clusters.id',
};

/** ClusterResponse for each row (node summaries fetched in one query). */
export async function clusterViews(db: DbOrTrx, rows: ClusterRow[]): Promise<Record<string, unknown>[]> {
  if (rows.length === 0) return [];
  const nodes = await db.selectFrom('nodes').select(['id', 'id_type', 'status', 'node_name', 'cluster_id']).where('cluster_id', 'in', rows.map((r) => r.id)).orderBy('inserted_at').orderBy('id').execute();
  return rows.map((r) => {
    const mine = nodes.filter((n) => n.cluster_id === r.id);
    return {
      id: r.id, name: r.name, ipv4_range: r.ipv4_range, network_name: networkName(r.name), vpn_domain: vpnDomain(r.name),
      node_count: mine.length, node_limit: r.node_limit,
      nodes: mine.map((n) => ({ id: n.id, id_type: n.id_type, status: n.status, vpn_hostname: `${n.node_name}.${vpnDomain(r.name)}` })),
      inserted_at: r.inserted_at, updated_at: r.updated_at,
    };
  });
}

async function mustGet(db: DbOrTrx, name: string): Promise<ClusterRow> {
  const c = await clusterByName(db, name);
  if (!c) throw notFound('cluster', name);
  return c;
}

export function clusterRoutes(http: HttpServer, ctx: AdminCtx): void {
  const { db } = ctx;
  const params = { type: 'object', required: ['name'], properties: { name: nameParam } };
  const nodeLimit = { type: ['integer', 'null'], minimum: 1, description: 'Maximum nodes allowed in this cluster (null means no limit enforced)' };

  http.add({
    method: 'post', path: '/api/v1/clusters', auth: 'api', tags: TAGS,
    summary: 'Create a new cluster (the name `default` is reserved; ipv4_range is allocated from 100.64.0.0/10 when omitted)',
    body: {
      type: 'object', required: ['name'], additionalProperties: false,
      properties: {
        name: { type: 'string', maxLength: 24, pattern: NAME_PATTERN, description: 'Cluster name — primary identifier (max 24 chars, lowercase alphanumeric + hyphens)' },
        ipv4_range: { type: ['string', 'null'], description: 'IPv4 CIDR range (auto-generated if not provided)' },
        node_limit: nodeLimit,
      },
    },
    responses: { 201: { description: 'created', schema: single(clusterSchema) }, 409: { description: 'name taken or range overlaps' }, 422: { description: 'validation failed' } },
    async handler(req: Req, res: Res) {
      const b = req.body as { name: string; ipv4_range?: string | null; node_limit?: number | null };
      const row = await createCluster(db, b);
      ok(req, res, (await clusterViews(db, [row]))[0], 201);
    },
  });

  http.add({
    method: 'get', path: '/api/v1/clusters', auth: 'api', tags: TAGS,
    summary: 'List clusters (paginated, filtered, sorted)',
    query: listQuerySchema(clusterListSpec),
    responses: { 200: { description: 'a page of clusters', schema: paginated(clusterSchema) } },
    async handler(req: Req, res: Res) {
      const { rows, pagination } = await runList<ClusterRow>(db.selectFrom('clusters'), (q) => q.selectAll('clusters'), clusterListSpec, req.query);
      paged(req, res, await clusterViews(db, rows), pagination);
    },
  });

  http.add({
    method: 'get', path: '/api/v1/clusters/:name', auth: 'api', tags: TAGS, summary: 'Get a cluster by name', params,
    responses: { 200: { description: 'the cluster', schema: single(clusterSchema) }, 404: { description: 'no such cluster' } },
    async handler(req: Req, res: Res) {
      ok(req, res, (await clusterViews(db, [await mustGet(db, req.params.name)]))[0]);
    },
  });

  http.add({
    method: 'patch', path: '/api/v1/clusters/:name', auth: 'api', tags: TAGS,
    summary: 'Update a cluster: node_limit (null removes the limit; it cannot go below the current node count)', params,
    body: { type: 'object', additionalProperties: false, properties: { node_limit: nodeLimit } },
    responses: { 200: { description: 'updated', schema: single(clusterSchema) }, 404: { description: 'no such cluster' }, 422: { description: 'validation failed' } },
    async handler(req: Req, res: Res) {
      const b = req.body as { node_limit?: number | null };
      const row = await db.transaction().execute(async (trx) => {
        const c = await mustGet(trx, req.params.name);
        if (b.node_limit === undefined) return c;
        if (b.node_limit !== null) {
          const n = await nodeCount(trx, c.id);
          if (b.node_limit < n) throw invalid({ 'body.node_limit': `is below the cluster's ${n} nodes` }, `node_limit ${b.node_limit} is below the cluster's ${n} nodes`);
        }
        const at = iso();
        await trx.updateTable('clusters').set({ node_limit: b.node_limit, updated_at: at }).where('id', '=', c.id).execute();
        return { ...c, node_limit: b.node_limit, updated_at: at };
      });
      ok(req, res, (await clusterViews(db, [row]))[0]);
    },
  });

  http.add({
    method: 'delete', path: '/api/v1/clusters/:name', auth: 'api', tags: TAGS,
    summary: 'Delete an empty cluster (409 while it has nodes); its enrollment keys go with it', params,
    responses: { 204: { description: 'deleted' }, 404: { description: 'no such cluster' }, 409: { description: 'the cluster has nodes' } },
    async handler(req: Req, res: Res) {
      const busy = (n: number | string) => new Conflict(`cluster '${req.params.name}' has ${n} node(s); move or delete them first`, { fields: [{ field: 'name', message: `has ${n} nodes` }] });
      await db.transaction().execute(async (trx) => {
        const c = await mustGet(trx, req.params.name);
        const n = await nodeCount(trx, c.id);
        if (n > 0) throw busy(n);
        // A node enrolling meanwhile makes the restrict FK refuse: still a 409.
        await trx.deleteFrom('clusters').where('id', '=', c.id).execute().catch((err) => { throw isForeignKeyViolation(err) ? busy('new') : err; });
      });
      noContent(res);
    },
  });
}
