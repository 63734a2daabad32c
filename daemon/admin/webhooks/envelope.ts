// The Edge Admin response envelope, as a small port the routes write through:
// `{data, meta: {request_id, timestamp[, pagination]}}` and errors `{error: {code, message,
// details}, meta}`, with x-request-id mirrored (the caller's when it sent a sane one). The
// admin app supplies its own at merge; referenceEnvelope is a complete stand-alone version.
import { randomUUID } from 'node:crypto';
import type { Req, Res } from '../../http';
import { AdminApiError } from './errors';
import type { Pagination } from './query';

export interface AdminEnvelope {
  ok(req: Req, res: Res, status: number, data: unknown, pagination?: Pagination): void;
  noContent(req: Req, res: Res): void;
  fail(req: Req, res: Res, err: unknown): void;
}

const SANE_ID = /^[\x21-\x7e]{1,128}$/;

function requestId(req: Req): string {
  const given = req.headers['x-request-id'];
  return given && SANE_ID.test(given) ? given : randomUUID();
}

export const referenceEnvelope: AdminEnvelope = {
  ok(req, res, status, data, pagination) {
    const id = requestId(req);
    const meta = { ...(pagination ? { pagination } : {}), request_id: id, timestamp: new Date().toISOString() };
    res.send(status, JSON.stringify({ data, meta }), 'application/json', { 'x-request-id': id });
  },
  noContent(req, res) {
    res.send(204, '', 'application/json', { 'x-request-id': requestId(req) });
  },
  fail(req, res, err) {
    const id = requestId(req);
    const e = err instanceof AdminApiError ? err : new AdminApiError('internal', 'Internal server error');
    const body = { error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) }, meta: { request_id: id, timestamp: new Date().toISOString() } };
    res.send(e.status, JSON.stringify(body), 'application/json', { 'x-request-id': id });
  },
};
