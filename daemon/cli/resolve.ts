// What an operator types for a node (its id, an alias or its name) to the node, in one place, so
// every command that takes a node accepts the same three forms in the same order as the admin's
// own resolver (daemon/admin/store/nodes.ts resolveNode): ids win, then aliases, then an
// unambiguous node name. The admin routes that take `:id` want the id, so the CLI resolves first.
import type { AdminClient } from './admin-client';
import { ApiError } from './client';
import { CliError, EXIT } from './errors';

export interface NodeRow {
  id: string;
  node_name: string;
  cluster_name: string;
  status: string;
  [k: string]: unknown;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Aliases and node names; a `*` would be a wildcard in the list filters, so it is refused. */
const REF_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

/** The admin's status for a node without a tunnel ("offline"; "unreachable" in the reference's words). */
export function isOffline(status: string | undefined): boolean {
  return status === 'offline' || status === 'unreachable';
}

async function byId(client: AdminClient, id: string): Promise<NodeRow | undefined> {
  try {
    return (await client.call<NodeRow>('GET', `api/v1/nodes/${encodeURIComponent(id)}`)).data;
  } catch (err) {
    if (err instanceof ApiError && (err.status === 404 || err.status === 400)) return undefined;
    throw err;
  }
}

/** Resolves an id, alias or node name to the node; exit 1 naming what was tried when none (or several) match. */
export async function resolveNode(client: AdminClient, ref: string): Promise<NodeRow> {
  if (!REF_RE.test(ref)) throw new CliError(`${JSON.stringify(ref)} is not a node id, alias or name (letters, digits, . _ -)`, EXIT.USAGE);
  if (UUID_RE.test(ref)) {
    const n = await byId(client, ref.toLowerCase());
    if (n) return n;
  }
  const aliases = await client.all<{ node_id: string }>('api/v1/aliases', { name: ref.toLowerCase() }, 1);
  if (aliases.length) {
    const n = await byId(client, aliases[0].node_id);
    if (n) return n;
  }
  const named = await client.all<NodeRow>('api/v1/nodes', { node_name: ref }, 2);
  if (named.length === 1) return named[0];
  if (named.length > 1) {
    const all = await client.all<NodeRow>('api/v1/nodes', { node_name: ref });
    throw new CliError(`node name ${ref} is ambiguous (${all.map((n) => `${n.id} in ${n.cluster_name}`).join(', ')}): use the id or an alias`);
  }
  throw new CliError(`no node with the id, alias or name ${ref}`);
}

/** Resolves each reference (comma lists allowed), each node once, in the order given. */
export async function resolveNodes(client: AdminClient, refs: string[]): Promise<NodeRow[]> {
  const out = new Map<string, NodeRow>();
  for (const ref of refs) {
    const n = await resolveNode(client, ref);
    if (!out.has(n.id)) out.set(n.id, n);
  }
  return [...out.values()];
}

/**
 * Display names for nodes: the node name, or `name (id prefix)` where two nodes share a name,
 * so the per-node headers of `outpost run` tell nodes apart without showing UUIDs.
 */
export function displayNames(nodes: Iterable<NodeRow>): Map<string, string> {
  const list = [...nodes];
  const count = new Map<string, number>();
  for (const n of list) count.set(n.node_name, (count.get(n.node_name) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const n of list) out.set(n.id, !n.node_name ? n.id : count.get(n.node_name)! > 1 ? `${n.node_name} (${n.id.slice(0, 8)})` : n.node_name);
  return out;
}
