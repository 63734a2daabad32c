// Nodes.Alias routes: create for a node, list, get, delete, and a hosts-file export
// (GET /api/v1/aliases/hosts, text/plain) for an existing DNS server (dnsmasq, CoreDNS hosts).
import { deleteRoute, listRoute } from '../api/routes';
import { Conflict } from '../../base/errors';
import type { HttpServer, Req, Res } from '../../http';
import { type AdminCtx } from '../api/context';
import { vpnDomain } from '../store/naming';
import type { DbOrTrx } from '../store/db';
import { getNode } from '../store/nodes';
import type { AliasRow } from '../store/schema';
import { iso, isForeignKeyViolation, isUniqueViolation, newId } from '../store/util';
import { notFound, ok } from '../api/envelope';
import type { ListSpec } from '../api/list';
import { aliasSchema, NAME_PATTERN, nodeIdParam, single, UUID_PATTERN, uuidParam } from '../api/schemas';

const TAGS = ['Nodes.Alias'];

export const aliasListSpec: ListSpec = {
  filters: {
    name: { kind: 'text', expr: 'aliases.name', description: 'Filter by alias name (exact match or wildcard)' },
    cluster_name: { kind: 'text', expr: 'clusters.name', description: 'Filter by cluster name (exact match or wildcard)' },
    node_id: { kind: 'exact', expr: 'aliases.node_id', pattern: UUID_PATTERN, description: 'Filter by node ID (UUID)' },
    inserted_at: { kind: 'date', expr: 'aliases.inserted_at' },
    updated_at: { kind: 'date', expr: 'aliases.updated_at' },
  },
  sort: { name: 'aliases.name', cluster_name: 'clusters.name', node_id: 'aliases.node_id', inserted_at: 'aliases.inserted_at', updated_at: 'aliases.updated_at', id: 'aliases.id' },
  defaultSort: [['name', 'asc']],
  id: 'aliases.id',
};

type AliasWithCluster = AliasRow & { cluster_name: string };

const withCluster = (db: DbOrTrx) => db.selectFrom('aliases').innerJoin('nodes', 'nodes.id', 'aliases.node_id').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id');

export function aliasView(a: AliasWithCluster): Record<string, unknown> {
  return { id: a.id, name: a.name, node_id: a.node_id, cluster_name: a.cluster_name, vpn_hostname: `${a.name}.${vpnDomain(a.cluster_name)}`, inserted_at: a.inserted_at, updated_at: a.updated_at };
}

/** The hosts file: one line per node name and per alias of nodes with a known address. */
export async function hostsFile(db: DbOrTrx, now = new Date()): Promise<string> {
  const nodes = await db.selectFrom('nodes').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id')
    .select(['nodes.id', 'nodes.node_name', 'nodes.ip_address', 'clusters.name as cluster_name']).orderBy('clusters.name').orderBy('nodes.node_name').orderBy('nodes.id').execute();
  const aliases = await db.selectFrom('aliases').select(['name', 'node_id']).orderBy('name').execute();
  const byNode = new Map<string, string[]>();
  for (const a of aliases) byNode.set(a.node_id, [...(byNode.get(a.node_id) ?? []), a.name]);
  const lines = [`# Outpost node names and aliases, generated ${now.toISOString()}`, '# <address> <fqdn> <short name>'];
  const missing: string[] = [];
  for (const n of nodes) {
    const names = [n.node_name, ...(byNode.get(n.id) ?? [])];
    if (!n.ip_address) { missing.push(`${names.join(', ')} (node ${n.id})`); continue; }
    for (const name of names) lines.push(`${n.ip_address}\t${name}.${vpnDomain(n.cluster_name)}\t${name}`);
  }
  if (missing.length) lines.push(`# no address reported yet: ${missing.join('; ')}`);
  return lines.join('\n') + '\n';
}

export function aliasRoutes(http: HttpServer, ctx: AdminCtx): void {
  const { db } = ctx;
  const get = async (id: string) => {
    const a = await withCluster(db).selectAll('aliases').select('clusters.name as cluster_name').where('aliases.id', '=', id).executeTakeFirst();
    if (!a) throw notFound('alias', id);
    return a;
  };

  http.add({
    method: 'post', path: '/api/v1/nodes/:node_id/aliases', auth: 'api', tags: TAGS,
    summary: 'Create an alias for a node (unique across the fleet; resolves wherever the admin resolves a node)',
    params: { type: 'object', required: ['node_id'], properties: { node_id: nodeIdParam } },
    body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 63, pattern: NAME_PATTERN, description: 'Alias name (lowercase alphanumeric with hyphens)' } } },
    responses: { 201: { description: 'created', schema: single(aliasSchema) }, 404: { description: 'no such node' }, 409: { description: 'alias taken' }, 422: { description: 'validation failed' } },
    async handler(req: Req, res: Res) {
      const node = await getNode(db, req.params.node_id);
      if (!node) throw notFound('node', req.params.node_id);
      const name = (req.body as { name: string }).name;
      const at = iso();
      const row: AliasRow = { id: newId(), node_id: node.id, name, inserted_at: at, updated_at: at };
      try {
        await db.insertInto('aliases').values(row).execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new Conflict(`alias '${name}' already exists`, { fields: [{ field: 'name', message: 'has already been taken' }] });
        if (isForeignKeyViolation(err)) throw notFound('node', node.id); // deleted meanwhile
        throw err;
      }
      ok(req, res, aliasView({ ...row, cluster_name: node.cluster_name }), 201);
    },
  });

  listRoute<AliasWithCluster>(http, {
    path: '/api/v1/aliases', tags: TAGS, summary: 'List aliases (paginated, filtered, sorted)', what: 'aliases', schema: aliasSchema, spec: aliasListSpec,
    base: () => withCluster(db), select: (q) => q.selectAll('aliases').select('clusters.name as cluster_name'), view: aliasView,
  });

  http.add({
    method: 'get', path: '/api/v1/aliases/hosts', auth: 'api', tags: TAGS,
    summary: 'Node names and aliases as a hosts file (text/plain) for an existing DNS server',
    responses: { 200: { description: 'hosts file', contentType: 'text/plain' } },
    async handler(_req: Req, res: Res) { res.send(200, await hostsFile(db), 'text/plain; charset=utf-8'); },
  });

  const params = { type: 'object', required: ['id'], properties: { id: uuidParam } };
  http.add({
    method: 'get', path: '/api/v1/aliases/:id', auth: 'api', tags: TAGS, summary: 'Get an alias', params,
    responses: { 200: { description: 'the alias', schema: single(aliasSchema) }, 404: { description: 'no such alias' } },
    async handler(req: Req, res: Res) { ok(req, res, aliasView(await get(req.params.id))); },
  });

  deleteRoute(http, {
    path: '/api/v1/aliases/:id', tags: TAGS, summary: 'Delete an alias', params, what: 'alias',
    remove: async (id) => Number((await db.deleteFrom('aliases').where('id', '=', id).executeTakeFirst()).numDeletedRows) > 0,
  });
}
