// Route specs for Events.Type and Events.Webhook (plus the delivery log, an Outpost addition),
// built from a WebhookService for the admin app. They answer in the admin envelope like every
// admin route: data through api/envelope's ok()/paged(), errors thrown (the service's domain
// errors) and rendered by the server's envelope.
// The create body is read raw and validated by the service with the same schema the OpenAPI
// document shows, so its failures are the reference's 422 with per-field details.
import type { RouteSpec } from '../../http';
import { BadRequest } from '../../base/errors';
import { noContent, ok, paged as page } from '../api/envelope';
import { PAGE_QUERY_PROPS, WEBHOOK_LIST_QUERY } from './query';
import type { WebhookService } from './service';
import { WEBHOOK_CREATE_SCHEMA } from './validate';

const meta = { type: 'object', properties: { request_id: { type: 'string' }, timestamp: { type: 'string', format: 'date-time' } } };
const pagination = {
  type: 'object',
  properties: {
    page: { type: 'integer' }, page_size: { type: 'integer' }, total_count: { type: 'integer' }, total_pages: { type: 'integer' },
    has_next: { type: 'boolean' }, has_prev: { type: 'boolean' }, next_page: { type: ['integer', 'null'] }, prev_page: { type: ['integer', 'null'] },
  },
};
const pagedMeta = { ...meta, properties: { ...meta.properties, pagination } };
const errorBody = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: ['object', 'null'] } } }, meta },
};
const webhook = {
  type: 'object', title: 'Webhook',
  properties: {
    id: { type: 'string', format: 'uuid' }, url: { type: 'string' },
    subscribed_events: { type: 'array', items: { type: 'string' } },
    inserted_at: { type: 'string', format: 'date-time' }, updated_at: { type: 'string', format: 'date-time' },
  },
};
const attempt = {
  type: 'object', title: 'WebhookDeliveryAttempt',
  properties: {
    id: { type: 'string' }, delivery_id: { type: 'string' }, event_id: { type: 'string' }, event_type: { type: 'string' },
    attempt: { type: 'integer', description: '1-based attempt number of its delivery' },
    outcome: { type: 'string', enum: ['ok', 'recoverable', 'terminal'] },
    status_code: { type: ['integer', 'null'] }, duration_ms: { type: 'integer' }, error: { type: ['string', 'null'] },
    inserted_at: { type: 'string', format: 'date-time' },
  },
};
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', description: 'Webhook ID (UUID)' } } };
const single = (schema: object) => ({ type: 'object', properties: { data: schema, meta } });
const paged = (schema: object) => ({ type: 'object', properties: { data: { type: 'array', items: schema }, meta: pagedMeta } });
const err = (description: string) => ({ description, schema: errorBody });
const HEADERS = ['x-request-id'];

export function webhookRoutes(svc: WebhookService): RouteSpec[] {
  return [
    {
      method: 'get', path: '/api/v1/event_types', auth: 'api', tags: ['Events.Type'], headers: HEADERS,
      summary: 'List event types: the full catalog, in catalog order (valid subscribed_events values)',
      responses: { 200: { description: 'the catalog', schema: single({ type: 'array', items: { type: 'string' } }) } },
      handler(req, res) {
        ok(req, res, svc.eventTypes());
      },
    },
    {
      method: 'post', path: '/api/v1/webhooks', auth: 'api', tags: ['Events.Webhook'], headers: HEADERS,
      summary: 'Create webhook (immutable; secret and headers are write-only and encrypted at rest; URL SSRF-checked)',
      body: WEBHOOK_CREATE_SCHEMA as unknown as Record<string, unknown>,
      rawBody: true,
      responses: {
        201: { description: 'created', schema: single(webhook) },
        400: err('body is not JSON'),
        422: err('validation failed; details maps each field to its messages'),
      },
      async handler(req, res) {
        const created = await svc.create(parseBody(req.body));
        ok(req, res, created, 201);
      },
    },
    {
      method: 'get', path: '/api/v1/webhooks', auth: 'api', tags: ['Events.Webhook'], headers: HEADERS,
      summary: 'List webhooks (paginated; filters url, event_type, inserted_at/updated_at __gte/__lte; order_by)',
      query: WEBHOOK_LIST_QUERY as unknown as Record<string, unknown>,
      responses: { 200: { description: 'a page of webhooks', schema: paged(webhook) }, 400: err('invalid query parameter') },
      async handler(req, res) {
        const p = await svc.list(req.query);
        page(req, res, p.data, p.pagination);
      },
    },
    {
      method: 'get', path: '/api/v1/webhooks/:id', auth: 'api', tags: ['Events.Webhook'], headers: HEADERS, params: idParams,
      summary: 'Get webhook',
      responses: { 200: { description: 'the webhook', schema: single(webhook) }, 400: err('id is not a UUID'), 404: err('no such webhook') },
      async handler(req, res) {
        ok(req, res, await svc.get(req.params.id));
      },
    },
    {
      method: 'delete', path: '/api/v1/webhooks/:id', auth: 'api', tags: ['Events.Webhook'], headers: HEADERS, params: idParams,
      summary: 'Delete webhook (its pending deliveries and delivery log go with it)',
      responses: { 204: { description: 'deleted' }, 400: err('id is not a UUID'), 404: err('no such webhook') },
      async handler(req, res) {
        await svc.delete(req.params.id);
        noContent(res);
      },
    },
    {
      method: 'get', path: '/api/v1/webhooks/:id/deliveries', auth: 'api', tags: ['Events.Webhook'], headers: HEADERS, params: idParams,
      summary: 'Delivery log of a webhook: every attempt (status code, duration, error, attempt number), newest first — an Outpost addition',
      query: { type: 'object', properties: PAGE_QUERY_PROPS },
      responses: { 200: { description: 'a page of attempts', schema: paged(attempt) }, 400: err('invalid id or query'), 404: err('no such webhook') },
      async handler(req, res) {
        const p = await svc.attempts(req.params.id, req.query);
        page(req, res, p.data, p.pagination);
      },
    },
  ];
}

function parseBody(raw: unknown): unknown {
  const text = typeof raw === 'string' ? raw : '';
  if (text.trim() === '') throw new BadRequest(undefined, { body: ['a JSON object is required'] });
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new BadRequest(undefined, { body: [`is not valid JSON: ${(e as Error).message}`] });
  }
}
