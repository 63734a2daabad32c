// Enrollment, agent side: POST {admin}/api/v1/agent/enroll with the key's secret and what the
// agent knows of itself, trying the key's admin URLs in order. A refusal (4xx) is final and
// says why in words a person can act on; an unreachable admin or a 5xx/429 is retryable.
import os from 'node:os';
import { request } from 'undici';
import type { EnrollmentKeyBlob, EnrollRequest } from '../../tunnel/enrollment';
import type { NodeIdentity } from './identity';

export interface EnrollAnswer {
  node_id: string; api_token: string; cluster_name: string; tunnel_url: string; heartbeat_interval_ms?: number; admin_url: string;
  /** The node was known and proven: re-registered in place. */
  reregistered: boolean;
  /** Set when the admin gave a new node id because the requested one was taken and not proven. */
  requested_node_id?: string;
}

export class EnrollFailure extends Error {
  constructor(message: string, readonly retryable: boolean, readonly status?: number, readonly reason?: string) {
    super(message);
    this.name = 'EnrollFailure';
  }
}

const HINTS: Record<string, string> = {
  invalid_key: 'the admin does not know this enrollment key (deleted, or from another admin): create a new key and set ENROLLMENT_KEY again',
  key_expired: 'the enrollment key has expired: create a new key (or PATCH its expired_at) and set ENROLLMENT_KEY again',
  key_exhausted: 'the enrollment key has no uses left: create a new key (or PATCH its uses_remaining) and set ENROLLMENT_KEY again',
  node_limit: 'the cluster is at its node_limit: raise it (PATCH the cluster) or use a key of another cluster',
  node_conflict: 'the admin refused this node id',
};

export interface EnrollInput {
  key: EnrollmentKeyBlob; identity: NodeIdentity; name?: string; agentVersion: string; ports?: EnrollRequest['ports']; timeoutMs?: number;
  /**
   * The api_token of the node this agent already is (enrolling again, e.g. with a new key): sent
   * as `Authorization: Bearer`, it is what lets the admin re-register that node id in place.
   */
  nodeToken?: string;
  /**
   * Origins (scheme://host:port, http form) of the admin the node enrolled with: the node token
   * is only ever sent there. A new key naming another admin (or a crafted key) enrolls without
   * it, as a new node, instead of handing the old admin's token to whoever the key names.
   */
  tokenOrigins?: string[];
}

/** `http(s)://host:port` of a URL (ws/wss read as http/https); undefined when it does not parse. */
export function httpOrigin(u: string): string | undefined {
  try {
    const url = new URL(u);
    const proto = url.protocol === 'wss:' ? 'https:' : url.protocol === 'ws:' ? 'http:' : url.protocol;
    const port = url.port || (proto === 'https:' ? '443' : '80');
    return `${proto}//${url.hostname}:${port}`;
  } catch {
    return undefined;
  }
}

export async function enroll(inp: EnrollInput): Promise<EnrollAnswer> {
  const body = JSON.stringify({
    enrollment_key: inp.key.secret, node_id: inp.identity.node_id, id_type: inp.identity.id_type,
    ...(inp.name ? { name: inp.name } : {}), host_name: os.hostname(), agent_version: inp.agentVersion, os: process.platform, arch: process.arch,
    ...(inp.ports ? { ports: inp.ports } : {}),
  });
  const failures: string[] = [];
  let retryable = false;
  for (const base of inp.key.urls) {
    const url = `${base}/api/v1/agent/enroll`;
    let status: number;
    let text: string;
    const origin = httpOrigin(base);
    const token = inp.nodeToken && origin !== undefined && (inp.tokenOrigins ?? []).includes(origin) ? inp.nodeToken : undefined;
    try {
      const r = await request(url, {
        method: 'POST', body, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
        headersTimeout: inp.timeoutMs ?? 10_000, bodyTimeout: inp.timeoutMs ?? 10_000, maxRedirections: 0,
      } as Parameters<typeof request>[1]);
      status = r.statusCode;
      text = await r.body.text();
    } catch (err) {
      failures.push(`${base}: ${(err as Error).message}`);
      retryable = true;
      continue;
    }
    let parsed: Record<string, unknown> = {};
    try { parsed = JSON.parse(text) as Record<string, unknown>; } catch { /* not JSON */ }
    if (status === 200 || status === 201) {
      const d = (parsed.data ?? parsed) as Partial<EnrollAnswer>;
      if (typeof d.node_id !== 'string' || typeof d.api_token !== 'string' || typeof d.tunnel_url !== 'string') {
        throw new EnrollFailure(`enrollment at ${url} answered ${status} without node_id/api_token/tunnel_url: is this an Outpost admin?`, false, status);
      }
      return {
        node_id: d.node_id, api_token: d.api_token, cluster_name: d.cluster_name ?? '', tunnel_url: d.tunnel_url, heartbeat_interval_ms: d.heartbeat_interval_ms, admin_url: base,
        reregistered: d.reregistered === true, ...(typeof d.requested_node_id === 'string' ? { requested_node_id: d.requested_node_id } : {}),
      };
    }
    // Both error shapes: data plane {"error": code, message, details} and control plane {"error": {code, message, details}}.
    const e = parsed.error;
    const errObj = (e && typeof e === 'object' ? e : parsed) as { message?: string; details?: { reason?: string } };
    const reason = errObj.details?.reason;
    const msg = errObj.message ?? (text.slice(0, 200) || `HTTP ${status}`);
    if (status === 429 || status >= 500) {
      failures.push(`${base}: HTTP ${status}: ${msg}`);
      retryable = true;
      continue;
    }
    const hint = reason && Object.hasOwn(HINTS, reason) ?  ` — ${HINTS[reason]}` : '';
    throw new EnrollFailure(`enrollment refused by ${base} (HTTP ${status}): ${msg}${hint}`, false, status, reason);
  }
  throw new EnrollFailure(`cannot reach any admin of the enrollment key (${failures.join('; ')})`, retryable);
}
