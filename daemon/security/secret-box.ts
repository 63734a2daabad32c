// Encryption at rest for write-only secrets (webhook secrets and headers): AES-256-GCM under a
// key derived from MASTER_KEY with HKDF-SHA256, or — when no MASTER_KEY is set — a random key
// kept in <data_dir>/admin/secret.key (mode 0600, created on first use). Every ciphertext is
// bound to its row and field (AAD), so a ciphertext copied into another row does not decrypt.
//
// Format: `v1:<key id>:<base64(iv[12] | ciphertext | tag[16])>`; the key id (first 8 hex digits
// of SHA-256 of the key) lets decryption say "encrypted under another key" instead of failing
// obscurely when MASTER_KEY changed or secret.key was replaced.
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const HKDF_SALT = 'outpost/admin/secret-box';
const HKDF_INFO = 'aes-256-gcm v1';
const KEY_FILE = path.join('admin', 'secret.key');

export class SecretBoxError extends Error {
  readonly code = 'SECRET_BOX_FAILED';
}

export interface SecretBoxOptions {
  /** MASTER_KEY; when set the key is derived from it (the same on every admin sharing it). */
  masterKey?: string;
  /** data_dir; holds admin/secret.key when there is no MASTER_KEY. */
  dataDir: string;
}

export class SecretBox {
  readonly keyId: string;
  /** Where the key came from, for logs and docs: 'master_key' or the key file path. */
  readonly source: string;

  private constructor(private readonly key: Buffer, source: string) {
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
    this.source = source;
  }

  static open(opts: SecretBoxOptions): SecretBox {
    if (opts.masterKey) {
      const key = Buffer.from(hkdfSync('sha256', Buffer.from(opts.masterKey, 'utf8'), HKDF_SALT, HKDF_INFO, 32));
      return new SecretBox(key, 'master_key');
    }
    const file = path.join(opts.dataDir, KEY_FILE);
    return new SecretBox(loadOrCreateKeyFile(file), file);
  }

  /** Encrypts `plaintext` for the given context (e.g. `webhook:<id>:secret`). */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    c.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
    return `v1:${this.keyId}:${Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64')}`;
  }

  open(sealed: string, context: string): string {
    const m = /^v1:([0-9a-f]{8}):([A-Za-z0-9+/=]+)$/.exec(sealed);
    if (!m) throw new SecretBoxError(`not a sealed secret (${context})`);
    if (m[1] !== this.keyId) throw new SecretBoxError(`${context} was encrypted under another key (id ${m[1]}, current ${this.keyId}): was MASTER_KEY changed or admin/secret.key replaced?`);
    const raw = Buffer.from(m[2], 'base64');
    if (raw.length < 28) throw new SecretBoxError(`sealed secret too short (${context})`);
    const d = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, 12));
    d.setAAD(Buffer.from(context, 'utf8'));
    d.setAuthTag(raw.subarray(raw.length - 16));
    try {
      return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError(`${context} failed authentication (tampered, or sealed for another row)`);
    }
  }
}

function loadOrCreateKeyFile(file: string): Buffer {
  try {
    const key = fs.readFileSync(file);
    if (key.length !== 32) throw new SecretBoxError(`${file} must hold exactly 32 bytes (has ${key.length})`);
    return key;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  // Write to a temp file then link it into place: two processes racing both end up with the winner's key.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, 'wx', 0o600);
  try {
    fs.writeSync(fd, key);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.unlinkSync(tmp);
  }
  const dirFd = fs.openSync(path.dirname(file), 'r');
  try { fs.fsyncSync(dirFd); } finally { fs.closeSync(dirFd); }
  return loadOrCreateKeyFile(file);
}
