// Health, liveness, metrics and the OpenAPI document.
import type { DataPlane } from '../../core';
import type { NativeReport } from '../../native';
import type { HttpServer, Req, Res } from '../http';
import type { Metrics } from './metrics';
import { buildOpenApi } from './openapi';
import { VERSION } from '../base/version';
import { PROM_CONTENT_TYPE } from '../metrics';

export function systemRoutes(server: HttpServer, dp: DataPlane, metrics: Metrics, native: NativeReport, startedAt: number, sshHostKeys: () => Array<{ type: string; fingerprint: string }> | undefined = () => undefined, nodeId: () => string = () => dp.nodeId): void {
  server.add({
    method: 'get', path: '/api/v1/health', auth: 'public', always: true, tags: ['system'],
    summary: 'Server health, version and native backends (no key needed)',
    responses: {
      200: { description: 'healthy', schema: { type: 'object', properties: { status: { type: 'string' }, version: { type: 'string' }, uptime_seconds: { type: 'integer' }, shard_count: { type: 'integer' }, node_id: { type: 'string', description: 'this host\'s node id: the fleet\'s once the agent is enrolled, else the data plane\'s own' }, backends: { type: 'object' }, warnings: { type: 'array', items: { type: 'string' } }, ssh_host_keys: { type: 'array', description: 'SHA256 fingerprints of the SSH server\'s host keys (absent when SSH is off)', items: { type: 'object', properties: { type: { type: 'string' }, fingerprint: { type: 'string' } } } } } } },
      503: { description: 'starting or draining (same body, status says which)' },
    },
    handler(_req: Req, res: Res) {
      const status = server.state === 'ready' ? 'healthy' : server.state;
      res.json(status === 'healthy' ? 200 : 503, {
        status,
        version: VERSION,
        uptime_seconds: Math.floor((Date.now() - startedAt) / 1000),
        shard_count: dp.kv.partitionCount,
        node_id: nodeId(),
        backends: { uws: native.uws, lmdb: native.lmdb },
        warnings: native.warnings,
        ssh_host_keys: sshHostKeys(),
      });
    },
  });
  server.add({
    method: 'get', path: '/healthz', auth: 'public', always: true, tags: ['system'],
    summary: 'Liveness probe: 200 ok when serving, 503 while starting or draining',
    responses: { 200: { description: 'ok', contentType: 'text/plain' }, 503: { description: 'not serving', contentType: 'text/plain' } },
    handler(_req: Req, res: Res) {
      const ok = server.state === 'ready';
      res.send(ok ? 200 : 503, ok ? 'ok\n' : `${server.state}\n`, 'text/plain');
    },
  });
  server.add({
    method: 'get', path: '/api/v1/metrics', auth: 'api', tags: ['system'],
    summary: 'Aggregated metrics (JSON)',
    responses: { 200: { description: 'metrics', schema: { type: 'object', properties: { ops_total: { type: 'integer' }, ops_per_second: { type: 'integer' }, connections_active: { type: 'integer' }, memory_used_bytes: { type: 'integer' }, shards: { type: 'array' } } } } },
    handler(_req: Req, res: Res) { res.json(200, metrics.json()); },
  });
  server.add({
    method: 'get', path: '/metrics', auth: 'metrics', tags: ['system'],
    operationId: 'getPrometheusMetrics', // GET /api/v1/metrics (JSON) is getMetrics
    summary: 'Prometheus metrics (text exposition format 0.0.4): build info, process, HTTP request durations, data plane, host (outpost_host_*) and agent (outpost_agent_*); METRICS_KEY, API_KEY or MASTER_KEY',
    responses: { 200: { description: 'metrics', contentType: 'text/plain; version=0.0.4' }, 403: { description: 'a token that does not open this route' } },
    async handler(_req: Req, res: Res) { res.send(200, await metrics.prometheus(), PROM_CONTENT_TYPE); },
  });
  let doc: string | undefined;
  server.add({
    // Needs the key like every route but the two health probes (README, "Security defaults"):
    // the data plane has no browser UI that would have to fetch it without one.
    method: 'get', path: '/openapi.json', auth: 'api', tags: ['system'],
    summary: 'This OpenAPI 3 document (needs the key when one is set)',
    responses: { 200: { description: 'OpenAPI 3.1 document' } },
    handler(_req: Req, res: Res) {
      doc ??= JSON.stringify(buildOpenApi(server.routes, server.wsRoutes));
      res.send(200, doc);
    },
  });
}
