// The webhook routes' AdminEnvelope on the admin app: data and pages go out through the admin
// API's own helpers (api/envelope.ts: request id from the server's frame, meta.pagination), and
// the service's AdminApiErrors are rendered by the admin envelope as HttpErrors, so webhook
// errors look exactly like every other control-plane error.
import { HttpError, type HttpErrorCode } from '../../base/errors';
import type { Logger } from '../../base/log';
import { adminEnvelope, meta } from '../api/envelope';
import type { AdminEnvelope } from './envelope';
import { AdminApiError } from './errors';

export function adminAppEnvelope(log?: Logger): AdminEnvelope {
  return {
    ok(req, res, status, data, pagination) {
      res.json(status, pagination ? { data, meta: { pagination, ...meta(req.requestId) } } : { data, meta: meta(req.requestId) });
    },
    noContent(_req, res) {
      res.send(204, '', 'application/json');
    },
    fail(req, res, err) {
      let e: HttpError;
      if (err instanceof AdminApiError) e = new HttpError(err.code as HttpErrorCode, err.message, err.details ?? {});
      else {
        log?.error({ err }, 'webhook API: unexpected error');
        e = new HttpError('internal');
      }
      const out = adminEnvelope.error!(e, req.requestId ?? '');
      res.send(out.status, out.body, 'application/json');
    },
  };
}
