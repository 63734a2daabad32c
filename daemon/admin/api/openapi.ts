// The admin API's OpenAPI 3.1 document, built from the same route specs (and schemas) that
// validate requests, with the reference's envelope and error bodies; served at /openapi.json
// on the admin port, with a Swagger UI page at /swaggerui.
import fs from 'node:fs';
import path from 'node:path';
import type { HttpServer, Req, Res, RouteSpec, WsRouteSpec } from '../../http';
import { VERSION } from '../../base/version';
import { assignOperationIds, openApiPath, requestBody, responseObject, routeParameters, tagList, wsOperation, wsSecuritySchemes } from '../../http/openapi';
import { errorSchema } from './schemas';

const ERRORS: Record<string, string> = {
  400: 'bad_request: an invalid path or query parameter; error.details maps each to its messages',
  401: 'unauthorized: missing or invalid bearer token',
  404: 'not_found',
  409: 'conflict',
  422: 'validation_failed: error.details maps each body field to its messages',
  503: 'service_unavailable: starting, draining, or the database is unreachable',
};

/** Every tag of the admin document, in the order Swagger UI shows them, with its description (test/docs.test.ts checks each used tag has one). */
export const ADMIN_TAGS: Record<string, string> = {
  'Admins.Metadata': 'This admin: identity, its admin cluster and the edge clusters it serves',
  'Admins.Metrics': "This admin's metrics: process, nodes by status, commands, tunnels, SSH, events, webhooks",
  'Nodes.Cluster': 'Clusters: named groups of nodes with an IPv4 range and an optional node_limit',
  'Nodes.EnrollmentKey': 'Enrollment keys: what an agent needs (ENROLLMENT_KEY) to join a cluster',
  'Nodes.Node': 'Enrolled nodes: list with filters, get, delete, move to another cluster',
  'Nodes.Alias': 'Aliases: extra DNS-style names of nodes, and a hosts file of them',
  'Nodes.Metrics': 'Live host and agent metrics of a node, fetched through its tunnel',
  'Commands.Command': 'Commands: shell commands targeted at nodes, clusters or all',
  'Commands.CommandExecution': 'Command executions: one per targeted node, with status, exit code and output; cancel',
  'Ssh.SshUsername': "SSH usernames managed by the admin on a node's SSH server (Argon2id password hashes)",
  'Ssh.SshPublicKey': 'Public keys of SSH usernames',
  'SelfUpdates.Request': 'Self-update requests of agents',
  'Events.Type': 'The catalog of event types (CloudEvents) webhooks can subscribe to',
  'Events.Webhook': 'Webhooks: signed CloudEvents deliveries with retries and a delivery log',
  'Agent.Tunnel': 'Agent enrollment (an enrollment key traded for a node id, its api_token and the tunnel URL) and the agent tunnel WebSocket',
  system: 'Liveness, this OpenAPI document, the AsyncAPI document of the published events, and Swagger UI',
};

