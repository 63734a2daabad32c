// Paginated, filtered, sorted lists for the control-plane API, the same on SQLite and
// PostgreSQL. A resource declares its filters and sortable fields once (ListSpec); from that
// come the query's JSON schema (validation + OpenAPI) and the SQL. Filter styles of the
// reference: exact, `*` wildcards (LIKE, case-insensitive, with %/_ escaped), case-insensitive
// substring, integer =/__gte/__lte, date __gte/__lte (a bare date is the start of that UTC day
// for __gte and its end for __lte), booleans (custom predicates), enums. Ordering: order_by +
// order_directions against an allow-list, NULLs last when ascending, ties broken by id.
import { sql, type Expression, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import { BadRequest, CodedError } from '../../base/errors';
import type { JsonSchema } from '../../http';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type AnyQb = SelectQueryBuilder<any, any, any>;

/** A column ('table.col') or any SQL expression. */
export type Sqlish = string | RawBuilder<unknown>;

export type FilterDef =
  /** Exact match, or a pattern when the value contains `*`. */
  | { kind: 'text'; expr: Sqlish; description: string }
  /** Case-insensitive substring, or a pattern when the value contains `*`. */
  | { kind: 'contains'; expr: Sqlish; description: string }
  /** Exact only (ids, keys); `pattern` makes a malformed value a 400 (e.g. a node id that is not a UUID). */
  | { kind: 'exact'; expr: Sqlish; description: string; pattern?: string }
  | { kind: 'enum'; expr: Sqlish; values: readonly string[]; description: string; aliases?: Record<string, string> }
  /** `name`, `name__gte`, `name__lte` as listed in ops. */
  | { kind: 'int'; expr: Sqlish; ops: ReadonlyArray<'eq' | 'gte' | 'lte'>; description: string; minimum?: number }
  /** `name__gte`, `name__lte`. */
  | { kind: 'date'; expr: Sqlish; description?: string }
  /** A boolean predicate of its own (has_x, is_y). */
  | { kind: 'bool'; where: (v: boolean) => Expression<SqlBool>; description: string };

/** `has_x`-style filter: true keeps rows where `column` is set, false rows where it is NULL. */
export function isSetFilter(column: string, description: string): FilterDef {
  return { kind: 'bool', where: (v) => (v ? sql<SqlBool>`${sql.ref(column)} is not null` : sql<SqlBool>`${sql.ref(column)} is null`), description };
}

export interface ListSpec {
  filters: Record<string, FilterDef>;
  /** API field name → SQL expression it sorts by. */
  sort: Record<string, Sqlish>;
  defaultSort: ReadonlyArray<readonly [string, 'asc' | 'desc']>;
  /** The unique tie-breaker, e.g. 'clusters.id'. */
  id: string;
}

export interface Pagination {
  page: number; page_size: number; total_count: number; total_pages: number;
  has_next: boolean; has_prev: boolean; next_page: number | null; prev_page: number | null;
}

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

const ref = (e: Sqlish): RawBuilder<unknown> => (typeof e === 'string' ? sql.ref(e) : e);

const dateSchema = (desc: string) => ({ type: 'string', minLength: 10, maxLength: 40, description: desc });

/** The query-string schema of a list route: pagination, ordering and every filter. */
export function listQuerySchema(spec: ListSpec): JsonSchema {
  const props: Record<string, unknown> = {
    page: { type: 'integer', minimum: 1, default: 1, description: 'Page number (1-indexed)' },
    page_size: { type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, description: `Items per page (max ${MAX_PAGE_SIZE})` },
    order_by: { type: 'string', maxLength: 512, description: `Comma-separated list of fields to sort by: ${Object.keys(spec.sort).join(', ')}` },
    order_directions: { type: 'string', maxLength: 512, description: 'Comma-separated list of sort directions (asc/desc) corresponding to order_by fields' },
  };
  for (const [name, f] of Object.entries(spec.filters)) {
    switch (f.kind) {
      case 'text': case 'contains': case 'exact':
        props[name] = { type: 'string', minLength: 1, maxLength: 1024, ...(f.kind === 'exact' && f.pattern ? { pattern: f.pattern } : {}), description: f.description };
        break;
      case 'enum':
        props[name] = { type: 'string', enum: [...f.values, ...Object.keys(f.aliases ?? {})], description: f.description };
        break;
      case 'int':
        for (const op of f.ops) props[op === 'eq' ? name : `${name}__${op}`] = { type: 'integer', ...(f.minimum !== undefined ? { minimum: f.minimum } : {}), description: op === 'eq' ? f.description : `${f.description} (${op === 'gte' ? 'minimum' : 'maximum'})` };
        break;
      case 'date':
        props[`${name}__gte`] = dateSchema(`Filter records where ${name} is on or after this datetime (ISO 8601 datetime; date-only is treated as start of day UTC)`);
        props[`${name}__lte`] = dateSchema(`Filter records where ${name} is on or before this datetime (ISO 8601 datetime; date-only is treated as end of day UTC)`);
        break;
      case 'bool':
        props[name] = { type: 'boolean', description: f.description };
        break;
    }
  }
  return { type: 'object', additionalProperties: false, properties: props };
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A filter date as the store's ISO string. Date-only: start of the UTC day for `gte`, its last
 * millisecond for `lte`. A datetime without an offset is UTC. Throws 400 naming `field`.
 */
export function filterDate(value: string, bound: 'gte' | 'lte', field: string): string {
  const bad = () => new BadRequest(`${field} must be an ISO 8601 date (YYYY-MM-DD) or datetime (got ${JSON.stringify(value)})`, { fields: [{ field, message: 'must be an ISO 8601 date or datetime' }] });
  const d = DATE_ONLY.exec(value);
  if (d) {
    const start = Date.UTC(Number(d[1]), Number(d[2]) - 1, Number(d[3]));
    if (new Date(start).toISOString().slice(0, 10) !== value) throw bad();
    return new Date(bound === 'gte' ? start : start + 86_400_000 - 1).toISOString();
  }
  if (!DATE_TIME.test(value)) throw bad();
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(value);
  const ms = Date.parse(hasZone ? value.replace(' ', 'T') : `${value.replace(' ', 'T')}Z`);
  if (Number.isNaN(ms)) throw bad();
  return new Date(ms).toISOString();
}

/** `*` → `%`; literal `%`, `_` and `\` escaped (used with ESCAPE '\'). */
export function likePattern(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%');
}

function like(e: Sqlish, pattern: string): RawBuilder<SqlBool> {
  return sql<SqlBool>`lower(${ref(e)}) like lower(cast(${pattern} as text)) escape '\\'`;
}

/**
 * Applies the filters present in `values` (a validated query object or a targeting filter
 * object) to a query. Unknown keys are ignored here (the schema rejects them).
 */
export function applyFilters<Q extends AnyQb>(qb: Q, spec: ListSpec, values: Record<string, unknown>, fieldPrefix = ''): Q {
  let q: AnyQb = qb;
  for (const [name, f] of Object.entries(spec.filters)) {
    switch (f.kind) {
      case 'text': case 'contains': case 'exact': {
        const v = values[name];
        if (typeof v !== 'string') break;
        if (f.kind !== 'exact' && v.includes('*')) q = q.where(like(f.expr, likePattern(v)));
        else if (f.kind === 'contains') q = q.where(like(f.expr, `%${likePattern(v)}%`));
        else q = q.where(sql<SqlBool>`${ref(f.expr)} = ${v}`);
        break;
      }
      case 'enum': {
        const v = values[name];
        if (typeof v === 'string') q = q.where(sql<SqlBool>`${ref(f.expr)} = ${f.aliases?.[v] ?? v}`);
        break;
      }
      case 'int': {
        const eq = values[name], gte = values[`${name}__gte`], lte = values[`${name}__lte`];
        if (typeof eq === 'number') q = q.where(sql<SqlBool>`${ref(f.expr)} = ${eq}`);
        if (typeof gte === 'number') q = q.where(sql<SqlBool>`${ref(f.expr)} >= ${gte}`);
        if (typeof lte === 'number') q = q.where(sql<SqlBool>`${ref(f.expr)} <= ${lte}`);
        break;
      }
      case 'date': {
        const gte = values[`${name}__gte`], lte = values[`${name}__lte`];
        if (typeof gte === 'string') q = q.where(sql<SqlBool>`${ref(f.expr)} >= ${filterDate(gte, 'gte', `${fieldPrefix}${name}__gte`)}`);
        if (typeof lte === 'string') q = q.where(sql<SqlBool>`${ref(f.expr)} <= ${filterDate(lte, 'lte', `${fieldPrefix}${name}__lte`)}`);
        break;
      }
      case 'bool': {
        const v = values[name];
        if (typeof v === 'boolean') q = q.where(f.where(v));
        break;
      }
    }
  }
  return q as Q;
}

/** order_by / order_directions → [field, dir] pairs; 400 naming the parameter when invalid. */
export function parseOrder(spec: ListSpec, orderBy: unknown, directions: unknown): Array<[string, 'asc' | 'desc']> {
  if (typeof orderBy !== 'string' || orderBy.trim() === '') {
    if (typeof directions === 'string' && directions.trim() !== '') throw orderError('order_directions', 'order_directions needs order_by');
    return spec.defaultSort.map(([f, d]) => [f, d]);
  }
  const fields = orderBy.split(',').map((s) => s.trim());
  const dirs = typeof directions === 'string' && directions.trim() !== '' ? directions.split(',').map((s) => s.trim().toLowerCase()) : [];
  const allowed = Object.keys(spec.sort);
  for (const f of fields) {
    if (!Object.hasOwn(spec.sort, f)) throw orderError('order_by', `cannot sort by '${f}'; sortable fields: ${allowed.join(', ')}`);
  }
  if (new Set(fields).size !== fields.length) throw orderError('order_by', 'a field appears twice in order_by');
  if (dirs.length > fields.length) throw orderError('order_directions', `${dirs.length} directions for ${fields.length} order_by fields`);
  for (const d of dirs) if (d !== 'asc' && d !== 'desc') throw orderError('order_directions', `direction '${d}' must be asc or desc`);
  return fields.map((f, i) => [f, (dirs[i] ?? 'asc') as 'asc' | 'desc']);
}

function orderError(field: string, message: string): CodedError {
  return new BadRequest(message, { fields: [{ field: `query.${field}`, message }] });
}

export function pagination(page: number, pageSize: number, total: number): Pagination {
  const totalPages = Math.ceil(total / pageSize);
  const hasNext = page < totalPages;
  const hasPrev = page > 1;
  return { page, page_size: pageSize, total_count: total, total_pages: totalPages, has_next: hasNext, has_prev: hasPrev, next_page: hasNext ? page + 1 : null, prev_page: hasPrev ? page - 1 : null };
}

/**
 * Runs a list: `base` is the FROM/JOIN part (no select), `select` adds the selected columns.
 * Returns one page of rows and its pagination.
 */
export async function runList<R>(base: AnyQb, select: (qb: AnyQb) => AnyQb, spec: ListSpec, query: Record<string, unknown>): Promise<{ rows: R[]; pagination: Pagination }> {
  const page = typeof query.page === 'number' ? query.page : 1;
  const pageSize = typeof query.page_size === 'number' ? query.page_size : DEFAULT_PAGE_SIZE;
  const order = parseOrder(spec, query.order_by, query.order_directions);
  const filtered = applyFilters(base, spec, query, 'query.');
  const countRow = await filtered.select(sql<number>`count(*)`.as('total_count')).executeTakeFirst() as { total_count: number | string } | undefined;
  const total = Number(countRow?.total_count ?? 0);
  let q = select(filtered);
  for (const [f, d] of order) q = q.orderBy(d === 'asc' ? sql`${ref(spec.sort[f])} asc nulls last` : sql`${ref(spec.sort[f])} desc nulls first`);
  if (!order.some(([f]) => spec.sort[f] === spec.id)) q = q.orderBy(sql`${sql.ref(spec.id)} asc`);
  const rows = await q.limit(pageSize).offset((page - 1) * pageSize).execute() as R[];
  return { rows, pagination: pagination(page, pageSize, total) };
}
