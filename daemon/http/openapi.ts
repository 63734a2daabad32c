// OpenAPI pieces every document shares (operationIds, paths, parameters, bodies, tags), built from
// the same route specs (and schemas) that validate requests.
import type { RouteSpec } from './server';
import type { WsRouteSpec } from './ws';

// ---- pieces shared with the admin API's document (daemon/admin/api/openapi.ts) ----

const pascal = (s: string): string => s.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0].toUpperCase() + w.slice(1)).join('');
/** `clusters` → `cluster`, `aliases` → `alias`, `kv` → `kv`. */
const singular = (s: string): string => (s.length < 4 ? s : /(alias|status)es$/.test(s) ? s.slice(0, -2) : /[^s]s$/.test(s) ? s.slice(0, -1) : s);
/** Last segments that name a resource without being a list of it. */
const NOT_A_COLLECTION = new Set(['metrics', 'stats', 'info', 'retention', 'hosts']);
const ITEM_VERBS: Record<string, string> = { get: 'get', put: 'put', patch: 'update', delete: 'delete', post: 'create' };

/**
 * The operationId of a route: its own `operationId`, else derived from method and path so that
 * client generators get readable, stable names: `GET /api/v1/clusters` → listClusters,
 * `GET /api/v1/clusters/:name` → getCluster, `POST /api/v1/clusters` → createCluster,
 * `DELETE /api/v1/nodes/:id` → deleteNode, `PATCH /api/v1/nodes/:id/change_cluster` →
 * changeClusterNode, `POST /api/v1/queue/:namespace/:queue/enqueue` → enqueueQueue.
 * Path segments followed by a parameter are singular (`/stream/:ns/:stream/groups/:group` → StreamGroup);
 * a second parameter at the end names the item (`GET /api/v1/kv/:namespace/:key` → getKvKey).
 */
export function operationIdOf(r: Pick<RouteSpec, 'method' | 'path' | 'operationId'>): string {
  if (r.operationId) return r.operationId;
  const segs = r.path.replace(/^\/api\/v1(?=\/|$)/, '').split('/').filter(Boolean);
  const words: string[] = [];
  segs.forEach((s, i) => { if (!s.startsWith(':')) words.push(segs[i + 1]?.startsWith(':') ? singular(s) : s); });
  // Two parameters at the end name an item inside a scope: /kv/:namespace/:key → KvKey.
  const n = segs.length;
  if (n >= 3 && segs[n - 1].startsWith(':') && segs[n - 2].startsWith(':') && segs[n - 1].slice(1) !== words[words.length - 1]) words.push(segs[n - 1].slice(1));
  if (!words.length) words.push('root');
  const last = words[words.length - 1];
  const endsWithParam = segs.length > 0 && segs[segs.length - 1].startsWith(':');
  const collection = !endsWithParam && /^[a-z_]{4,}s$/.test(last) && !NOT_A_COLLECTION.has(last); // not `ts`, not `x.css`
  if (endsWithParam) return ITEM_VERBS[r.method] + pascal(words.join('_'));
  if (collection) {
    if (r.method === 'get') return 'list' + pascal(words.join('_'));
    if (r.method === 'post') return 'create' + pascal([...words.slice(0, -1), singular(last)].join('_'));
    return ITEM_VERBS[r.method] + pascal(words.join('_'));
  }
  // POST/PATCH to a verb-like last segment (enqueue, cancel, change_cluster): that segment is the verb.
  if ((r.method === 'post' || r.method === 'patch') && words.length > 1) {
    const verb = pascal(last);
    return verb[0].toLowerCase() + verb.slice(1) + pascal(words.slice(0, -1).join('_'));
  }
  return ITEM_VERBS[r.method] + pascal(words.join('_'));
}

/**
 * Sets `operationId` on every operation of a built `paths` object (from `routes`, plus the
 * hand-written ones that already have one) and checks they are unique in the document: a clash
 * is a bug of the route table, so building the document throws, naming both operations.
 */
export function assignOperationIds(paths: Record<string, Record<string, Record<string, unknown>>>, routes: RouteSpec[]): void {
  for (const r of routes) {
    const op = paths[openApiPath(r)]?.[r.method];
    if (op) op.operationId = operationIdOf(r);
  }
  const seen = new Map<string, string>();
  for (const [p, ops] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const id = op.operationId as string | undefined;
      const where = `${method.toUpperCase()} ${p}`;
      if (!id) throw new Error(`OpenAPI: ${where} has no operationId`);
      const other = seen.get(id);
      if (other) throw new Error(`OpenAPI: operationId ${id} of ${where} is also the one of ${other}; give one of the routes an explicit operationId`);
      seen.set(id, where);
    }
  }
}

