// Enrollment key blobs: base64 of a JSON object holding the admin URLs and the key secret, so
// ENROLLMENT_KEY is all an agent needs. The secret is "<key id>.<random>": the id finds the row,
// the random part is compared in constant time.
import { randomBytes } from 'node:crypto';

export interface EnrollmentKeyBlob {
  /** Format version. */
  v: 1;
  /** Control-plane base URLs, tried in order (http(s)://host:port). */
  admin_urls: string[];
  /** What the agent presents when it enrolls. */
  secret: string;
  /** Cluster the key enrolls into (informational). */
  cluster: string;
}

export function newKeySecret(keyId: string): string {
  return `${keyId}.${randomBytes(32).toString('base64url')}`;
}

export function encodeEnrollmentKey(blob: Omit<EnrollmentKeyBlob, 'v'>): string {
  return Buffer.from(JSON.stringify({ v: 1, ...blob })).toString('base64');
}

/** Decodes an ENROLLMENT_KEY value; throws a plain Error with a clear message when malformed. */
export function decodeEnrollmentKey(text: string): EnrollmentKeyBlob {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text.trim(), 'base64').toString('utf8'));
  } catch {
    throw new Error('enrollment key is not base64 JSON (copy the `key` field of an enrollment key)');
  }
  const b = parsed as Partial<EnrollmentKeyBlob>;
  if (!b || typeof b !== 'object' || b.v !== 1 || typeof b.secret !== 'string' || !Array.isArray(b.admin_urls) || !b.admin_urls.every((u) => typeof u === 'string') || b.admin_urls.length === 0) {
    throw new Error('enrollment key does not hold {v: 1, admin_urls, secret}');
  }
  return { v: 1, admin_urls: b.admin_urls, secret: b.secret, cluster: String(b.cluster ?? '') };
}

/** The key id part of a secret, or undefined when it is not of the "<id>.<random>" form. */
export function keyIdOf(secret: string): string | undefined {
  const i = secret.indexOf('.');
  if (i <= 0 || i === secret.length - 1) return undefined;
  return secret.slice(0, i);
}
