// Command targeting (Commands.Command `targeting`): `all` nodes, `nodes` by id (an alias or an
// unambiguous node name works too, as everywhere the admin resolves a node), or `clusters` by
// name, narrowed by node_filters AND cluster_filters with the list filters' semantics (`*`
// wildcards, __gte/__lte dates, booleans). The JSON schema comes from the node and cluster list
// specs, so a filter the lists accept is a filter targeting accepts.
import { CodedError, ValidationFailed } from '../../base/errors';
import type { JsonSchema } from '../../http';
import { clusterListSpec } from '../fleet/clusters';
import { applyFilters, listQuerySchema, type ListSpec } from '../api/list';
import { nodeListSpec } from '../fleet/nodes';
import { NAME_PATTERN } from '../api/schemas';
import type { DbOrTrx } from '../store/db';
import { nodesWithCluster, resolveNode } from '../store/nodes';

export interface Targeting {
  type: 'all' | 'nodes' | 'clusters';
  node_ids?: string[];
  cluster_names?: string[];
  node_filters?: Record<string, unknown>;
  cluster_filters?: Record<string, unknown>;
}

/** Most entries one node_ids / cluster_names list takes. */
export const MAX_TARGETS = 10_000;

const PAGING = new Set(['page', 'page_size', 'order_by', 'order_directions']);

function filterSchema(spec: ListSpec, description: string): JsonSchema {
  const props = { ...(listQuerySchema(spec).properties as Record<string, unknown>) };
  for (const k of PAGING) delete props[k];
  return { type: 'object', additionalProperties: false, description, properties: props };
}

export const targetingSchema: JsonSchema = {
  type: 'object', required: ['type'], additionalProperties: false,
  description: "Targeting strategy: 'all' for all nodes, 'nodes' for specific nodes, 'clusters' for specific clusters; node_filters AND cluster_filters narrow it",
  properties: {
    type: { type: 'string', enum: ['all', 'nodes', 'clusters'], description: "Targeting strategy: 'all' for all nodes, 'nodes' for specific nodes, 'clusters' for specific clusters" },
    node_ids: { type: 'array', minItems: 1, maxItems: MAX_TARGETS, items: { type: 'string', minLength: 1, maxLength: 255 }, description: "Node IDs (required when type is 'nodes'; deduplicated). An alias or an unambiguous node name is accepted too" },
    cluster_names: { type: 'array', minItems: 1, maxItems: MAX_TARGETS, items: { type: 'string', minLength: 1, maxLength: 24, pattern: NAME_PATTERN }, description: "Cluster names (required when type is 'clusters'; deduplicated)" },
    node_filters: filterSchema(nodeListSpec, 'Optional filters on the target nodes (AND with cluster_filters); the node list filters'),
    cluster_filters: filterSchema(clusterListSpec, 'Optional filters on the target clusters (AND with node_filters); the cluster list filters'),
  },
};

const fail = (field: string, message: string) => new ValidationFailed('Validation failed', { fields: [{ field: `body.targeting.${field}`, message }] });

export interface Resolved {
  /** Targeted node ids, each once, oldest node first. */
  nodeIds: string[];
  /** The targeting as stored and returned (lists deduplicated, node references resolved to ids). */
  targeting: Targeting;
  /** Set only for `clusters` targeting of exactly one cluster (CommandExecutionResponse.cluster_name). */
  clusterName: string | null;
}

const dedup = (xs: string[]) => [...new Set(xs)];

/**
 * Resolves a targeting to node ids inside the caller's transaction. 422 (naming the field) when
 * a list is missing or misplaced, a node or cluster does not exist, or a filter value is bad. A
 * targeting whose filters leave no node is valid and resolves to none.
 */
export async function resolveTargeting(db: DbOrTrx, t: Targeting): Promise<Resolved> {
  if (t.type !== 'nodes' && t.node_ids) throw fail('node_ids', "is only allowed when type is 'nodes'");
  if (t.type !== 'clusters' && t.cluster_names) throw fail('cluster_names', "is only allowed when type is 'clusters'");
  const out: Targeting = { type: t.type };
  let q = nodesWithCluster(db).select(['nodes.id as id']);
  let clusterName: string | null = null;
  if (t.type === 'nodes') {
    if (!t.node_ids?.length) throw fail('node_ids', "can't be blank when type is 'nodes'");
    const ids: string[] = [];
    const unknown: string[] = [];
    for (const ref of dedup(t.node_ids)) {
      const n = await resolveNode(db, ref);
      if (n) ids.push(n.id); else unknown.push(ref);
    }
    if (unknown.length) throw fail('node_ids', `no such node: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ` (and ${unknown.length - 10} more)` : ''}`);
    out.node_ids = dedup(ids);
    q = q.where('nodes.id', 'in', out.node_ids);
  } else if (t.type === 'clusters') {
    if (!t.cluster_names?.length) throw fail('cluster_names', "can't be blank when type is 'clusters'");
    const names = dedup(t.cluster_names);
    const found = new Set((await db.selectFrom('clusters').select('name').where('name', 'in', names).execute()).map((r) => r.name));
    const unknown = names.filter((n) => !found.has(n));
    if (unknown.length) throw fail('cluster_names', `no such cluster: ${unknown.slice(0, 10).join(', ')}`);
    out.cluster_names = names;
    if (names.length === 1) clusterName = names[0];
    q = q.where('clusters.name', 'in', names);
  }
  if (t.node_filters && Object.keys(t.node_filters).length) out.node_filters = t.node_filters;
  if (t.cluster_filters && Object.keys(t.cluster_filters).length) out.cluster_filters = t.cluster_filters;
  try {
    q = applyFilters(q, nodeListSpec, out.node_filters ?? {}, 'body.targeting.node_filters.');
    q = applyFilters(q, clusterListSpec, out.cluster_filters ?? {}, 'body.targeting.cluster_filters.');
  } catch (err) {
    // A bad filter value in a body is a validation failure (422), not a bad query (400).
    if (err instanceof CodedError && err.code === 'bad_request') throw new ValidationFailed(err.message, err.details);
    throw err;
  }
  const rows = await q.orderBy('nodes.inserted_at').orderBy('nodes.id').execute();
  return { nodeIds: dedup(rows.map((r) => r.id)), targeting: out, clusterName };
}
