// Schemas shared by the data-plane routes; also the source of the OpenAPI document.
import type { JsonSchema } from '../http';

export const namespaceParam: JsonSchema = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', description: 'namespace name' };
export const keyParam: JsonSchema = { type: 'string', minLength: 1, maxLength: 1024, description: 'key (percent-encode / and other reserved characters)' };
export const base64: JsonSchema = { type: 'string', pattern: '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$', description: 'base64 (RFC 4648, padded)' };

export const kvEntry: JsonSchema = {
  type: 'object',
  required: ['key', 'value', 'version', 'ttl_remaining'],
  properties: {
    key: { type: 'string' },
    value: base64,
    version: { type: 'integer', minimum: 1 },
    ttl_remaining: { type: ['integer', 'null'], description: 'seconds until expiry, null when the key has no TTL' },
  },
};
