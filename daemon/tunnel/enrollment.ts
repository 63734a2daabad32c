// The enrollment wire shapes both ends speak (what the agent posts to /api/v1/agent/enroll and
// what it gets back, the refusal codes, the credential set synced over the tunnel) and the
// enrollment-key blob format: the admin writes it, the agent reads it from ENROLLMENT_KEY.
import type { ErrorCode } from '../base/errors';
import type { SshUser } from './schema';

/** Enrollment: what the agent posts (the key's secret, not the whole blob) plus what it knows of itself. */
export interface EnrollRequest {
  /** The secret from the key blob. */
  secret: string;
  node_id: string;
  /** persistent (derived from /etc/machine-id) or random (generated and kept in the data dir). */
  id_type: 'persistent' | 'random';
  /** Node name; the admin may derive one when absent. */
  name?: string;
  host_name?: string;
  agent_version?: string;
  os?: string;
  arch?: string;
  /** Agent ports, as NodeResponse shows them (ssh_port, http_port, http_proxy_port, socks5_proxy_port). */
  ports?: Partial<Record<'ssh_port' | 'http_port' | 'http_proxy_port' | 'socks5_proxy_port', number>>;
  /**
   * The node's current api_token (the agent sends it as `Authorization: Bearer` when it enrolls
   * again): the only proof that lets an already-enrolled node_id be re-registered in place.
   */
  node_token?: string;
}

export interface EnrollResult {
  /**
   * The requested node_id; or, when that id is already enrolled and the request did not prove it
   * (no valid node_token, or a key of another cluster), a new id: the named node is left as it was.
   */
  node_id: string;
  /** Opaque bearer token of this node (store only its hash; compare in constant time). */
  api_token: string;
  cluster_name: string;
  /** True when this node id was already known and proven (reregistration: a new token replaces the old). */
  reregistered?: boolean;
  /** Set when node_id is a new id because the requested one was taken and not proven. */
  requested_node_id?: string;
}

/**
 * Why an enrollment was refused: thrown by the store (and any TunnelBackend); the route answers
 * with ENROLL_REFUSALS[code] and the code as `details.reason` (docs/errors.md).
 */
export type EnrollErrorCode = 'invalid_key' | 'key_expired' | 'key_exhausted' | 'node_limit' | 'node_conflict';

/** The one translation of a refused enrollment into the error registry's codes. */
export const ENROLL_REFUSALS: Readonly<Record<EnrollErrorCode, ErrorCode>> = Object.freeze({
  invalid_key: 'unauthorized',
  key_expired: 'forbidden',
  key_exhausted: 'forbidden',
  node_limit: 'conflict',
  node_conflict: 'conflict',
});

export class EnrollError extends Error {
  constructor(readonly code: EnrollErrorCode, message: string, readonly details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'EnrollError';
  }
}

/** The SSH credentials an admin syncs to a node (version increases on every change). */
export interface CredentialSet { version: number; users: SshUser[] }

// urls: the admin base URLs (http(s)://host:port) the agent may enroll with and tunnel to, tried
// in order; secret: the key's secret, sent to POST /api/v1/agent/enroll. Optional cluster_name
// is informational.

export interface EnrollmentKeyBlob { v: 1; urls: string[]; secret: string; cluster_name?: string }

export function encodeKeyBlob(b: EnrollmentKeyBlob): string {
  return Buffer.from(JSON.stringify(b)).toString('base64');
}

/** Decodes and checks a blob; the error says what is wrong with it (never echoes the secret). */
export function decodeKeyBlob(blob: string): EnrollmentKeyBlob {
  const bad = (why: string) => Object.assign(new Error(`ENROLLMENT_KEY is not a valid enrollment key: ${why}`), { code: 'ENROLLMENT_KEY_INVALID' });
  const text = blob.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw bad('it is not base64 (copy the `key` field of the enrollment key as is)');
  let v: unknown;
  try { v = JSON.parse(Buffer.from(text, 'base64').toString('utf8')); } catch { throw bad('its base64 does not hold JSON'); }
  if (!v || typeof v !== 'object') throw bad('its JSON is not an object');
  const o = v as Record<string, unknown>;
  // The admin API writes the URL list as `admin_urls` (and the cluster as `cluster`): same key, same meaning.
  if (o.urls === undefined && o.admin_urls !== undefined) o.urls = o.admin_urls;
  if (o.cluster_name === undefined && typeof o.cluster === 'string') o.cluster_name = o.cluster;
  if (o.v !== 1) throw bad(`unsupported version ${JSON.stringify(o.v)} (this agent reads version 1)`);
  if (!Array.isArray(o.urls) || !o.urls.length) throw bad('urls must be a non-empty list of admin URLs');
  for (const u of o.urls) {
    let ok = false;
    try { const p = new URL(String(u)); ok = p.protocol === 'http:' || p.protocol === 'https:'; } catch { /* not a URL */ }
    if (!ok) throw bad(`${JSON.stringify(u)} is not an http(s) URL`);
  }
  if (typeof o.secret !== 'string' || o.secret.length < 16) throw bad('secret is missing or shorter than 16 characters');
  return { v: 1, urls: (o.urls as string[]).map((u) => u.replace(/\/+$/, '')), secret: o.secret, ...(typeof o.cluster_name === 'string' ? { cluster_name: o.cluster_name } : {}) };
}

/** ws(s)://… tunnel endpoint of an admin base URL. */
export function tunnelUrlOf(base: string): string {
  const u = new URL(base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v1/agent/tunnel`;
  return u.toString();
}
