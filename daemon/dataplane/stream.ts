// Flo stream routes: append (single or batch), read by offset, info, retention, consumer groups.
import type { DataPlane } from '../../core';
import { isStreamError, type StreamError } from '../../core/stream';
import { HttpError } from '../base/errors';
import type { HttpServer, Req, Res } from '../http';
import { base64, namespaceParam } from './schemas';
import { err } from '../http/error-body';

const params = { type: 'object', required: ['namespace', 'stream'], properties: { namespace: namespaceParam, stream: namespaceParam } };
const groupParams = { type: 'object', required: ['namespace', 'stream', 'group'], properties: { namespace: namespaceParam, stream: namespaceParam, group: namespaceParam } };
const record = { type: 'object', properties: { offset: { type: 'integer' }, timestamp: { type: 'number', description: 'ms since the epoch' }, payload: base64 } };
const page = { type: 'object', properties: { records: { type: 'array', items: record }, next_offset: { type: 'integer' }, first_offset: { type: 'integer' } } };

function fail(e: StreamError): never {
  if (e.code === 'group_not_found') throw new HttpError('not_found', e.message, { code: e.code });
  if (e.code === 'group_exists') throw new HttpError('conflict', e.message, { code: e.code });
  throw new HttpError('bad_request', e.message, { fields: [{ field: 'body.offset', message: e.message }] });
}

