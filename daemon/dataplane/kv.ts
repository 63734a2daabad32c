// Flo KV routes: thin — validate, call the engine, shape the Flo response.
import { HEADER_BYTES, type DataPlane } from '../../core';
import { HttpError } from '../base/errors';
import type { HttpServer, Req, Res } from '../http';
import { checkKey, conflict, notFound, ttlRemaining } from './kv-wire';
import { base64, keyParam, kvEntry, namespaceParam } from './schemas';
import { err } from '../http/error-body';

const kvParams = { type: 'object', required: ['namespace', 'key'], properties: { namespace: namespaceParam, key: keyParam } };

export function kvRoutes(server: HttpServer, dp: DataPlane): void {
  const { kv } = dp;
  server.add({
    method: 'get', path: '/api/v1/kv/:namespace/:key', auth: 'api', tags: ['kv'],
    summary: 'Get a value',
    params: kvParams,
    responses: { 200: { description: 'the value', schema: kvEntry }, 404: err('no such key or namespace') },
    handler(req: Req, res: Res) {
      const { namespace, key } = req.params;
      // Encode straight from LMDB's buffer (valid only inside this callback): one read, one
      // string; bodies of keys without TTL are cached by the store until the key is written.
      const body = kv.readRendered(namespace, key, (rec, version, expiresAt) =>
        `{"key":${JSON.stringify(key)},"value":"${rec.toString('base64', HEADER_BYTES)}","version":${version},"ttl_remaining":${ttlRemaining(expiresAt, Date.now())}}`);
      if (body === undefined) throw notFound(namespace, key);
      res.send(200, body);
    },
  });

  server.add({
    method: 'put', path: '/api/v1/kv/:namespace/:key', auth: 'api', tags: ['kv'],
    summary: 'Set a value (durable when acknowledged)',
    params: kvParams,
    body: {
      type: 'object',
      required: ['value'],
      additionalProperties: false,
      properties: {
        value: base64,
        ttl_seconds: { type: 'integer', minimum: 1, maximum: 315360000 },
        if_not_exists: { type: 'boolean' },
        cas_version: { type: 'integer', minimum: 0, description: 'write only if the key is at this version (0 = absent)' },
      },
    },
    responses: {
      200: { description: 'written and on disk', schema: { type: 'object', required: ['key', 'version'], properties: { key: { type: 'string' }, version: { type: 'integer' } } } },
      409: err('cas_version mismatch, or if_not_exists on an existing key'),
      413: err('value too large'),
      429: err('too many writes in flight'),
    },
    async handler(req: Req, res: Res) {
      const { namespace, key } = req.params;
      checkKey(key);
      const b = req.body as { value: string; ttl_seconds?: number; if_not_exists?: boolean; cas_version?: number };
      const out = await kv.put(namespace, key, {
        value: Buffer.from(b.value, 'base64'),
        ttlSeconds: b.ttl_seconds,
        ifNotExists: b.if_not_exists,
        casVersion: b.cas_version,
      });
      if (!out.ok) throw conflict(namespace, key, out.currentVersion);
      res.send(200, `{"key":${JSON.stringify(key)},"version":${out.version}}`);
    },
  });

  server.add({
    method: 'delete', path: '/api/v1/kv/:namespace/:key', auth: 'api', tags: ['kv'],
    summary: 'Delete a key',
    params: kvParams,
    query: { type: 'object', additionalProperties: false, properties: { cas_version: { type: 'integer', minimum: 1 } } },
    responses: {
      200: { description: 'deleted', schema: { type: 'object', properties: { key: { type: 'string' }, deleted: { type: 'boolean' }, version: { type: 'integer' } } } },
      404: err('no such key'),
      409: err('cas_version mismatch'),
    },
    async handler(req: Req, res: Res) {
      const { namespace, key } = req.params;
      checkKey(key);
      const out = await kv.del(namespace, key, req.query.cas_version as number | undefined);
      if (out.ok) { res.json(200, { key, deleted: true, version: out.version }); return; }
      if (out.notFound) throw notFound(namespace, key);
      throw conflict(namespace, key, out.currentVersion);
    },
  });

  server.add({
    method: 'get', path: '/api/v1/kv/:namespace', auth: 'api', tags: ['kv'],
    summary: 'Scan keys by prefix, sorted by key (UTF-8 byte order), paged with a cursor',
    params: { type: 'object', required: ['namespace'], properties: { namespace: namespaceParam } },
    query: {
      type: 'object',
      additionalProperties: false,
      properties: {
        prefix: { type: 'string', default: '', maxLength: 1024 },
        limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        cursor: { type: 'string', maxLength: 2048, description: 'next_cursor of the previous page' },
        values: { type: 'boolean', default: true, description: 'false returns keys and versions only' },
      },
    },
    responses: {
      200: {
        description: 'one page of keys',
        schema: {
          type: 'object',
          properties: {
            namespace: { type: 'string' }, prefix: { type: 'string' }, count: { type: 'integer' },
            keys: { type: 'array', items: kvEntry }, next_cursor: { type: ['string', 'null'] },
          },
        },
      },
      404: err('no such namespace'),
    },
    handler(req: Req, res: Res) {
      const { namespace } = req.params;
      const q = req.query as { prefix: string; limit: number; cursor?: string; values: boolean };
      let after: string | undefined;
      if (q.cursor !== undefined) {
        after = Buffer.from(q.cursor, 'base64url').toString('utf8');
        if (!after.startsWith(q.prefix)) {
          throw new HttpError('bad_request', 'query.cursor does not belong to this prefix', { fields: [{ field: 'query.cursor', message: 'not a cursor of this scan' }] });
        }
      }
      const { items, next } = kv.scan(namespace, q.prefix, q.limit, after);
      const now = Date.now();
      res.json(200, {
        namespace,
        prefix: q.prefix,
        count: items.length,
        keys: items.map((e) => ({
          key: e.key,
          ...(q.values ? { value: e.value.toString('base64') } : {}),
          version: e.version,
          ttl_remaining: ttlRemaining(e.expiresAt, now),
        })),
        next_cursor: next === null ? null : Buffer.from(next).toString('base64url'),
      });
    },
  });
}
