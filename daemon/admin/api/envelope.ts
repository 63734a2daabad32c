// The control-plane framing of the Edge Admin reference: `{data, meta: {request_id,
// timestamp}}`, lists with meta.pagination, errors `{error: {code, message, details}, meta}`
// where details maps each field to its messages (rendered by the error registry, base/errors.ts).
// Plugged into daemon/http as its Envelope.
import { randomUUID } from 'node:crypto';
import { adminBody, meta } from '../../base/errors';
import type { Envelope, Req, Res } from '../../http';
import type { Pagination } from './list';

const CLIENT_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** The Edge Admin wire family of the registry (daemon/base/errors.ts) as the admin server's envelope. */
export const adminEnvelope: Envelope = {
  requestId(header) {
    return CLIENT_ID_RE.test(header) ? header : randomUUID();
  },
  error: adminBody,
};

export { meta };

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

// Route code builds its errors with the registry's helpers; re-exported here beside ok()/paged().
export { conflict, invalid, notFound } from '../../base/errors';
