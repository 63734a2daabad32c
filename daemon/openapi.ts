// Builds the OpenAPI 3 document from the same route specs (and schemas) that validate requests.
import type { RouteSpec } from './http';
import { VERSION } from './version';
import { errorBody } from './routes/schemas';

// ---- pieces shared with the admin API's document (daemon/admin/api/openapi.ts) ----

/** `/api/v1/kv/:namespace/:key` → `/api/v1/kv/{namespace}/{key}`. */
export const openApiPath = (r: RouteSpec): string => r.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

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

export function buildOpenApi(routes: RouteSpec[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const oaPath = openApiPath(r);
    const parameters = routeParameters(r);
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) responses[status] = responseObject(resp);
    if (r.params || r.query || r.body) responses['400'] ??= { description: 'invalid input; details.fields names each field at fault', content: { 'application/json': { schema: errorBody } } };
    if (r.auth !== 'public') responses['401'] ??= { description: 'missing or invalid bearer token', content: { 'application/json': { schema: errorBody } } };
    (paths[oaPath] ??= {})[r.method] = {
      summary: r.summary,
      tags: r.tags,
      ...(parameters.length ? { parameters } : {}),
      ...requestBody(r),
      responses,
      ...(r.auth === 'public' ? { security: [] } : {}),
    };
  }
  // The WebSocket endpoint is a uWS ws route, not an HttpServer route: described here by hand.
  paths['/api/v1/ws'] = {
    get: {
      summary: 'Upgrade to a WebSocket for live subscriptions (stream tail, KV watch, queue push with credits, time-series points, command output); JSON text frames, see docs/ws.md',
      tags: ['websocket'],
      parameters: [{ name: 'token', in: 'query', required: false, schema: { type: 'string' }, description: 'bearer token for clients that cannot set headers' }],
      responses: { 101: { description: 'switching protocols' }, 401: { description: 'missing or invalid bearer token', content: { 'application/json': { schema: errorBody } } }, 503: { description: 'not serving' } },
    },
  };
  return {
    openapi: '3.1.0',
    info: { title: 'Outpost outpostd API', version: VERSION, description: 'Data plane (Flo shapes) and system routes of outpostd.' },
    servers: [{ url: 'http://127.0.0.1:44000' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API_KEY or MASTER_KEY' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
