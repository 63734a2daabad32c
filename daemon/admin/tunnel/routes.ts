// POST /api/v1/agent/enroll: an agent trades its enrollment key's secret for a node id and an
// api_token (one key use, consumed atomically by the backend), and learns where its tunnel is.
// tunnelRoutes() registers this route and the tunnel's WebSocket endpoint on an HttpServer.
import { FailureLimiter } from '../../security/rate-limit';
import { randomUUID } from 'node:crypto';
import { BadRequest, CodedError, Overloaded } from '../../base/errors';
import type { HttpServer, Req, Res } from '../../http';
import { type TunnelBackend } from './backend';
import { decodeKeyBlob, ENROLL_REFUSALS, EnrollError, tunnelUrlOf, type EnrollRequest } from '../../tunnel/enrollment';
import { TunnelHub, type TunnelHubOptions } from './hub';

const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
const port = { type: 'integer', minimum: 0, maximum: 65535 };

export interface TunnelRoutesOptions extends Omit<TunnelHubOptions, 'http' | 'backend'> {
  /** Base URL agents reach this admin at (admin.public_url); default: from the request's Host. */
  publicUrl?: string;
  /** Unknown enrollment keys allowed per source address per minute before it gets 429 (default 10). */
  enrollFailuresPerMinute?: number;
}

/** Registers the enrollment route and the tunnel endpoint (before http.finish()); returns the hub. */
export function tunnelRoutes(http: HttpServer, backend: TunnelBackend, opts: TunnelRoutesOptions): TunnelHub {
  const hub = new TunnelHub({ ...opts, http, backend });
  // Guessing keys: unknown ones count against the source address; past the budget it is refused
  // before the store is asked.
  const limiter = new FailureLimiter(opts.enrollFailuresPerMinute ?? 10);
  http.add({
    method: 'post', path: '/api/v1/agent/enroll', auth: 'public', tags: ['Agent.Tunnel'], remoteAddress: true,
    summary: 'Enroll an agent with an enrollment key (consumes one use); returns its node id, api_token and tunnel URL',
    headers: ['host', 'x-request-id', 'authorization'],
    body: {
      type: 'object', required: ['enrollment_key', 'node_id'], additionalProperties: false,
      properties: {
        enrollment_key: { type: 'string', minLength: 16, maxLength: 4096, description: 'the key blob, or only its secret' },
        node_id: { type: 'string', pattern: UUID, description: 'the node id the agent chose (from /etc/machine-id, or random)' },
        id_type: { type: 'string', enum: ['persistent', 'random'], default: 'random' },
        name: { type: 'string', minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' },
        host_name: { type: 'string', maxLength: 255 },
        agent_version: { type: 'string', maxLength: 64 },
        os: { type: 'string', maxLength: 64 },
        arch: { type: 'string', maxLength: 32 },
        ports: { type: 'object', additionalProperties: false, properties: { ssh_port: port, http_port: port, http_proxy_port: port, socks5_proxy_port: port } },
      },
    },
    responses: {
      201: {
        description: 'enrolled. A node_id that is already enrolled is re-registered in place (new api_token, the old one revoked) only when the request proves it holds '
          + 'that node: `Authorization: Bearer <its current api_token>` and a key of its own cluster; otherwise the agent is enrolled as a new node with a new node_id '
          + '(and requested_node_id), and the named node is left untouched',
        schema: {
          type: 'object',
          properties: {
            data: {
              type: 'object',
              properties: {
                node_id: { type: 'string' }, api_token: { type: 'string' }, cluster_name: { type: 'string' },
                tunnel_url: { type: 'string' }, heartbeat_interval_ms: { type: 'integer' },
                reregistered: { type: 'boolean', description: 'the requested node_id was enrolled and proven: re-registered in place' },
                requested_node_id: { type: 'string', description: 'present when the requested node_id was taken and not proven: node_id is a new id' },
              },
            },
            meta: { type: 'object', properties: { request_id: { type: 'string' }, timestamp: { type: 'string' } } },
          },
        },
      },
      400: { description: 'a field is invalid' },
      401: { description: 'the enrollment key is unknown' },
      403: { description: 'the enrollment key is expired or used up' },
      409: { description: 'the cluster is full, or the node id is taken' },
      429: { description: 'too many unknown enrollment keys from this address in the last minute' },
    },
    async handler(req: Req, res: Res) {
      const b = req.body as { enrollment_key: string; node_id: string; id_type?: 'persistent' | 'random'; name?: string; host_name?: string; agent_version?: string; os?: string; arch?: string; ports?: EnrollRequest['ports'] };
      const ip = req.remoteAddress ?? '';
      if (limiter.blocked(ip)) throw new Overloaded('too many unknown enrollment keys from this address: try again in a minute', { reason: 'enroll_rate_limited' });
      // The agent sends the secret; a whole blob pasted by hand works too.
      let secret = b.enrollment_key;
      try { secret = decodeKeyBlob(b.enrollment_key).secret; } catch { /* not a blob: the secret itself */ }
      // Proof of holding an already-enrolled node: its current api_token as the bearer.
      const auth = req.headers.authorization ?? '';
      const nodeToken = /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
      let out;
      try {
        out = await backend.enroll({
          secret, node_id: b.node_id.toLowerCase(), id_type: b.id_type ?? 'random', name: b.name, host_name: b.host_name,
          agent_version: b.agent_version, os: b.os, arch: b.arch, ports: b.ports, ...(nodeToken ? { node_token: nodeToken } : {}),
        });
      } catch (err) {
        if (err instanceof EnrollError || (err as { name?: string }).name === 'EnrollError') {
          const e = err as EnrollError;
          if (e.code === 'invalid_key') limiter.fail(ip);
          throw new CodedError(Object.hasOwn(ENROLL_REFUSALS, e.code) ? ENROLL_REFUSALS[e.code] : 'bad_request', e.message, { reason: e.code, field: 'enrollment_key', ...e.details });
        }
        throw err;
      }
      if (out.requested_node_id) {
        opts.log.warn({ requested_node_id: out.requested_node_id, node_id: out.node_id, cluster_name: out.cluster_name, remote: ip, token_presented: Boolean(nodeToken) },
          'enrollment named an enrolled node without proving it (its api_token, with a key of its cluster): enrolled as a new node, the named one is untouched');
      }
      const base = opts.publicUrl ?? (req.headers.host ? `http://${req.headers.host}` : undefined);
      if (!base) throw new BadRequest('no Host header and no admin.public_url: cannot tell the agent where its tunnel is', { header: 'host' });
      res.json(201, {
        data: { ...out, tunnel_url: tunnelUrlOf(base), heartbeat_interval_ms: opts.heartbeatIntervalMs },
        meta: { request_id: req.headers['x-request-id'] ?? randomUUID(), timestamp: new Date().toISOString() },
      });
    },
  });
  return hub;
}
