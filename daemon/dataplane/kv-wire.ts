// KV answers shared by the HTTP routes and the binary WebSocket batch protocol, so both speak
// the same errors and TTL rule.
import { HttpError } from '../base/errors';

/** Seconds until expiry, rounded up; null when the key has no TTL. */
export function ttlRemaining(expiresAt: number, now: number): number | null {
  return expiresAt === 0 ? null : Math.max(1, Math.ceil((expiresAt - now) / 1000));
}

export function checkKey(key: string, field = 'params.key'): void {
  if (key.length === 0 || Buffer.byteLength(key) > 1024) {
    throw new HttpError('bad_request', `${field} must be 1..1024 bytes of UTF-8`, { fields: [{ field, message: 'must be 1..1024 bytes' }] });
  }
}

export function notFound(ns: string, key: string): HttpError {
  return new HttpError('not_found', `key '${key}' not found in namespace '${ns}'`, { namespace: ns, key }, { key });
}

export function conflict(ns: string, key: string, current: number): HttpError {
  const msg = current === 0 ? `key '${key}' does not exist (version 0)` : `key '${key}' is at version ${current}`;
  return new HttpError('conflict', msg, { namespace: ns, key, current_version: current }, { current_version: current });
}
