// Flo queue routes: enqueue / dequeue (leases, long polling) / ack / nack / stats / DLQ.
import type { DataPlane } from '../../core';
import type { Leased } from '../../core/queue';
import type { HttpServer, Req, Res } from '../http';
import { base64, namespaceParam } from './schemas';
import { err } from '../http/error-body';

const params = { type: 'object', required: ['namespace', 'queue'], properties: { namespace: namespaceParam, queue: namespaceParam } };
const sequences = { type: 'array', minItems: 1, maxItems: 10000, items: { type: 'integer', minimum: 1 } };
const message = {
  type: 'object',
  properties: {
    sequence: { type: 'integer' }, payload: base64, priority: { type: 'integer' }, delivery_count: { type: 'integer' },
    lease_deadline: { type: 'integer', description: 'ms since the epoch; after it the message is delivered again' }, enqueued_at: { type: 'integer' },
  },
};

const wire = (m: Leased) => ({ sequence: m.seq, payload: m.payload, priority: m.priority, delivery_count: m.delivery_count, lease_deadline: m.lease_deadline, enqueued_at: m.enqueued_at });

export function queueRoutes(server: HttpServer, dp: DataPlane): void {
  const { namespaces, queues } = dp;
  const base = '/api/v1/queue/:namespace/:queue';
  server.add({
    method: 'post', path: `${base}/enqueue`, auth: 'api', tags: ['queue'],
    summary: 'Enqueue a message (durable when answered); a repeated dedup_key inside the dedup window returns the original sequence',
    params,
    body: {
      type: 'object', required: ['payload'], additionalProperties: false,
      properties: {
        payload: base64,
        priority: { type: 'integer', minimum: -1000000, maximum: 1000000, description: 'higher first (default 0)' },
        delay_ms: { type: 'integer', minimum: 0, maximum: 31536000000 },
        dedup_key: { type: 'string', minLength: 1, maxLength: 256 },
      },
    },
    responses: { 200: { description: 'enqueued', schema: { type: 'object', properties: { sequence: { type: 'integer' }, duplicate: { type: 'boolean' } } } } },
    async handler(req: Req, res: Res) {
      const { namespace, queue } = req.params;
      const b = req.body as { payload: string; priority?: number; delay_ms?: number; dedup_key?: string };
      namespaces.require(namespace, true);
      const r = await queues.enqueue(namespace, queue, { payload: Buffer.from(b.payload, 'base64'), priority: b.priority, delayMs: b.delay_ms, dedupKey: b.dedup_key });
      res.json(200, { sequence: r.seq, duplicate: r.duplicate });
    },
  });
  server.add({
    method: 'post', path: `${base}/dequeue`, auth: 'api', tags: ['queue'],
    summary: 'Lease up to `count` messages for `visibility_timeout_ms`; `wait_ms` long-polls until one arrives',
    params,
    body: {
      type: 'object', additionalProperties: false,
      properties: {
        count: { type: 'integer', minimum: 1, maximum: 1000, default: 1 },
        visibility_timeout_ms: { type: 'integer', minimum: 1, maximum: 43200000, default: 30000 },
        wait_ms: { type: 'integer', minimum: 0, maximum: 60000, default: 0 },
      },
    },
    responses: { 200: { description: 'leased messages (possibly none)', schema: { type: 'object', properties: { messages: { type: 'array', items: message } } } } },
    async handler(req: Req, res: Res) {
      const { namespace, queue } = req.params;
      const b = req.body as { count?: number; visibility_timeout_ms?: number; wait_ms?: number };
      namespaces.require(namespace, false);
      const got = await queues.dequeue(namespace, queue, b.count ?? 1, b.visibility_timeout_ms ?? 30000, b.wait_ms ?? 0, res.signal);
      res.json(200, { messages: got.map(wire) });
    },
  });
  server.add({
    method: 'post', path: `${base}/ack`, auth: 'api', tags: ['queue'],
    summary: 'Acknowledge leased messages; sequences that are not leased are listed in not_found',
    params,
    body: { type: 'object', required: ['sequences'], additionalProperties: false, properties: { sequences } },
    responses: { 200: { description: 'result', schema: { type: 'object', properties: { acked: sequences, not_found: sequences } } } },
    async handler(req: Req, res: Res) {
      const { namespace, queue } = req.params;
      namespaces.require(namespace, false);
      res.json(200, await queues.ack(namespace, queue, (req.body as { sequences: number[] }).sequences));
    },
  });
  server.add({
    method: 'post', path: `${base}/nack`, auth: 'api', tags: ['queue'],
    summary: 'Release leased messages now (or after delay_ms); past max deliveries they go to the DLQ',
    params,
    body: { type: 'object', required: ['sequences'], additionalProperties: false, properties: { sequences, delay_ms: { type: 'integer', minimum: 0, maximum: 31536000000 } } },
    responses: { 200: { description: 'result', schema: { type: 'object', properties: { released: sequences, not_found: sequences } } } },
    async handler(req: Req, res: Res) {
      const { namespace, queue } = req.params;
      namespaces.require(namespace, false);
      const b = req.body as { sequences: number[]; delay_ms?: number };
      res.json(200, await queues.nack(namespace, queue, b.sequences, b.delay_ms ?? 0));
    },
  });
  server.add({
    method: 'get', path: `${base}/stats`, auth: 'api', tags: ['queue'],
    summary: 'Queue statistics (leases past their visibility timeout are expired first: never counted as leased)',
    params,
    responses: { 200: { description: 'stats', schema: { type: 'object', properties: { name: { type: 'string' }, ready_count: { type: 'integer' }, leased_count: { type: 'integer' }, delayed_count: { type: 'integer' }, dlq_count: { type: 'integer' }, total_enqueued: { type: 'integer' }, total_acked: { type: 'integer' } } } }, 404: err('no such namespace') },
    async handler(req: Req, res: Res) {
      const { namespace, queue } = req.params;
      namespaces.require(namespace, false);
      res.json(200, await queues.stats(namespace, queue));
    },
  });
  server.add({
    method: 'get', path: `${base}/dlq`, auth: 'api', tags: ['queue'],
    summary: 'Messages in the dead-letter queue, oldest first',
    params,
    query: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } },
    responses: { 200: { description: 'dead letters', schema: { type: 'object', properties: { messages: { type: 'array', items: message } } } } },
    async handler(req: Req, res: Res) {
      const { namespace, queue } = req.params;
      namespaces.require(namespace, false);
      const list = await queues.listDlq(namespace, queue, req.query.limit as number);
      res.json(200, { messages: list.map((m) => ({ sequence: m.seq, payload: m.payload, priority: m.priority, delivery_count: m.delivery_count, enqueued_at: m.enqueued_at })) });
    },
  });
  server.add({
    method: 'post', path: `${base}/dlq/redrive`, auth: 'api', tags: ['queue'],
    summary: 'Move dead letters (all, or the given sequences) back to the queue with fresh delivery counts',
    params,
    body: { type: 'object', additionalProperties: false, properties: { sequences } },
    responses: { 200: { description: 'result', schema: { type: 'object', properties: { redriven: sequences } } } },
    async handler(req: Req, res: Res) {
      const { namespace, queue } = req.params;
      namespaces.require(namespace, false);
      res.json(200, await queues.redrive(namespace, queue, (req.body as { sequences?: number[] }).sequences));
    },
  });
}
