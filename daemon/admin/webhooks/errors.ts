// Errors of the control-plane API in the Edge Admin shape: `{error: {code, message, details}, meta}`
// where details maps a field to its messages. Thrown by the webhook service; the envelope renders them.

export type AdminErrorCode = 'bad_request' | 'not_found' | 'validation_failed' | 'internal';

const STATUS: Record<AdminErrorCode, number> = { bad_request: 400, not_found: 404, validation_failed: 422, internal: 500 };

export type FieldErrors = Record<string, string[]>;

export class AdminApiError extends Error {
  readonly status: number;
  constructor(readonly code: AdminErrorCode, message: string, readonly details: FieldErrors | null = null) {
    super(message);
    this.status = STATUS[code];
  }
}

export const badRequest = (details: FieldErrors) => new AdminApiError('bad_request', 'Invalid request parameters', details);
export const validationFailed = (details: FieldErrors) => new AdminApiError('validation_failed', 'Validation failed', details);
export const notFound = () => new AdminApiError('not_found', 'Resource not found');

/** An empty FieldErrors: no prototype, because field names come from the request (`valueOf`, `__proto__`). */
export function fieldErrors(): FieldErrors {
  return Object.create(null) as FieldErrors;
}

/** Adds `message` under `field`. */
export function addError(errors: FieldErrors, field: string, message: string): void {
  const list = Object.hasOwn(errors, field) ? errors[field] : (errors[field] = []);
  list.push(message);
}
