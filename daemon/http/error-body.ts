// The bare error body of the agent listener ({error, message, details}: Flo's shape, also used by the
// agent's own routes), as a JSON schema for route specs and the OpenAPI documents.
import { FloErrors } from '../base/errors';
import type { JsonSchema } from './validate';

export const errorBody: JsonSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    // The registry's Flo codes; validation_failed is the control plane's only.
    error: { type: 'string', enum: Object.keys(FloErrors).filter((c) => c !== 'validation_failed') },
    message: { type: 'string' },
    details: { type: 'object' },
    key: { type: 'string', description: 'the key, on KV not_found' },
    current_version: { type: 'integer', description: 'the current version, on KV conflict' },
  },
};

export const err = (description: string) => ({ description, schema: errorBody });
