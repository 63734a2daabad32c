// The daemon's registry of coded HTTP errors (data-plane / Flo format). Every code here is
// documented in docs/errors.md; a test checks that.
import { isCoreError, type CoreErrorCode } from '../../core';

export const HttpErrors = {
  bad_request: { status: 400, message: 'Invalid request parameters' },
  unauthorized: { status: 401, message: 'Missing or invalid auth token' },
  forbidden: { status: 403, message: 'The token does not grant this scope' },
  not_found: { status: 404, message: 'Resource not found' },
  method_not_allowed: { status: 405, message: 'Method not allowed on this route' },
  conflict: { status: 409, message: 'Version conflict' },
  validation_failed: { status: 422, message: 'Validation failed' },
  payload_too_large: { status: 413, message: 'Request body too large' },
  overloaded: { status: 429, message: 'Server at capacity, retry later' },
  internal: { status: 500, message: 'Server error' },
  unavailable: { status: 503, message: 'Node not ready or shutting down' },
} as const;

export type HttpErrorCode = keyof typeof HttpErrors;

export const STATUS_LINES: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 204: '204 No Content', 400: '400 Bad Request', 401: '401 Unauthorized',
  403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed', 409: '409 Conflict',
  413: '413 Payload Too Large', 422: '422 Unprocessable Entity', 429: '429 Too Many Requests', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

export class HttpError extends Error {
  readonly code: HttpErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown>;
  /** Fields the Flo reference puts at the top level of the body (`key`, `current_version`). */
  readonly extra?: Record<string, unknown>;
  constructor(code: HttpErrorCode, message?: string, details: Record<string, unknown> = {}, extra?: Record<string, unknown>) {
    super(message ?? HttpErrors[code].message);
    this.code = code;
    this.status = HttpErrors[code].status;
    this.details = details;
    this.extra = extra;
  }

  body(): string {
    return JSON.stringify({ error: this.code, message: this.message, details: this.details, ...this.extra });
  }
}

const CORE_TO_HTTP: Record<CoreErrorCode, HttpErrorCode> = {
  CORE_NAMESPACE_INVALID: 'bad_request',
  CORE_NAMESPACE_NOT_FOUND: 'not_found',
  CORE_NAMESPACE_EXISTS: 'conflict',
  CORE_KEY_INVALID: 'bad_request',
  CORE_VALUE_TOO_LARGE: 'payload_too_large',
  CORE_OVERLOADED: 'overloaded',
  CORE_CLOSED: 'unavailable',
  CORE_PARTITION_MISMATCH: 'internal',
  CORE_WORKER_FAILED: 'internal',
};

/** Turns anything thrown by a route into an HttpError; unknown errors become 500 `internal`. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (isCoreError(err)) return new HttpError(CORE_TO_HTTP[err.code], err.message, err.details ?? {});
  return new HttpError('internal', 'internal server error');
}
