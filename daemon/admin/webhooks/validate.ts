// Validation of a webhook create request: the reference's JSON schema (the same object the
// OpenAPI document shows) plus the rules a schema cannot say — known event types only, no
// wildcards, header names that are tokens, values without line breaks, no overriding the
// headers the sender owns. Every failure is a 422 whose details name the field at fault.
import Ajv, { type ErrorObject } from 'ajv';
import { isEventType } from './catalog';
import { addError, fieldErrors, ValidationFailed } from '../../base/errors';

export const MAX_HEADERS = 20;

export const WEBHOOK_CREATE_SCHEMA = {
  title: 'WebhookCreateRequest',
  description: 'Create a webhook subscription. Webhooks are immutable after create — to change any field, delete and recreate. `secret` and `headers` are write-only: encrypted at rest and never returned.',
  type: 'object',
  required: ['url', 'secret', 'subscribed_events'],
  additionalProperties: false,
  properties: {
    url: { type: 'string', minLength: 1, maxLength: 2048, pattern: '^https?://.+', description: 'Absolute http(s) URL. SSRF-checked at create time and again at every dial.' },
    secret: { type: 'string', minLength: 32, maxLength: 256, description: 'HMAC-SHA256 signing key (≥ 32 bytes). Never returned in responses.' },
    headers: {
      type: 'object', maxProperties: MAX_HEADERS,
      additionalProperties: { type: 'string', maxLength: 4096 },
      description: 'Extra HTTP headers stamped on every request. Up to 20 entries; each value up to 4096 characters. Never returned in responses.',
    },
    subscribed_events: {
      type: 'array', minItems: 1, maxItems: 20, items: { type: 'string', maxLength: 256 },
      description: 'Explicit list of event types (see GET /api/v1/event_types); no wildcards.',
    },
  },
  example: {
    url: 'https://example.com/edge-events',
    secret: 'a-cryptographically-random-32-byte-secret',
    headers: { Authorization: 'Bearer xoxb-token' },
    subscribed_events: ['edge.node.registered', 'edge.command_execution.completed'],
  },
} as const;

export interface WebhookCreate {
  url: string;
  secret: string;
  headers: Record<string, string>;
  subscribed_events: string[];
}

/** Headers the delivery sets itself (or the HTTP layer owns): a webhook may not set them. */
const RESERVED_HEADERS = new Set([
  'host', 'content-type', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect',
  'proxy-authorization', 'proxy-connection', 'x-edge-signature', 'user-agent',
]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\u0000-\u0008\u000a-\u001f\u007f]/;

const ajv = new Ajv({ allErrors: true, strict: false });
const check = ajv.compile(WEBHOOK_CREATE_SCHEMA);

function fieldOf(e: ErrorObject): string {
  const extra = e.params as { missingProperty?: string; additionalProperty?: string };
  const top = e.instancePath.split('/')[1];
  return top ?? extra.missingProperty ?? extra.additionalProperty ?? 'body';
}

function messageOf(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required': return "can't be blank";
    case 'additionalProperties': return `is not a known field (use url, secret, headers, subscribed_events)`;
    case 'minLength': return `should be at least ${p.limit} character(s)`;
    case 'maxLength': return `${e.instancePath.split('/').length > 2 ? `value of ${e.instancePath.split('/').slice(2).join('/')} ` : ''}should be at most ${p.limit} character(s)`;
    case 'minItems': return `should have at least ${p.limit} item(s)`;
    case 'maxItems': return `should have at most ${p.limit} item(s)`;
    case 'maxProperties': return `should have at most ${p.limit} entries`;
    case 'pattern': return 'must be an absolute http:// or https:// URL';
    case 'type': return `${e.instancePath.split('/').length > 2 ? `entry ${e.instancePath.split('/').slice(2).join('/')} ` : ''}must be ${p.type === 'object' ? 'an object' : `a ${String(p.type)}`}`;
    default: return e.message ?? 'is invalid';
  }
}

/** Validates a create body; throws a 422 with every problem found. */
export function validateCreate(body: unknown): WebhookCreate {
  const errors = fieldErrors();
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ValidationFailed(undefined, { body: ['must be a JSON object'] });
  if (!check(body)) for (const e of check.errors ?? []) {
    const field = fieldOf(e);
    const msg = messageOf(e);
    if (!(Object.hasOwn(errors, field) && errors[field].includes(msg))) addError(errors, field, msg);
  }
  const b = body as Partial<WebhookCreate>;
  if (typeof b.secret === 'string' && b.secret.length >= 32 && Buffer.byteLength(b.secret) < 32) addError(errors, 'secret', 'should be at least 32 bytes');
  if (Array.isArray(b.subscribed_events)) {
    for (const t of b.subscribed_events) {
      if (typeof t !== 'string') continue;
      if (t.includes('*')) addError(errors, 'subscribed_events', `wildcards are not supported: '${t}' (list each event type explicitly)`);
      else if (!isEventType(t)) addError(errors, 'subscribed_events', `unknown event type '${t}' (see GET /api/v1/event_types)`);
    }
  }
  if (b.headers && typeof b.headers === 'object' && !Array.isArray(b.headers)) {
    const seen = new Set<string>();
    for (const [name, value] of Object.entries(b.headers)) {
      const lower = name.toLowerCase();
      if (!TOKEN.test(name)) addError(errors, 'headers', `'${name}' is not a valid header name`);
      else if (RESERVED_HEADERS.has(lower)) addError(errors, 'headers', `'${name}' is set by the sender and cannot be overridden`);
      else if (seen.has(lower)) addError(errors, 'headers', `'${name}' is given more than once (header names are case-insensitive)`);
      seen.add(lower);
      if (typeof value === 'string' && BAD_VALUE.test(value)) addError(errors, 'headers', `value of '${name}' contains a line break or control character`);
    }
  }
  if (Object.keys(errors).length) throw new ValidationFailed(undefined, errors);
  return { url: b.url!, secret: b.secret!, headers: b.headers ?? {}, subscribed_events: [...new Set(b.subscribed_events!)] };
}