export function buildAdminOpenApi(routes: RouteSpec[], serverUrl: string, wsRoutes: Array<WsRouteSpec<unknown, unknown>> = []): Record<string, unknown> {
  const paths: Record<string, Record<string, Record<string, unknown>>> = {};
  const err = (d: string) => ({ description: d, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  for (const r of routes) {
    const oaPath = openApiPath(r);
    const parameters = routeParameters(r, true);
    parameters.push({ name: 'x-request-id', in: 'header', required: false, schema: { type: 'string', maxLength: 128 }, description: 'Echoed in the x-request-id response header and meta.request_id' });
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      if (Number(status) >= 400) { responses[status] = err(ERRORS[status] ? `${resp.description} (${ERRORS[status]})` : resp.description); continue; }
      responses[status] = responseObject(resp);
    }
    if (r.params || r.query) responses['400'] ??= err(ERRORS[400]);
    if (r.body) responses['422'] ??= err(ERRORS[422]);
    if (r.auth !== 'public') responses['401'] ??= err(ERRORS[401]);
    responses['503'] ??= err(ERRORS[503]);
    (paths[oaPath] ??= {})[r.method] = {
      summary: r.summary, tags: r.tags,
      ...(parameters.length ? { parameters } : {}),
      ...requestBody(r),
      responses,
      ...(r.auth === 'public' ? { security: [] } : {}),
    };
  }
  // WebSocket routes (HttpServer.ws()): the upgrade GET, answered 101 or with the envelope's errors.
  for (const r of wsRoutes) {
    const op = wsOperation(r, (status, resp) => (status >= 400 ? err(ERRORS[status] ? `${resp.description} (${ERRORS[status]})` : resp.description) : responseObject(resp)));
    const responses = op.responses as Record<string, unknown>;
    if (r.params || r.query) responses['400'] ??= err(ERRORS[400]);
    if (r.auth !== 'public') responses['401'] ??= err(ERRORS[401]);
    responses['503'] ??= err(ERRORS[503]);
    (paths[openApiPath(r)] ??= {}).get = op;
  }
  assignOperationIds(paths, routes);
  return {
    openapi: '3.1.0',
    info: { title: 'Outpost admin (control plane) API', version: VERSION, description: 'Edge Admin shapes: {data, meta} envelope, paginated lists with meta.pagination, errors {error: {code, message, details}, meta}.' },
    servers: [{ url: serverUrl }],
    tags: tagList(paths, ADMIN_TAGS),
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'API key for REST API access (API_KEY or MASTER_KEY)' }, ...wsSecuritySchemes(wsRoutes) },
      schemas: { Error: errorSchema },
    },
    security: [{ apiKey: [] }],
    paths,
  };
}

const SWAGGER_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Outpost admin API</title>
<link rel="stylesheet" href="/swaggerui/swagger-ui.css"></head>
<body><div id="swagger-ui"><p style="font-family:sans-serif;margin:2em">Loading Swagger UI… (the document itself: <a href="/openapi.json">/openapi.json</a>)</p></div>
<script src="/swaggerui/swagger-ui-bundle.js"></script>
<script>window.onload = function () { if (window.SwaggerUIBundle) window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', persistAuthorization: true }); };</script>
</body></html>
`;

/** /openapi.json, /swaggerui and /healthz of the admin port. Register last (they describe every route). */
export function docRoutes(http: HttpServer, serverUrl: () => string): void {
  let doc: string | undefined;
  http.add({
    method: 'get', path: '/openapi.json', auth: 'public', tags: ['system'], summary: 'This OpenAPI 3.1 document (admin API)',
    responses: { 200: { description: 'OpenAPI document' } },
    handler(_req: Req, res: Res) {
      doc ??= JSON.stringify(buildAdminOpenApi(http.routes, serverUrl(), http.wsRoutes));
      res.send(200, doc);
    },
  });
  http.add({
    method: 'get', path: '/swaggerui', auth: 'public', tags: ['system'], summary: 'Swagger UI for this document',
    responses: { 200: { description: 'HTML page', contentType: 'text/html' } },
    handler(_req: Req, res: Res) { res.send(200, SWAGGER_HTML, 'text/html; charset=utf-8'); },
  });
  // Swagger UI's assets, served from the swagger-ui-dist package (no CDN: admins run offline too).
  for (const [file, type] of [['swagger-ui.css', 'text/css; charset=utf-8'], ['swagger-ui-bundle.js', 'application/javascript; charset=utf-8']] as const) {
    let body: Buffer | undefined;
    http.add({
      method: 'get', path: `/swaggerui/${file}`, auth: 'public', tags: ['system'], summary: `Swagger UI asset ${file}`,
      responses: { 200: { description: file, contentType: type.split(';')[0] } },
      handler(_req: Req, res: Res) {
        body ??= fs.readFileSync(path.join(path.dirname(require.resolve('swagger-ui-dist/package.json')), file));
        res.send(200, body, type);
      },
    });
  }
  http.add({
    method: 'get', path: '/healthz', auth: 'public', always: true, tags: ['system'], summary: 'Liveness of the admin API: 200 ok when serving, 503 otherwise',
    responses: { 200: { description: 'ok', contentType: 'text/plain' }, 503: { description: 'not serving', contentType: 'text/plain' } },
    handler(_req: Req, res: Res) {
      const up = http.state === 'ready';
      res.send(up ? 200 : 503, up ? 'ok\n' : `${http.state}\n`, 'text/plain');
    },
  });
}
