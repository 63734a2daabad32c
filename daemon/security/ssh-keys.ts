// OpenSSH public keys for SSH usernames: parsing and validation (ssh2's parser), the algorithm
// allow-list, and SHA256 fingerprints as `ssh-keygen -l` prints them.
import { createHash, createPublicKey } from 'node:crypto';
import { utils } from 'ssh2';
import { BadRequest } from '../base/errors';

export const KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'] as const;
export const MIN_RSA_BITS = 2048;

export interface ParsedPublicKey {
  algo: string;
  /** The SSH wire blob (what a client presents), base64. */
  blob: string;
  fingerprint: string;
  /** Normalised `algo base64 [comment]`. */
  line: string;
}

/** `SHA256:` + unpadded base64 of the SHA-256 of the key blob. */
export function fingerprintOf(blob: Buffer): string {
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

/** Parses one OpenSSH public key line; throws a 400 naming `field` when it is not acceptable. */
export function parsePublicKey(text: string, field: string): ParsedPublicKey {
  const bad = (why: string) => new BadRequest(`${field} ${why}`, { fields: [{ field, message: why }] });
  const trimmed = text.trim();
  if (/[\r\n]/.test(trimmed)) throw bad('must be a single OpenSSH public key line');
  const m = /^(\S+)\s+([A-Za-z0-9+/]+={0,2})(?:\s+(.*))?$/.exec(trimmed);
  if (!m) throw bad('must be an OpenSSH public key: "<algorithm> <base64> [comment]"');
  if (!(KEY_ALGORITHMS as readonly string[]).includes(m[1])) throw bad(`has unsupported algorithm ${JSON.stringify(m[1])}; use one of ${KEY_ALGORITHMS.join(', ')}`);
  const parsed = utils.parseKey(trimmed);
  if (parsed instanceof Error) throw bad(`is not a valid OpenSSH public key (${parsed.message})`);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key.isPrivateKey()) throw bad('is a private key; send the public key (the .pub file)');
  if (key.type !== m[1]) throw bad(`declares ${m[1]} but holds a ${key.type} key`);
  if (key.type === 'ssh-rsa') {
    const bits = createPublicKey(key.getPublicPEM()).asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw bad(`is an RSA key of ${bits} bits; at least ${MIN_RSA_BITS} are required`);
  }
  const blob = key.getPublicSSH();
  const comment = (m[3] ?? '').trim();
  return { algo: key.type, blob: blob.toString('base64'), fingerprint: fingerprintOf(blob), line: `${key.type} ${blob.toString('base64')}${comment ? ' ' + comment : ''}` };
}
