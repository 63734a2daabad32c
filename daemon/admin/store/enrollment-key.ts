// Enrollment key blobs in the tunnel's format (daemon/admin/tunnel/backend.ts: base64 of
// {"v":1,"urls":[...],"secret":"...","cluster_name":"..."}), so ENROLLMENT_KEY is all an agent
// needs. The secret is "<key id>.<random>": the id finds the row, the random part is compared in
// constant time.
import { randomBytes } from 'node:crypto';
import { encodeKeyBlob, type EnrollmentKeyBlob } from '../../tunnel/enrollment';

export type { EnrollmentKeyBlob };

export function newKeySecret(keyId: string): string {
  return `${keyId}.${randomBytes(32).toString('base64url')}`;
}

/** The blob of a key: admin base URLs (tried in order), the secret, and the cluster (informational). */
export function encodeEnrollmentKey(blob: { urls: string[]; secret: string; cluster_name?: string }): string {
  return encodeKeyBlob({ v: 1, urls: blob.urls, secret: blob.secret, ...(blob.cluster_name ? { cluster_name: blob.cluster_name } : {}) });
}

/** The key id part of a secret, or undefined when it is not of the "<id>.<random>" form. */
export function keyIdOf(secret: string): string | undefined {
  const i = secret.indexOf('.');
  if (i <= 0 || i === secret.length - 1) return undefined;
  return secret.slice(0, i);
}
