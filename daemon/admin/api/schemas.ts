// JSON schemas of the control-plane API, shared by validation and the admin OpenAPI document.
// Field names and descriptions follow the Edge Admin reference.
import type { JsonSchema } from '../../http';

export const NAME_PATTERN = '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$';
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

const ts = { type: 'string', format: 'date-time' };
const tsNull = { type: ['string', 'null'], format: 'date-time' };
const intNull = { type: ['integer', 'null'] };
const strNull = { type: ['string', 'null'] };

export const metaSchema = { type: 'object', required: ['request_id', 'timestamp'], properties: { request_id: { type: 'string', description: 'Unique request identifier (mirrors x-request-id response header)' }, timestamp: ts } };
export const paginationSchema = {
  type: 'object',
  properties: {
    page: { type: 'integer' }, page_size: { type: 'integer' }, total_count: { type: 'integer' }, total_pages: { type: 'integer' },
    has_next: { type: 'boolean' }, has_prev: { type: 'boolean' },
    next_page: { ...intNull, description: 'Next page number, null when on the last page' }, prev_page: { ...intNull, description: 'Previous page number, null when on the first page' },
  },
};
export const errorSchema = {
  type: 'object', required: ['error', 'meta'],
  properties: {
    error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: ['object', 'null'], additionalProperties: { type: 'array', items: { type: 'string' } }, description: 'field → messages' } } },
    meta: metaSchema,
  },
};

export const single = (data: JsonSchema): JsonSchema => ({ type: 'object', required: ['data', 'meta'], properties: { data, meta: metaSchema } });
export const paginated = (item: JsonSchema): JsonSchema => ({
  type: 'object', required: ['data', 'meta'],
  properties: { data: { type: 'array', items: item }, meta: { type: 'object', properties: { pagination: paginationSchema, request_id: { type: 'string' }, timestamp: ts } } },
});

export const nodeSummarySchema = { type: 'object', properties: { id: { type: 'string' }, id_type: { type: 'string' }, status: { type: 'string' }, vpn_hostname: { type: 'string' } } };

export const clusterSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' }, name: { type: 'string' }, ipv4_range: { type: 'string' }, network_name: { type: 'string' },
    node_count: { type: 'integer' }, node_limit: { ...intNull, description: 'null means no limit enforced' }, nodes: { type: 'array', items: nodeSummarySchema },
    vpn_domain: { type: 'string' }, inserted_at: ts, updated_at: ts,
  },
};

export const enrollmentKeySchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' }, cluster_name: { type: 'string' }, name: strNull,
    key: { type: 'string', description: 'Enrollment key blob (base64 JSON). Set as ENROLLMENT_KEY on the agent.' },
    uses_remaining: { ...intNull, description: 'Remaining uses. null means unlimited.' }, expired_at: tsNull, last_used_at: tsNull, inserted_at: ts, updated_at: ts,
  },
};

export const nodeSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' }, id_type: { type: 'string', enum: ['persistent', 'random'] }, node_name: { type: 'string' }, cluster_name: { type: 'string' },
    status: { type: 'string', enum: ['healthy', 'unhealthy', 'unreachable'], description: 'healthy: tunnel up, heartbeats on time; unhealthy: tunnel up, heartbeats late; unreachable: tunnel down' },
    api_token: { type: ['string', 'null'], description: 'Always null: the admin keeps only a hash of the node token; the agent received the token once, in the answer to POST /api/v1/agent/enroll' },
    version: strNull, ip_address: strNull, hostname: strNull, http_port: intNull, ssh_port: intNull, http_proxy_port: intNull, socks5_proxy_port: intNull,
    host_metrics_port: { ...intNull, description: "Port serving the node's Prometheus metrics (GET /metrics on the agent API, bearer API_KEY of the node); null until the agent reported it" },
    wireguard_metrics_port: { ...intNull, description: 'Always null: Outpost has no WireGuard' },
    proxy_password: { ...strNull, description: 'Password of proxy user `_` on the node (HTTP and SOCKS5 proxies); only MASTER_KEY callers see it (null for API_KEY), null while the proxies are off' },
    self_update_enabled: { type: 'boolean' },
    mdns_hostname: { type: 'string' }, vpn_hostname: { type: 'string' }, netmaker_host_id: strNull, last_seen_at: tsNull, inserted_at: ts, updated_at: ts,
  },
};

export const aliasSchema = {
  type: 'object',
  properties: { id: { type: 'string', format: 'uuid' }, name: { type: 'string' }, node_id: { type: 'string' }, cluster_name: { type: 'string' }, vpn_hostname: { type: 'string' }, inserted_at: ts, updated_at: ts },
};

export const uuidParam = { type: 'string', pattern: UUID_PATTERN, description: 'UUID' };
/** Node ids are UUIDs (the agent derives one from /etc/machine-id or draws one): anything else is a 400, not a 404. */
export const nodeIdParam = { type: 'string', pattern: UUID_PATTERN, description: 'Node ID (UUID)' };
/** The reference's cluster name rule (max 24 chars, lowercase alphanumeric + hyphens): anything else is a 400, not a 404. */
export const nameParam = { type: 'string', minLength: 1, maxLength: 24, pattern: NAME_PATTERN, description: 'Cluster name (max 24 chars, lowercase alphanumeric + hyphens)' };