/** Descriptions of the data plane's tags (every tag a route uses needs one; test/docs.test.ts checks). */
export function tagList(paths: Record<string, Record<string, Record<string, unknown>>>, descriptions: Record<string, string>, order: string[] = Object.keys(descriptions)): Array<{ name: string; description?: string }> {
  const used = new Set<string>();
  for (const ops of Object.values(paths)) for (const op of Object.values(ops)) for (const t of (op.tags as string[] | undefined) ?? []) used.add(t);
  const names = [...order.filter((t) => used.has(t)), ...[...used].filter((t) => !order.includes(t)).sort()];
  return names.map((name) => (Object.prototype.hasOwnProperty.call(descriptions, name) ? { name, description: descriptions[name] } : { name }));
}

/** `/api/v1/kv/:namespace/:key` → `/api/v1/kv/{namespace}/{key}`. */
export const openApiPath = (r: Pick<RouteSpec, 'path'>): string => r.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

/** Path and query parameters from the route's params/query schemas (query descriptions optional). */
export function routeParameters(r: RouteSpec, queryDescriptions = false): unknown[] {
  const parameters: unknown[] = [];
  for (const [name, schema] of Object.entries((r.params?.properties ?? {}) as Record<string, Record<string, unknown>>)) parameters.push({ name, in: 'path', required: true, schema });
  for (const [name, schema] of Object.entries((r.query?.properties ?? {}) as Record<string, Record<string, unknown>>)) {
    parameters.push({ name, in: 'query', required: false, schema, ...(queryDescriptions && schema.description ? { description: schema.description } : {}) });
  }
  return parameters;
}

/** The request body: the JSON schema that validates it, or text for raw-body routes (line protocol). */
export function requestBody(r: RouteSpec): Record<string, unknown> {
  if (r.body) return { requestBody: { required: true, content: { 'application/json': { schema: r.body } } } };
  if (r.rawBody) return { requestBody: { required: true, content: { 'text/plain': { schema: { type: 'string' } } } } };
  return {};
}

/** A documented response as OpenAPI has it (content only when there is a schema or a type). */
export function responseObject(resp: RouteSpec['responses'][number]): Record<string, unknown> {
  return { description: resp.description, ...(resp.schema || resp.contentType ? { content: { [resp.contentType ?? 'application/json']: resp.schema ? { schema: resp.schema } : {} } } : {}) };
}


/**
 * The operation of a WebSocket route (HttpServer.ws()): a GET answered 101, its path and query
 * parameters (descriptions beside the schema), the route's documented answers through `response`
 * (each document frames errors its own way), and its security: none for a public route, its own
 * bearer scheme (wsSecuritySchemes) for a route with an authenticator.
 */
export function wsOperation(r: WsRouteSpec<unknown, unknown>, response: (status: number, resp: RouteSpec['responses'][number]) => unknown): Record<string, unknown> {
  const parameters: unknown[] = [];
  for (const [name, schema] of Object.entries((r.params?.properties ?? {}) as Record<string, Record<string, unknown>>)) parameters.push({ name, in: 'path', required: true, schema });
  for (const [name, { description, ...schema }] of Object.entries((r.query?.properties ?? {}) as Record<string, Record<string, unknown>>)) {
    parameters.push({ name, in: 'query', required: false, schema, ...(description ? { description } : {}) });
  }
  const responses: Record<string, unknown> = {};
  if (!r.responses[101]) responses['101'] = { description: 'switching protocols' };
  for (const [status, resp] of Object.entries(r.responses)) responses[status] = response(Number(status), resp);
  return {
    operationId: operationIdOf({ method: 'get', path: r.path, operationId: r.operationId }),
    summary: r.summary,
    tags: r.tags,
    ...(parameters.length ? { parameters } : {}),
    responses,
    ...(r.auth === 'public' ? { security: [] } : typeof r.auth === 'object' ? { security: [{ [r.auth.scheme]: [] }] } : {}),
  };
}

/** The bearer security schemes of WebSocket routes with an authenticator of their own. */
export function wsSecuritySchemes(routes: Array<WsRouteSpec<unknown, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of routes) if (typeof r.auth === 'object') out[r.auth.scheme] = { type: 'http', scheme: 'bearer', description: r.auth.description };
  return out;
}