export function streamRoutes(server: HttpServer, dp: DataPlane): void {
  const { namespaces, streams } = dp;
  const base = '/api/v1/stream/:namespace/:stream';
  const known = (ns: string, s: string) => {
    namespaces.require(ns, false);
    if (!streams.exists(ns, s)) throw new HttpError('not_found', `stream '${s}' does not exist in namespace '${ns}'`, { namespace: ns, stream: s });
  };

  server.add({
    method: 'post', path: `${base}/append`, auth: 'api', tags: ['stream'],
    summary: 'Append one record ({payload}) or many in order ({records: [{payload}]}); durable when answered',
    params,
    body: {
      type: 'object', additionalProperties: false,
      properties: {
        payload: base64,
        records: { type: 'array', minItems: 1, maxItems: 10000, items: { type: 'object', required: ['payload'], additionalProperties: false, properties: { payload: base64 } } },
      },
    },
    responses: { 200: { description: 'appended', schema: { type: 'object', properties: { offset: { type: 'integer' }, first_offset: { type: 'integer' }, last_offset: { type: 'integer' }, count: { type: 'integer' }, timestamp: { type: 'number' } } } } },
    async handler(req: Req, res: Res) {
      const { namespace, stream } = req.params;
      const b = req.body as { payload?: string; records?: Array<{ payload: string }> };
      if ((b.payload === undefined) === (b.records === undefined)) {
        throw new HttpError('bad_request', 'give exactly one of payload or records', { fields: [{ field: 'body.payload', message: 'exactly one of payload or records is required' }] });
      }
      namespaces.require(namespace, true);
      const payloads = b.payload !== undefined ? [Buffer.from(b.payload, 'base64')] : b.records!.map((r) => Buffer.from(r.payload, 'base64'));
      const r = await streams.append(namespace, stream, payloads);
      if (b.payload !== undefined) res.json(200, { offset: r.first_offset, timestamp: r.timestamp });
      else res.json(200, { first_offset: r.first_offset, last_offset: r.last_offset, count: payloads.length, timestamp: r.timestamp });
    },
  });
  server.add({
    method: 'get', path: base, auth: 'api', tags: ['stream'],
    summary: 'Read records from an offset (clamped to first_offset after retention)',
    params,
    query: { type: 'object', additionalProperties: false, properties: { offset: { type: 'integer', minimum: 0, default: 0 }, count: { type: 'integer', minimum: 1, maximum: 10000, default: 100 } } },
    responses: { 200: { description: 'records', schema: page }, 404: err('no such stream') },
    handler(req: Req, res: Res) {
      const { namespace, stream } = req.params;
      known(namespace, stream);
      res.json(200, streams.read(namespace, stream, req.query.offset as number, req.query.count as number));
    },
  });
  server.add({
    method: 'get', path: `${base}/info`, auth: 'api', tags: ['stream'],
    summary: 'Stream metadata',
    params,
    responses: { 200: { description: 'info', schema: { type: 'object', properties: { name: { type: 'string' }, first_offset: { type: 'integer' }, last_offset: { type: 'integer' }, record_count: { type: 'integer' }, consumer_groups: { type: 'array', items: { type: 'string' } }, retention: { type: 'object' } } } }, 404: err('no such stream') },
    handler(req: Req, res: Res) {
      const { namespace, stream } = req.params;
      known(namespace, stream);
      res.json(200, streams.info(namespace, stream));
    },
  });
  server.add({
    method: 'put', path: `${base}/retention`, auth: 'api', tags: ['stream'],
    summary: 'Set retention (0 = unlimited); trimming runs now and then in the background',
    params,
    body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { max_records: { type: 'integer', minimum: 0 }, max_age_ms: { type: 'integer', minimum: 0 } } },
    responses: { 200: { description: 'the retention now in force', schema: { type: 'object', properties: { max_records: { type: 'integer' }, max_age_ms: { type: 'integer' } } } } },
    async handler(req: Req, res: Res) {
      const { namespace, stream } = req.params;
      known(namespace, stream);
      res.json(200, await streams.setRetention(namespace, stream, req.body as { max_records?: number; max_age_ms?: number }));
    },
  });
  server.add({
    method: 'post', path: `${base}/groups`, auth: 'api', tags: ['stream'],
    summary: 'Create a consumer group starting at earliest, latest (default) or an offset',
    params,
    body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: namespaceParam, start: { anyOf: [{ type: 'string', enum: ['earliest', 'latest'] }, { type: 'integer', minimum: 0 }] } } },
    responses: { 201: { description: 'created', schema: { type: 'object', properties: { group: { type: 'string' }, committed_offset: { type: 'integer' } } } }, 409: err('group exists') },
    async handler(req: Req, res: Res) {
      const { namespace, stream } = req.params;
      known(namespace, stream);
      const b = req.body as { name: string; start?: 'earliest' | 'latest' | number };
      const r = await streams.createGroup(namespace, stream, b.name, b.start ?? 'latest');
      if (isStreamError(r)) fail(r);
      res.json(201, r);
    },
  });
  server.add({
    method: 'get', path: `${base}/groups/:group`, auth: 'api', tags: ['stream'],
    summary: "Read from the group's committed offset (commit to move it)",
    params: groupParams,
    query: { type: 'object', additionalProperties: false, properties: { count: { type: 'integer', minimum: 1, maximum: 10000, default: 100 } } },
    responses: { 200: { description: 'records', schema: page }, 404: err('no such stream or group') },
    handler(req: Req, res: Res) {
      const { namespace, stream, group } = req.params;
      known(namespace, stream);
      const r = streams.readGroup(namespace, stream, group, req.query.count as number);
      if (isStreamError(r)) fail(r);
      res.json(200, r);
    },
  });
  server.add({
    method: 'post', path: `${base}/groups/:group/commit`, auth: 'api', tags: ['stream'],
    summary: 'Commit the next offset the group will read',
    params: groupParams,
    body: { type: 'object', required: ['offset'], additionalProperties: false, properties: { offset: { type: 'integer', minimum: 0 } } },
    responses: { 200: { description: 'committed', schema: { type: 'object', properties: { group: { type: 'string' }, committed_offset: { type: 'integer' } } } }, 404: err('no such group') },
    async handler(req: Req, res: Res) {
      const { namespace, stream, group } = req.params;
      known(namespace, stream);
      const r = await streams.commit(namespace, stream, group, (req.body as { offset: number }).offset);
      if (isStreamError(r)) fail(r);
      res.json(200, r);
    },
  });
}
