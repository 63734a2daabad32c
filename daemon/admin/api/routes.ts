// Route shapes every control-plane resource repeats: get one by id (404 with its name when
// missing) and list a page (filters, order, pagination through api/list.ts).
import type { HttpServer, Req, Res } from '../../http';
import type { JsonSchema } from '../../http/validate';
import { noContent, notFound, ok, paged } from './envelope';
import { listQuerySchema, runList, type AnyQb, type ListSpec } from './list';
import { paginated, single } from './schemas';

export interface GetRoute<T> {
  path: string;
  tags: string[];
  summary: string;
  params: JsonSchema;
  /** Singular name in descriptions and 404 messages ("command execution"). */
  what: string;
  schema: JsonSchema;
  load(id: string): Promise<T | undefined>;
  /** The response's data; `req` tells who asks (req.scope), for fields only some callers see. */
  view(row: T, req: Req): unknown;
}

export function getRoute<T>(http: HttpServer, r: GetRoute<T>): void {
  http.add({
    method: 'get', path: r.path, auth: 'api', tags: r.tags, summary: r.summary, params: r.params,
    responses: { 200: { description: `the ${r.what}`, schema: single(r.schema) }, 404: { description: `no such ${r.what}` } },
    async handler(req: Req, res: Res) {
      const row = await r.load(req.params.id);
      if (row === undefined) throw notFound(r.what, req.params.id);
      ok(req, res, r.view(row, req));
    },
  });
}

export interface ListRoute<R> {
  path: string;
  tags: string[];
  summary: string;
  /** Plural name in the response description ("nodes"). */
  what: string;
  schema: JsonSchema;
  spec: ListSpec;
  base(): AnyQb;
  select(q: AnyQb): AnyQb;
  view(row: R, req: Req): unknown;
}

export function listRoute<R>(http: HttpServer, r: ListRoute<R>): void {
  http.add({
    method: 'get', path: r.path, auth: 'api', tags: r.tags, summary: r.summary,
    query: listQuerySchema(r.spec),
    responses: { 200: { description: `a page of ${r.what}`, schema: paginated(r.schema) } },
    async handler(req: Req, res: Res) {
      const { rows, pagination } = await runList<R>(r.base(), r.select, r.spec, req.query);
      paged(req, res, rows.map((row) => r.view(row, req)), pagination);
    },
  });
}

export interface DeleteRoute {
  path: string;
  tags: string[];
  summary: string;
  params: JsonSchema;
  what: string;
  /** Extra documented answers (e.g. 409 while something still depends on it). */
  responses?: Record<number, { description: string }>;
  /** Deletes; false = there was none (404). Throws for refusals such as 409. */
  remove(id: string): Promise<boolean | void>;
}

export function deleteRoute(http: HttpServer, r: DeleteRoute): void {
  http.add({
    method: 'delete', path: r.path, auth: 'api', tags: r.tags, summary: r.summary, params: r.params,
    responses: { 204: { description: 'deleted' }, 404: { description: `no such ${r.what}` }, ...r.responses },
    async handler(req: Req, res: Res) {
      if ((await r.remove(req.params.id)) === false) throw notFound(r.what, req.params.id);
      noContent(res);
    },
  });
}
