// Time-series routes: InfluxDB line protocol writes and FloQL queries (run in the worker pool).
import type { DataPlane } from '../../core';
import { FloQLError, LineProtocolError, parseFloQL, parseLineProtocol } from '../../core/ts';
import { HttpError } from '../base/errors';
import type { HttpServer, Req, Res } from '../http';
import { namespaceParam } from './schemas';
import { err } from '../http/error-body';

const params = { type: 'object', required: ['namespace'], properties: { namespace: namespaceParam } };
/** ASCII whitespace, as String.prototype.trim drops it (tab, LF, VT, FF, CR, space). */
const isBlank = (b: number) => b === 32 || (b >= 9 && b <= 13);

export function tsRoutes(server: HttpServer, dp: DataPlane): void {
  const { namespaces, ts } = dp;
  const retention = { type: 'object', properties: { max_age_ms: { type: 'integer', description: '0 = keep everything' } } };
  server.add({
    method: 'get', path: '/api/v1/ts/:namespace/retention', auth: 'api', tags: ['timeseries'],
    summary: "The namespace's time-series retention",
    params,
    responses: { 200: { description: 'retention', schema: retention }, 404: err('no such namespace') },
    handler(req: Req, res: Res) {
      namespaces.require(req.params.namespace, false);
      res.json(200, { max_age_ms: ts.getRetention(req.params.namespace) });
    },
  });
  server.add({
    method: 'put', path: '/api/v1/ts/:namespace/retention', auth: 'api', tags: ['timeseries'],
    summary: 'Set time-series retention for a namespace; older points are deleted in the background',
    params,
    body: { type: 'object', required: ['max_age_ms'], additionalProperties: false, properties: { max_age_ms: { type: 'integer', minimum: 0 } } },
    responses: { 200: { description: 'retention now in force', schema: retention } },
    async handler(req: Req, res: Res) {
      namespaces.require(req.params.namespace, true);
      res.json(200, { max_age_ms: await ts.setRetention(req.params.namespace, (req.body as { max_age_ms: number }).max_age_ms) });
    },
  });
  server.add({
    method: 'post', path: '/api/v1/ts/:namespace/write', auth: 'api', tags: ['timeseries'],
    summary: 'Write points in InfluxDB line protocol (text body); a bad line rejects the whole batch with its line number',
    params,
    rawBody: 'bytes', // invalid UTF-8 is rejected, not decoded to U+FFFD
    query: { type: 'object', additionalProperties: false, properties: { precision: { type: 'string', enum: ['ns', 'us', 'ms', 's'], default: 'ns' } } },
    responses: { 200: { description: 'written (durable)', schema: { type: 'object', properties: { written: { type: 'integer', description: 'field values stored' } } } }, 400: err('a bad line (details.line says which), including names or values that are not valid UTF-8') },
    async handler(req: Req, res: Res) {
      const { namespace } = req.params;
      const bytes = req.body as Buffer;
      if (bytes.every(isBlank)) throw new HttpError('bad_request', 'body is empty: send one or more lines of line protocol', { fields: [{ field: 'body', message: 'required' }] });
      let points;
      try {
        points = parseLineProtocol(bytes, { precision: req.query.precision as 'ns', now: Date.now() });
      } catch (e) {
        if (e instanceof LineProtocolError) throw new HttpError('bad_request', e.message, { line: e.line, fields: [{ field: 'body', message: e.message }] });
        throw e;
      }
      namespaces.require(namespace, true);
      res.json(200, { written: await ts.write(namespace, points) });
    },
  });
  server.add({
    method: 'post', path: '/api/v1/ts/:namespace/query', auth: 'api', tags: ['timeseries'],
    summary: 'Run a FloQL query, e.g. cpu{host=web-01}[1h] | avg(5m) (see docs/floql.md)',
    params,
    body: { type: 'object', required: ['query'], additionalProperties: false, properties: { query: { type: 'string', minLength: 1, maxLength: 4096 }, rollups: { type: 'boolean', default: true, description: 'false reads raw points only; rollups give the same answer faster' } } },
    responses: {
      200: { description: 'series', schema: { type: 'object', properties: { series: { type: 'array', items: { type: 'object', properties: { measurement: { type: 'string' }, field: { type: 'string' }, tags: { type: 'object' }, points: { type: 'array', items: { type: 'object', properties: { timestamp: { type: 'number' }, value: { type: 'number' } } } } } } } } } },
      400: err('a syntax error (details.position), or no field named and several exist (details.fields)'),
    },
    async handler(req: Req, res: Res) {
      const { namespace } = req.params;
      const { query: q, rollups } = req.body as { query: string; rollups?: boolean };
      try {
        parseFloQL(q); // syntax errors answer here with their position; the worker parses again
      } catch (e) {
        if (e instanceof FloQLError) throw new HttpError('bad_request', `query ${e.message}`, { position: e.position, fields: [{ field: 'body.query', message: e.message }] });
        throw e;
      }
      namespaces.require(namespace, false);
      const r = await dp.tsQuery(namespace, q, rollups !== false);
      if ('error' in r) {
        if (r.error === 'unknown_measurement') throw new HttpError('not_found', r.message, { fields: r.fields });
        throw new HttpError('bad_request', r.message, { fields: r.fields.map((f) => ({ field: f, message: 'candidate field' })), available_fields: r.fields });
      }
      res.json(200, r);
    },
  });
}
