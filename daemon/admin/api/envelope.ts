// The control-plane framing of the Edge Admin reference: `{data, meta: {request_id,
// timestamp}}`, lists with meta.pagination, errors `{error: {code, message, details}, meta}`
// where details maps each field to its messages. Plugged into daemon/http as its Envelope.
import { randomUUID } from 'node:crypto';
import { HttpError } from '../../base/errors';
import type { Envelope, Req, Res } from '../../http';
import type { Pagination } from './list';

const CLIENT_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Data-plane codes that the reference spells differently. */
const CODE_NAMES: Record<string, string> = Object.assign(Object.create(null) as Record<string, string>, { unavailable: 'service_unavailable', internal: 'internal_error' });

export const adminEnvelope: Envelope = {
  requestId(header) {
    return CLIENT_ID_RE.test(header) ? header : randomUUID();
  },
  error(e, requestId) {
    let code: string = e.code;
    let status = e.status;
    // Schema violations in a body are 422 validation_failed (the reference's changeset errors);
    // in params/query, and unparsable JSON, they stay 400 bad_request.
    if (code === 'bad_request' && (e as { where?: string }).where === 'body') { code = 'validation_failed'; status = 422; }
    code = CODE_NAMES[code] ?? code;
    const details = detailsOf(e);
    return { status, body: JSON.stringify({ error: { code, message: e.message, ...(details ? { details } : {}) }, meta: meta(requestId) }) };
  },
};

/** `{fields: [{field: "body.name", message}]}` → `{name: [message]}`; other details pass through. */
function detailsOf(e: HttpError): Record<string, unknown> | undefined {
  const d = e.details;
  if (!d || Object.keys(d).length === 0) return undefined;
  const fields = Object.hasOwn(d, 'fields') ? d.fields : undefined;
  // Only the validator's list form is rewritten; a details map that merely has a key named
  // "fields" (a field of that name at fault) passes through as it is.
  if (!Array.isArray(fields) || !fields.every((f) => f && typeof f === 'object' && typeof f.field === 'string')) return d;
  // Field names come from the request (`{"constructor": 1}` is an unknown field named
  // "constructor"): a dictionary without a prototype keeps them ordinary keys.
  const out = Object.create(null) as Record<string, string[]>;
  for (const f of fields as Array<{ field: string; message: unknown }>) {
    const name = f.field.replace(/^(body|query|params)\.?/, '') || f.field;
    (Object.hasOwn(out, name) ? out[name] : (out[name] = [])).push(String(f.message));
  }
  return out;
}

export function meta(requestId: string | undefined): { request_id: string; timestamp: string } {
  return { request_id: requestId ?? randomUUID(), timestamp: new Date().toISOString() };
}

/** 200/201 `{data, meta}`. */
export function ok(req: Req, res: Res, data: unknown, status = 200): void {
  res.json(status, { data, meta: meta(req.requestId) });
}

/** 200 `{data: [...], meta: {pagination, request_id, timestamp}}`. */
export function paged(req: Req, res: Res, data: unknown[], pagination: Pagination): void {
  res.json(200, { data, meta: { pagination, ...meta(req.requestId) } });
}

export function noContent(res: Res): void {
  res.send(204, '', 'application/json');
}

/** 422 validation_failed naming the fields at fault. */
export function invalid(fields: Record<string, string>, message = 'Validation failed'): HttpError {
  return new HttpError('validation_failed', message, { fields: Object.entries(fields).map(([field, m]) => ({ field, message: m })) });
}

export const notFound = (what: string, id: string): HttpError => new HttpError('not_found', `${what} ${JSON.stringify(id)} not found`);
export const conflict = (message: string, fields?: Record<string, string>): HttpError =>
  new HttpError('conflict', message, fields ? { fields: Object.entries(fields).map(([field, m]) => ({ field, message: m })) } : {});
