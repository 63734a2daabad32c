// Coded errors of the data engine. Callers (HTTP routes, the CLI, peers) branch on `code`, never
// on `instanceof`, because errors cross worker-thread boundaries as plain objects.
export const CoreErrorCodes = {
  CORE_NAMESPACE_INVALID: 'namespace name must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
  CORE_NAMESPACE_NOT_FOUND: 'namespace does not exist',
  CORE_NAMESPACE_EXISTS: 'namespace already exists',
  CORE_KEY_INVALID: 'key must be 1..1024 bytes of UTF-8',
  CORE_VALUE_TOO_LARGE: 'value is larger than the configured limit',
  CORE_OVERLOADED: 'too much work in flight',
  CORE_CLOSED: 'the engine is closed',
  CORE_PARTITION_MISMATCH: 'the data dir was created with another partition count',
  CORE_WORKER_FAILED: 'a worker task failed',
} as const;

export type CoreErrorCode = keyof typeof CoreErrorCodes;

export class CoreError extends Error {
  readonly code: CoreErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: CoreErrorCode, message?: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message ?? CoreErrorCodes[code], options);
    this.code = code;
    this.details = details;
    this.name = 'CoreError';
  }
}

export function isCoreError(err: unknown, code?: CoreErrorCode): err is CoreError {
  return typeof err === 'object' && err !== null && typeof (err as CoreError).code === 'string' &&
    (err as CoreError).code.startsWith('CORE_') && (code === undefined || (err as CoreError).code === code);
}
