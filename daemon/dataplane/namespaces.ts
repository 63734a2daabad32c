import type { DataPlane } from '../../core';
import type { HttpServer, Req, Res } from '../http';
import { namespaceParam } from './schemas';
import { err } from '../http/error-body';

const nsInfo = { type: 'object', required: ['name', 'created_at'], properties: { name: { type: 'string' }, created_at: { type: 'string', format: 'date-time' } } };

export function namespaceRoutes(server: HttpServer, dp: DataPlane): void {
  const { namespaces } = dp;
  server.add({
    method: 'get', path: '/api/v1/namespaces', auth: 'api', tags: ['namespaces'],
    summary: 'List all namespaces',
    responses: { 200: { description: 'namespaces, sorted by name', schema: { type: 'object', properties: { namespaces: { type: 'array', items: nsInfo } } } } },
    handler(_req: Req, res: Res) {
      res.json(200, { namespaces: namespaces.list() });
    },
  });
  server.add({
    method: 'post', path: '/api/v1/namespaces', auth: 'api', tags: ['namespaces'],
    summary: 'Create a namespace',
    body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: namespaceParam } },
    responses: { 201: { description: 'created', schema: nsInfo }, 409: err('already exists') },
    handler(req: Req, res: Res) {
      res.json(201, namespaces.create((req.body as { name: string }).name, false));
    },
  });
}
