// The daemon's one registry of coded errors (fastify `lib/errors.js` style). Stores, services
// and routes throw domain errors made by createError (`new NotFound(…)`, `new Conflict(…)`,
// `invalid({field: why})`); the HTTP wrapper renders them in the wire family of its server:
//   - Flo (the agent listener and every server without an envelope): `{error, message, details}`
//     (floBody);
//   - Edge Admin (the admin API): `{error: {code, message, details}, meta}` (adminBody), with
//     the family's own spelling of some codes (ADMIN_CODES).
// Every code of both families is documented with its status in docs/errors.md; a test
// (test/errors-registry.test.ts) checks the tables against the page both ways.
import { randomUUID } from 'node:crypto';
import { isCoreError, type CoreErrorCode } from '../../core';

export type Details = Record<string, unknown>;

/**
 * The base of every coded error: a domain code (the Flo family's spelling), its HTTP status and
 * details. Branch on `code`, not on the class, where errors cross threads or plugins.
 */
export class CodedError<C extends string = ErrorCode> extends Error {
  readonly code: C;
  readonly statusCode: number;
  readonly details: Details;
  /** Fields the Flo reference puts at the top level of the body (`key`, `current_version`). */
  readonly extra?: Details;
  constructor(code: C, message?: string, details: Details = {}, extra?: Details, options?: { cause?: unknown }) {
    const def = REGISTRY.get(code);
    if (!def) throw new TypeError(`unregistered error code ${JSON.stringify(code)}`);
    super(message ?? def.message, options);
    this.name = def.name;
    this.code = code;
    this.statusCode = def.status;
    this.details = details;
    this.extra = extra;
  }

  /** The HTTP status (same as statusCode). */
  get status(): number {
    return this.statusCode;
  }

  /** The Flo body. */
  body(): string {
    return floBody(this);
  }
}

/** The wrapper, the data-plane routes and the tests know the base class by this name. */
export const HttpError = CodedError;
export type HttpError = CodedError;

export interface CodedErrorClass<C extends string> {
  new (message?: string, details?: Details, extra?: Details, options?: { cause?: unknown }): CodedError<C>;
  readonly code: C;
  readonly statusCode: number;
  /** The default message. */
  readonly message: string;
}

interface Registered { status: number; message: string; name: string }
const REGISTRY = new Map<string, Registered>();

/**
 * Registers `code` with its HTTP status and default message and returns its error class
 * (@fastify/error's createError). A message given to the constructor replaces the default.
 */
