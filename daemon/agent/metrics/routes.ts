// Agent metrics routes: host, agent and unified views in the Edge Admin reference's shapes, as
// bare JSON like every route of the agent's local API (the control plane adds {data, meta}).
import type { HttpServer, Req, Res } from '../../http';
import type { AgentMetricsService } from './';
import { agentMetricsSchema, hostMetricsSchema, unifiedMetricsSchema } from '../../tunnel/metrics-schemas';

export function agentMetricsRoutes(server: HttpServer, metrics: AgentMetricsService): void {
  server.add({
    method: 'get', path: '/api/v1/agent/metrics', auth: 'api', tags: ['agent'],
    summary: 'Agent metrics (AgentMetricsResponse data): application uptime and memory, commands, proxy and SSH counters',
    responses: { 200: { description: 'agent metrics', schema: agentMetricsSchema } },
    handler(_req: Req, res: Res) { res.json(200, metrics.agent()); },
  });
  server.add({
    method: 'get', path: '/api/v1/agent/metrics/host', auth: 'api', tags: ['agent'],
    summary: 'Host metrics (HostMetricsResponse): CPU cores, load and usage, memory, root disk, uptime; sampled in the background every 5 s',
    responses: { 200: { description: 'host metrics', schema: hostMetricsSchema } },
    async handler(_req: Req, res: Res) { res.json(200, await metrics.host()); },
  });
  server.add({
    method: 'get', path: '/api/v1/agent/metrics/unified', auth: 'api', tags: ['agent'],
    summary: 'Host and agent metrics in one body (UnifiedMetricsResponse data); a part that cannot be read is marked unavailable',
    responses: { 200: { description: 'unified metrics', schema: unifiedMetricsSchema } },
    async handler(_req: Req, res: Res) { res.json(200, await metrics.unified()); },
  });
}
