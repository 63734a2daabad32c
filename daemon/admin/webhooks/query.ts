// Query-string parsing for the webhook list (and the delivery log): pagination, the documented
// filters (url exact or `*` wildcard, event_type, inserted_at/updated_at __gte/__lte with the
// date-only rules), order_by + order_directions. Unknown parameters are rejected so that a
// misspelled filter cannot silently return everything. Errors are 400 with per-field details.
import { DEFAULT_PAGE_SIZE, filterDate, MAX_PAGE_SIZE } from '../api/list';
import { isEventType } from './catalog';
import { addError, BadRequest, fieldErrors, type FieldErrors } from '../../base/errors';
import type { SortField, WebhookListQuery } from './ports';

export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, pagination, type Pagination } from '../api/list';
const SORT_FIELDS: readonly SortField[] = ['id', 'url', 'inserted_at', 'updated_at'];

const str = { type: 'string' } as const;
const dateParam = (what: string) => ({ type: 'string', description: what });

/** Query schema for the route spec / OpenAPI. Deliberately loose (strings, no patterns): parseListQuery validates, so errors come in the admin envelope. */
export const PAGE_QUERY_PROPS = {
  page: { type: 'string', description: 'Page number (1-indexed; default 1)' },
  page_size: { type: 'string', description: `Items per page (default ${DEFAULT_PAGE_SIZE}, at most ${MAX_PAGE_SIZE})` },
};
export const WEBHOOK_LIST_QUERY = {
  type: 'object',
  properties: {
    ...PAGE_QUERY_PROPS,
    url: { ...str, description: 'Filter by URL (exact match, or wildcard with `*`: prefix*, *suffix, *substring*)' },
    event_type: { ...str, description: 'Webhooks whose subscribed_events contain this literal event type' },
    inserted_at__gte: dateParam('inserted_at on or after (ISO 8601; date-only = start of day UTC)'),
    inserted_at__lte: dateParam('inserted_at on or before (ISO 8601; date-only = end of day UTC)'),
    updated_at__gte: dateParam('updated_at on or after (ISO 8601; date-only = start of day UTC)'),
    updated_at__lte: dateParam('updated_at on or before (ISO 8601; date-only = end of day UTC)'),
    order_by: { ...str, description: `Comma-separated sort fields: ${SORT_FIELDS.join(', ')} (default inserted_at)` },
    order_directions: { ...str, description: 'Comma-separated asc/desc, one per order_by field (default asc)' },
  },
} as const;

/** An ISO 8601 bound → full ISO timestamp (null when invalid); date-only expands to the start (gte) or end (lte) of the UTC day. */
export function parseDateBound(v: string, end: boolean): string | null {
  try { return filterDate(v, end ? 'lte' : 'gte', ''); } catch { return null; }
}

function positiveInt(q: Record<string, unknown>, name: string, def: number, max: number | undefined, errors: FieldErrors): number {
  const raw = q[name];
  if (raw === undefined || raw === '') return def;
  const s = String(raw);
  if (!/^[0-9]+$/.test(s) || Number(s) < 1) { addError(errors, name, 'must be a positive integer'); return def; }
  const n = Number(s);
  if (max !== undefined && n > max) { addError(errors, name, `must be at most ${max}`); return def; }
  return n;
}

export interface PageQuery { page: number; page_size: number }

export function parsePageQuery(q: Record<string, unknown>, allowed: readonly string[] = Object.keys(PAGE_QUERY_PROPS)): PageQuery {
  const errors = fieldErrors();
  rejectUnknown(q, allowed, errors);
  const out = { page: positiveInt(q, 'page', 1, undefined, errors), page_size: positiveInt(q, 'page_size', DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, errors) };
  if (Object.keys(errors).length) throw new BadRequest(undefined, errors);
  return out;
}

function rejectUnknown(q: Record<string, unknown>, allowed: readonly string[], errors: FieldErrors): void {
  for (const k of Object.keys(q)) if (!allowed.includes(k)) addError(errors, k, `is not a known parameter (known: ${allowed.join(', ')})`);
}

export function parseListQuery(q: Record<string, unknown>): WebhookListQuery {
  const errors = fieldErrors();
  rejectUnknown(q, Object.keys(WEBHOOK_LIST_QUERY.properties), errors);
  const out: WebhookListQuery = {
    page: positiveInt(q, 'page', 1, undefined, errors),
    page_size: positiveInt(q, 'page_size', DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, errors),
    order: [],
  };
  if (typeof q.url === 'string' && q.url !== '') out.url = q.url;
  if (typeof q.event_type === 'string' && q.event_type !== '') {
    if (!isEventType(q.event_type)) addError(errors, 'event_type', `unknown event type '${q.event_type}' (see GET /api/v1/event_types)`);
    else out.event_type = q.event_type;
  }
  for (const [param, key, end] of [
    ['inserted_at__gte', 'inserted_at_gte', false], ['inserted_at__lte', 'inserted_at_lte', true],
    ['updated_at__gte', 'updated_at_gte', false], ['updated_at__lte', 'updated_at_lte', true],
  ] as const) {
    const v = q[param];
    if (v === undefined || v === '') continue;
    const iso = parseDateBound(String(v), end);
    if (iso === null) addError(errors, param, 'must be an ISO 8601 date (YYYY-MM-DD) or date-time');
    else out[key] = iso;
  }
  const fields = typeof q.order_by === 'string' && q.order_by !== '' ? q.order_by.split(',').map((s) => s.trim()) : [];
  const dirs = typeof q.order_directions === 'string' && q.order_directions !== '' ? q.order_directions.split(',').map((s) => s.trim().toLowerCase()) : [];
  if (dirs.length > Math.max(fields.length, 1)) addError(errors, 'order_directions', 'has more entries than order_by');
  for (const d of dirs) if (d !== 'asc' && d !== 'desc') addError(errors, 'order_directions', `'${d}' is not asc or desc`);
  for (const f of fields) if (!SORT_FIELDS.includes(f as SortField)) addError(errors, 'order_by', `'${f}' is not sortable (use ${SORT_FIELDS.join(', ')})`);
  if (Object.keys(errors).length) throw new BadRequest(undefined, errors);
  out.order = fields.length
    ? fields.map((f, i) => ({ field: f as SortField, direction: (dirs[i] ?? 'asc') as 'asc' | 'desc' }))
    : [{ field: 'inserted_at', direction: (dirs[0] ?? 'asc') as 'asc' | 'desc' }];
  return out;
}

