// The data plane's OpenAPI document (GET /openapi.json on the agent API), built from its route specs.
import type { RouteSpec, WsRouteSpec } from '../http';
import { VERSION } from '../base/version';
import { assignOperationIds, openApiPath, requestBody, responseObject, routeParameters, tagList, wsOperation } from '../http/openapi';
import { errorBody } from '../http/error-body';

export const DATA_PLANE_TAGS: Record<string, string> = {
  system: 'Health, liveness, metrics (JSON and Prometheus) and this document',
  namespaces: 'Data-plane namespaces: list and create',
  kv: 'Key-value store: get, put (with compare-and-swap), delete, list by prefix (docs/kv.md)',
  queue: 'Work queues: enqueue, dequeue with a visibility timeout, ack, nack, dead-letter queue (docs/queue.md)',
  stream: 'Append-only streams with consumer groups and retention (docs/stream.md)',
  timeseries: 'Time series: line-protocol writes, FloQL queries, retention and rollups (docs/floql.md)',
  agent: "This node's host and agent metrics in the Edge Admin shapes",
  'agent-commands': 'Commands run on this node by its local API (the admin sends fleet commands through the tunnel)',
  'agent-ssh': "The node's SSH server: local usernames, their public keys, session recordings",
  websocket: 'Live subscriptions over one WebSocket (docs/ws.md)',
};

/** The document's `tags` list: every tag the operations use, in `order` (then the others), each with its description. */
export function buildOpenApi(routes: RouteSpec[], wsRoutes: Array<WsRouteSpec<unknown, unknown>> = []): Record<string, unknown> {
  const paths: Record<string, Record<string, Record<string, unknown>>> = {};
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
  // WebSocket routes (HttpServer.ws()): the upgrade GET, answered 101.
  for (const r of wsRoutes) {
    const op = wsOperation(r, (_status, resp) => responseObject(resp));
    if (r.auth !== 'public') (op.responses as Record<string, unknown>)['401'] ??= { description: 'missing or invalid bearer token', content: { 'application/json': { schema: errorBody } } };
    (paths[openApiPath(r)] ??= {}).get = op;
  }
  assignOperationIds(paths, routes);
  return {
    openapi: '3.1.0',
    info: { title: 'Outpost outpostd API', version: VERSION, description: 'Data plane (Flo shapes) and system routes of outpostd.' },
    servers: [{ url: 'http://127.0.0.1:44000' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'API_KEY or MASTER_KEY' } } },
    security: [{ bearer: [] }],
    tags: tagList(paths, DATA_PLANE_TAGS),
    paths,
  };
}
