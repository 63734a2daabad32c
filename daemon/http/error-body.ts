// The bare error body of the agent listener ({error, message, details}: Flo's shape, also used by the
// agent's own routes), as a JSON schema for route specs and the OpenAPI documents.
import type { JsonSchema } from './validate';

export const errorBody: JsonSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', enum: ['bad_request', 'unauthorized', 'forbidden', 'not_found', 'method_not_allowed', 'conflict', 'payload_too_large', 'overloaded', 'internal', 'unavailable'] },
    message: { type: 'string' },
    details: { type: 'object' },
    key: { type: 'string', description: 'the key, on KV not_found' },
    current_version: { type: 'integer', description: 'the current version, on KV conflict' },
  },
};

export const err = (description: string) => ({ description, schema: errorBody });
