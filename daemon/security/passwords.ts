// SSH account names and passwords: the rules both the agent and the admin enforce, and the
// Argon2id hash both store (never the password).
import { loadArgon2 } from '../../native';

export const USERNAME_RE = /^[a-z_][a-z0-9_-]*$/;
export const USERNAME_MIN = 3;
export const USERNAME_MAX = 32;
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 128;
/** Argon2id (the @node-rs/argon2 const enum value; OWASP memory/time defaults). */
const ARGON2ID = 2;

/** An SSH password's Argon2id hash (PHC string), as the agent and the admin store it. */
export function hashPassword(password: string): Promise<string> {
  return loadArgon2().hash(password, { algorithm: ARGON2ID as never });
}
