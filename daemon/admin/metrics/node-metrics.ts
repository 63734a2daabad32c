// Nodes.Metrics routes: host, agent and unified metrics fetched live from the node through its
// tunnel (the agent answers from its AgentMetricsService). Shapes as the reference: host is the
// bare HostMetricsResponse, agent is {data} (+ meta), unified is {data, meta} with each part
// marked available or not (best effort: a part that fails does not fail the other). host and
// agent answer 503 service_unavailable when the node cannot be asked or does not answer.
import { Unavailable } from '../../base/errors';
import type { HttpServer, Req, Res } from '../../http';
import { agentMetricsSchema, hostMetricsSchema, unifiedMetricsSchema } from '../../tunnel/metrics-schemas';
import type { AdminCtx } from '../api/context';
import { resolveNode, type NodeWithCluster } from '../store/nodes';
import type { MetricsOutcome } from '../api/context';
import { notFound, ok } from '../api/envelope';
import { single } from '../api/schemas';

const TAGS = ['Nodes.Metrics'];
const AGENT_SECTIONS = ['application', 'commands', 'discovery', 'health_check', 'oban_queues', 'proxy', 'ssh', 'vpn'] as const;
const HOST_SECTIONS = ['cpu', 'memory', 'disk', 'uptime'] as const;

/** Counters of the live metric requests this admin made (Admins.Metrics gateways.scrapes_total). */
export interface NodeMetricsCounters { requests_total: number; failures_total: number }

type Obj = Record<string, unknown>;

export function nodeMetricsRoutes(http: HttpServer, ctx: AdminCtx): NodeMetricsCounters {
  const counters: NodeMetricsCounters = { requests_total: 0, failures_total: 0 };
  const params = { type: 'object', required: ['node_id'], properties: { node_id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Node ID, alias or node name' } } };

  const node = async (target: string): Promise<NodeWithCluster> => {
    const n = await resolveNode(ctx.db, target);
    if (!n) throw notFound('node', target);
    return n;
  };

  /** One live request; never throws. */
  const fetch = async (n: NodeWithCluster, kind: 'host' | 'agent'): Promise<MetricsOutcome> => {
    const hub = ctx.hub;
    if (!hub) return { ok: false, reason: 'the agent tunnel is not serving on this admin' };
    if (!hub.isConnected(n.id)) return { ok: false, reason: `node ${n.id} is not connected (status ${n.status})` };
    counters.requests_total++;
    const r = await hub.requestMetrics(n.id, kind);
    if (!r.ok) counters.failures_total++;
    else if (!r.data || typeof r.data !== 'object') { counters.failures_total++; return { ok: false, reason: 'the agent sent no metrics object' }; }
    return r;
  };

  const unavailable = (n: NodeWithCluster, kind: string, reason: string) =>
    new Unavailable(`${kind} metrics of node ${n.id} are unavailable: ${reason}`, { node_id: n.id, reason });

  /** The node's identity as the admin knows it (the agent may not know its cluster). */
  const ident = (n: NodeWithCluster, data: Obj) => ({ node_id: n.id, cluster_name: n.cluster_name, timestamp: typeof data.timestamp === 'string' ? data.timestamp : new Date().toISOString() });

  http.add({
    method: 'get', path: '/api/v1/nodes/:node_id/metrics', auth: 'api', tags: TAGS, params,
    summary: 'Unified metrics of a node (host and agent), fetched live through its tunnel; a source that fails is marked unavailable, the other is still returned',
    responses: { 200: { description: 'unified metrics', schema: single(unifiedMetricsSchema) }, 404: { description: 'no such node' } },
    async handler(req: Req, res: Res) {
      const n = await node(req.params.node_id);
      const [h, a] = await Promise.all([fetch(n, 'host'), fetch(n, 'agent')]);
      const hd = h.ok ? h.data as Obj : {};
      const ad = a.ok ? a.data as Obj : {};
      const host: Obj = { available: h.ok };
      for (const k of HOST_SECTIONS) host[k] = h.ok ? hd[k] ?? null : null;
      if (!h.ok) host.unavailable_reason = h.reason;
      const agent: Obj = { available: a.ok };
      for (const k of AGENT_SECTIONS) agent[k] = a.ok ? ad[k] ?? null : null;
      if (!a.ok) agent.unavailable_reason = a.reason;
      ok(req, res, { ...ident(n, h.ok ? hd : ad), host, agent });
    },
  });

  http.add({
    method: 'get', path: '/api/v1/nodes/:node_id/metrics/host', auth: 'api', tags: TAGS, params,
    summary: 'Host metrics of a node (CPU, memory, disk, uptime), fetched live through its tunnel; the bare HostMetricsResponse of the reference',
    responses: { 200: { description: 'host metrics', schema: hostMetricsSchema }, 404: { description: 'no such node' }, 503: { description: 'the node is unreachable (tunnel down) or did not answer' } },
    async handler(req: Req, res: Res) {
      const n = await node(req.params.node_id);
      const r = await fetch(n, 'host');
      if (!r.ok) throw unavailable(n, 'host', r.reason);
      const d = r.data as Obj;
      res.json(200, { ...d, ...ident(n, d) });
    },
  });

  http.add({
    method: 'get', path: '/api/v1/nodes/:node_id/metrics/agent', auth: 'api', tags: TAGS, params,
    summary: 'Agent metrics of a node (application, commands, proxy, SSH…), fetched live through its tunnel',
    responses: { 200: { description: 'agent metrics', schema: single(agentMetricsSchema) }, 404: { description: 'no such node' }, 503: { description: 'the node is unreachable (tunnel down) or did not answer' } },
    async handler(req: Req, res: Res) {
      const n = await node(req.params.node_id);
      const r = await fetch(n, 'agent');
      if (!r.ok) throw unavailable(n, 'agent', r.reason);
      const d = r.data as Obj;
      ok(req, res, { ...d, ...ident(n, d) });
    },
  });

  return counters;
}