export function createError<C extends string>(code: C, status: number, message: string): CodedErrorClass<C> {
  if (REGISTRY.has(code)) throw new TypeError(`error code ${code} is registered twice`);
  const name = code.replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase()) + 'Error';
  REGISTRY.set(code, { status, message, name });
  const cls = class extends CodedError<C> {
    static readonly code = code;
    static readonly statusCode = status;
    static readonly message = message;
    constructor(msg?: string, details?: Details, extra?: Details, options?: { cause?: unknown }) {
      super(code, msg, details, extra, options);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls as unknown as CodedErrorClass<C>;
}

// ---- the domain codes (the Flo family spells them as they are) ----
export const BadRequest = createError('bad_request', 400, 'Invalid request parameters');
export const Unauthorized = createError('unauthorized', 401, 'Missing or invalid auth token');
export const Forbidden = createError('forbidden', 403, 'The token does not grant this scope');
export const NotFound = createError('not_found', 404, 'Resource not found');
export const MethodNotAllowed = createError('method_not_allowed', 405, 'Method not allowed on this route');
export const Conflict = createError('conflict', 409, 'Version conflict');
export const ValidationFailed = createError('validation_failed', 422, 'Validation failed');
export const PayloadTooLarge = createError('payload_too_large', 413, 'Request body too large');
export const Overloaded = createError('overloaded', 429, 'Server at capacity, retry later');
export const Internal = createError('internal', 500, 'Server error');
export const Unavailable = createError('unavailable', 503, 'Node not ready or shutting down');

const DOMAIN = [BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict, ValidationFailed, PayloadTooLarge, Overloaded, Internal, Unavailable] as const;
export type ErrorCode = 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'method_not_allowed' | 'conflict'
  | 'validation_failed' | 'payload_too_large' | 'overloaded' | 'internal' | 'unavailable';
/** @deprecated the old name of ErrorCode */
export type HttpErrorCode = ErrorCode;

/** The Flo family's code table: code → status and default message. */
export const HttpErrors = Object.freeze(Object.fromEntries(DOMAIN.map((c) => [c.code, { status: c.statusCode, message: c.message }]))) as
  Readonly<Record<ErrorCode, { status: number; message: string }>>;
export const FloErrors = HttpErrors;

/**
 * The Edge Admin family: the domain codes it spells differently. Everything else keeps its
 * domain name; a 400 whose fault is in the request body becomes 422 `validation_failed`.
 */
export const ADMIN_CODES: Readonly<Partial<Record<ErrorCode, string>>> = Object.freeze({ unavailable: 'service_unavailable', internal: 'internal_error' });

/** The Edge Admin family's code table: code → status. */
export const AdminErrors: Readonly<Record<string, { status: number }>> = Object.freeze(Object.fromEntries(
  DOMAIN.map((c) => [ADMIN_CODES[c.code] ?? c.code, { status: c.statusCode }]),
));

export const STATUS_LINES: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 204: '204 No Content', 400: '400 Bad Request', 401: '401 Unauthorized',
  403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed', 409: '409 Conflict',
  413: '413 Payload Too Large', 422: '422 Unprocessable Entity', 429: '429 Too Many Requests', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

// ---- domain error helpers: field errors and the usual messages ----

/** `{fields: [{field, message}]}`: the details of an error that names the fields at fault. */
export function fieldDetails(fields: Record<string, string>): Details {
  return { fields: Object.entries(fields).map(([field, message]) => ({ field, message })) };
}

/** 422 validation_failed naming the fields at fault. */
export function invalid(fields: Record<string, string>, message = 'Validation failed'): CodedError {
  return new ValidationFailed(message, fieldDetails(fields));
}

/** 404 `<what> "<id>" not found`. */
export const notFound = (what: string, id: string): CodedError => new NotFound(`${what} ${JSON.stringify(id)} not found`);

/** 409 with the fields at fault, if any. */
export const conflict = (message: string, fields?: Record<string, string>): CodedError => new Conflict(message, fields ? fieldDetails(fields) : {});

/** Field → messages: the Edge Admin details shape. No prototype: field names come from the request. */
export type FieldErrors = Record<string, string[]>;

export function fieldErrors(): FieldErrors {
  return Object.create(null) as FieldErrors;
}

/** Adds `message` under `field`. */
export function addError(errors: FieldErrors, field: string, message: string): void {
  const list = Object.hasOwn(errors, field) ? errors[field] : (errors[field] = []);
  list.push(message);
}

// ---- mapping: anything thrown → a coded error → a wire family's body ----

/** How the engine's coded errors answer over HTTP. */
export const CORE_TO_HTTP: Readonly<Record<CoreErrorCode, ErrorCode>> = {
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

/** Turns anything thrown by a route into a coded error; unknown errors become 500 `internal`. */
export function toHttpError(err: unknown): CodedError {
  if (err instanceof CodedError) return err;
  if (isCoreError(err)) return new CodedError(CORE_TO_HTTP[err.code], err.message, err.details ?? {});
  return new Internal('internal server error');
}

/** The Flo body: `{error, message, details, ...extra}`. */
export function floBody(e: CodedError<string>): string {
  return JSON.stringify({ error: e.code, message: e.message, details: e.details, ...e.extra });
}

/** The Edge Admin body: `{error: {code, message[, details]}, meta}` and its status. */
export function adminBody(e: CodedError<string>, requestId: string | undefined): { status: number; body: string } {
  let code: string = e.code;
  let status = e.statusCode;
  // Schema violations in a body are 422 validation_failed (the reference's changeset errors);
  // in params/query, and unparsable JSON, they stay 400 bad_request.
  if (code === 'bad_request' && (e as { where?: string }).where === 'body') { code = 'validation_failed'; status = 422; }
  code = ADMIN_CODES[code as ErrorCode] ?? code;
  const details = adminDetails(e.details);
  return { status, body: JSON.stringify({ error: { code, message: e.message, ...(details ? { details } : {}) }, meta: meta(requestId) }) };
}

/** The Edge Admin `meta` of every answer. */
export function meta(requestId: string | undefined): { request_id: string; timestamp: string } {
  return { request_id: requestId ?? randomUUID(), timestamp: new Date().toISOString() };
}

/** `{fields: [{field: "body.name", message}]}` → `{name: [message]}`; other details pass through; empty → none. */
function adminDetails(d: Details | undefined): Details | undefined {
  if (!d || Object.keys(d).length === 0) return undefined;
  const fields = Object.hasOwn(d, 'fields') ? d.fields : undefined;
  // Only the validator's list form is rewritten; a details map that merely has a key named
  // "fields" (a field of that name at fault) passes through as it is.
  if (!Array.isArray(fields) || !fields.every((f) => f && typeof f === 'object' && typeof f.field === 'string')) return d;
  // Field names come from the request (`{"constructor": 1}` is an unknown field named
  // "constructor"): a dictionary without a prototype keeps them ordinary keys.
  const out = fieldErrors();
  for (const f of fields as Array<{ field: string; message: unknown }>) {
    const name = f.field.replace(/^(body|query|params)\.?/, '') || f.field;
    addError(out, name, String(f.message));
  }
  return out;
}
