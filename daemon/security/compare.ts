// Constant-time comparison of secrets, keys and tokens: one home for every check whose timing
// must not reveal how much of a guess was right.
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time byte comparison. A length mismatch still costs one comparison (the presented
 * bytes against themselves), so the timing does not reveal the expected length either.
 */
export function sameBytes(presented: Buffer, expected: Buffer): boolean {
  if (presented.length !== expected.length) { timingSafeEqual(presented, presented); return false; }
  return timingSafeEqual(presented, expected);
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest();

/** Constant-time string comparison of any lengths (both sides hashed to 32 bytes first). */
export function sameSecret(presented: string, expected: string): boolean {
  return timingSafeEqual(sha256(presented), sha256(expected));
}
