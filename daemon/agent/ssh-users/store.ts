// The agent's local SSH credential store (data_dir/agent/ssh.mdb): SSH usernames with optional
// Argon2id password hashes and OpenSSH public keys, in the reference's SshUsername /
// SshPublicKey shapes. The SSH server reads it at every login, so changes apply at once.
// Two sources share it: usernames created through the local API (source 'local') and the set
// the admin pushes over the tunnel (source 'admin', replaced as a whole by applyAdminSet; the
// local API cannot change those).
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { loadArgon2, loadLmdb } from '../../../native';
import type { CredentialSet } from '../../tunnel/enrollment';
import { BadRequest, CodedError, Conflict, NotFound } from '../../base/errors';
import { parsePublicKey } from '../../security/ssh-keys';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN, USERNAME_MAX, USERNAME_MIN, USERNAME_RE } from '../../security/passwords';

export type UserSource = 'local' | 'admin';
interface UserRecord { id: string; username: string; password_hash?: string; source?: UserSource; inserted_at: string; updated_at: string }
interface KeyRecord { id: string; ssh_username_id: string; key_name: string; public_key: string; algo: string; blob: string; fingerprint: string; inserted_at: string; updated_at: string }

export interface SshPublicKey { id: string; ssh_username_id: string; key_name: string; public_key: string; fingerprint: string; inserted_at: string; updated_at: string }
export interface SshUsername { id: string; node_id: string; username: string; has_password: boolean; public_keys: SshPublicKey[]; source: UserSource; inserted_at: string; updated_at: string }
export interface KeyCreate { key_name: string; public_key: string }
export interface UserCreate { username: string; password?: string | null; public_keys?: KeyCreate[] | null }

/** What applyAdminSet did. */
export interface AdminSetReport {
  version: number;
  users: number;
  keys: number;
  /** Admin usernames no longer in the set. */
  removed: string[];
  /** Local usernames the admin's set took over. */
  replaced_local: string[];
  skipped: Array<{ username: string; key_id?: string; reason: string }>;
}

/** What the SSH server needs at login. */
export interface LoginRecord { id: string; username: string; passwordHash?: string; keys: Array<{ id: string; algo: string; blob: Buffer; fingerprint: string; public_key: string }> }

const keyWire = (k: KeyRecord): SshPublicKey => ({ id: k.id, ssh_username_id: k.ssh_username_id, key_name: k.key_name, public_key: k.public_key, fingerprint: k.fingerprint, inserted_at: k.inserted_at, updated_at: k.updated_at });

function badField(field: string, why: string): CodedError {
  return new BadRequest(`${field} ${why}`, { fields: [{ field, message: why }] });
}

export function checkUsername(u: unknown, field = 'body.username'): string {
  if (typeof u !== 'string') throw badField(field, 'must be a string');
  if (u.length < USERNAME_MIN || u.length > USERNAME_MAX) throw badField(field, `must be ${USERNAME_MIN}-${USERNAME_MAX} characters`);
  if (!USERNAME_RE.test(u)) throw badField(field, `must match ${USERNAME_RE.source} (start with a lowercase letter or underscore; lowercase letters, digits, '-' and '_')`);
  return u;
}

export function checkPassword(p: unknown, field = 'body.password'): string {
  if (typeof p !== 'string') throw badField(field, 'must be a string');
  if (p.length < PASSWORD_MIN || p.length > PASSWORD_MAX) throw badField(field, `must be ${PASSWORD_MIN}-${PASSWORD_MAX} characters`);
  return p;
}

function checkKeyName(n: unknown, field: string): string {
  if (typeof n !== 'string' || n.trim() === '') throw badField(field, 'must be a non-empty string');
  if (n.length > 255) throw badField(field, 'must be at most 255 characters');
  return n;
}

export class SshUserStore {
  readonly env: RootDatabase;
  private readonly users: Database<UserRecord, string>;
  private readonly names: Database<string, string>;
  private readonly keys: Database<KeyRecord, [string, string]>;
  private dummyHash?: Promise<string>;

  /** `nodeId`: this host's node id, read per response (the fleet's once enrolled). */
  constructor(file: string, private readonly nodeId: () => string) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const { lmdb } = loadLmdb();
    this.env = lmdb.open({ path: file, compression: false, maxDbs: 8 }) as RootDatabase;
    this.users = this.env.openDB({ name: 'users', encoding: 'msgpack' });
    this.names = this.env.openDB({ name: 'names', encoding: 'msgpack' });
    this.keys = this.env.openDB({ name: 'keys', encoding: 'msgpack' });
  }

  private wire(u: UserRecord): SshUsername {
    return { id: u.id, node_id: this.nodeId(), username: u.username, has_password: Boolean(u.password_hash), public_keys: this.keysOf(u.id).map(keyWire), source: u.source ?? 'local', inserted_at: u.inserted_at, updated_at: u.updated_at };
  }

  private keysOf(userId: string): KeyRecord[] {
    return [...this.keys.getRange({ start: [userId], end: [userId, '\uffff'] }).map((e) => e.value)];
  }

  private prepareKey(k: unknown, field: string, userId: string, now: string): KeyRecord {
    if (!k || typeof k !== 'object') throw badField(field, 'must be an object with key_name and public_key');
    const { key_name, public_key } = k as Partial<KeyCreate>;
    const name = checkKeyName(key_name, `${field}.key_name`);
    if (typeof public_key !== 'string') throw badField(`${field}.public_key`, 'must be a string');
    const p = parsePublicKey(public_key, `${field}.public_key`);
    return { id: randomUUID(), ssh_username_id: userId, key_name: name, public_key: p.line, algo: p.algo, blob: p.blob, fingerprint: p.fingerprint, inserted_at: now, updated_at: now };
  }

  async create(req: UserCreate): Promise<SshUsername> {
    const username = checkUsername(req.username);
    const password = req.password == null ? undefined : checkPassword(req.password);
    if (req.public_keys != null && !Array.isArray(req.public_keys)) throw badField('body.public_keys', 'must be an array');
    const now = new Date().toISOString();
    const id = randomUUID();
    const keys = (req.public_keys ?? []).map((k, i) => this.prepareKey(k, `body.public_keys.${i}`, id, now));
    const seen = new Set<string>();
    keys.forEach((k, i) => {
      if (seen.has(k.fingerprint)) throw badField(`body.public_keys.${i}.public_key`, `repeats key ${k.fingerprint}`);
      seen.add(k.fingerprint);
    });
    if (this.names.get(username) !== undefined) throw this.duplicate(username);
    const password_hash = password === undefined ? undefined : await hashPassword(password);
    const user: UserRecord = { id, username, password_hash, inserted_at: now, updated_at: now };
    const ok = await this.env.transaction(() => {
      if (this.names.get(username) !== undefined) return false;
      this.names.putSync(username, id);
      this.users.putSync(id, user);
      for (const k of keys) this.keys.putSync([id, k.id], k);
      return true;
    });
    if (!ok) throw this.duplicate(username);
    return this.wire(user);
  }

  private duplicate(username: string): CodedError {
    return new Conflict(`SSH username ${JSON.stringify(username)} already exists`, { field: 'body.username', username });
  }

  list(): SshUsername[] {
    return [...this.users.getRange().map((e) => this.wire(e.value))].sort((a, b) => a.username.localeCompare(b.username));
  }

  get(id: string): SshUsername {
    const u = this.users.get(id);
    if (!u) throw new NotFound(`no SSH username with id ${id}`, { id });
    return this.wire(u);
  }

  private adminManaged(u: UserRecord): CodedError {
    return new Conflict(`SSH username ${JSON.stringify(u.username)} is managed by the admin: change it through the control plane`, { id: u.id, username: u.username, source: 'admin' });
  }

  async remove(id: string): Promise<void> {
    const managed = this.users.get(id);
    if (managed?.source === 'admin') throw this.adminManaged(managed);
    const ok = await this.env.transaction(() => {
      const u = this.users.get(id);
      if (!u || u.source === 'admin') return false;
      for (const k of this.keysOf(id)) this.keys.removeSync([id, k.id]);
      this.names.removeSync(u.username);
      this.users.removeSync(id);
      return true;
    });
    if (!ok) throw new NotFound(`no SSH username with id ${id}`, { id });
  }

  async addKey(userId: string, req: KeyCreate): Promise<SshPublicKey> {
    const owner = this.users.get(userId);
    if (!owner) throw new NotFound(`no SSH username with id ${userId}`, { id: userId });
    if (owner.source === 'admin') throw this.adminManaged(owner);
    const k = this.prepareKey(req, 'body', userId, new Date().toISOString());
    const r = await this.env.transaction(() => {
      if (!this.users.get(userId)) return 'gone';
      if (this.keysOf(userId).some((o) => o.fingerprint === k.fingerprint)) return 'dup';
      this.keys.putSync([userId, k.id], k);
      return 'ok';
    });
    if (r === 'gone') throw new NotFound(`no SSH username with id ${userId}`, { id: userId });
    if (r === 'dup') throw new Conflict(`key ${k.fingerprint} is already registered for this username`, { field: 'body.public_key', fingerprint: k.fingerprint });
    return keyWire(k);
  }

  async removeKey(userId: string, keyId: string): Promise<void> {
    const owner = this.users.get(userId);
    if (owner?.source === 'admin') throw this.adminManaged(owner);
    const ok = await this.env.transaction(() => {
      if (!this.keys.get([userId, keyId])) return false;
      this.keys.removeSync([userId, keyId]);
      return true;
    });
    if (!ok) throw new NotFound(`no SSH public key with id ${keyId} for SSH username ${userId}`, { id: keyId, ssh_username_id: userId });
  }

  /** The credentials of `username`, read at login (undefined when unknown). */
  lookup(username: string): LoginRecord | undefined {
    const id = this.names.get(username);
    const u = id === undefined ? undefined : this.users.get(id);
    if (!u) return undefined;
    return { id: u.id, username: u.username, passwordHash: u.password_hash, keys: this.keysOf(u.id).map((k) => ({ id: k.id, algo: k.algo, blob: Buffer.from(k.blob, 'base64'), fingerprint: k.fingerprint, public_key: k.public_key })) };
  }

  /** Verifies a password against the user's hash, or (unknown user, no password) against a dummy hash so timing is the same. */
  async verifyPassword(rec: LoginRecord | undefined, password: string): Promise<boolean> {
    const argon2 = loadArgon2();
    this.dummyHash ??= hashPassword(randomUUID());
    const hash = rec?.passwordHash ?? await this.dummyHash;
    let ok = false;
    try { ok = await argon2.verify(hash, password); } catch { ok = false; }
    return ok && rec?.passwordHash !== undefined;
  }

  count(): number { return this.users.getCount(); }

  /**
   * Replaces the admin-managed usernames with `set` (the admin's full credential set for this
   * node) in one LMDB transaction: admin users absent from the set go, the others are written
   * with exactly the set's keys and Argon2id hash (as given; verifyPassword checks it). Local
   * users are left alone, except one whose name the set claims: the admin wins and the local
   * user (and its keys) is removed, reported in `replaced_local`. Entries that cannot be used
   * (bad username, unparsable key) are skipped and reported, the rest still applies.
   */
  async applyAdminSet(set: CredentialSet): Promise<AdminSetReport> {
    const now = new Date().toISOString();
    const report: AdminSetReport = { version: set.version ?? 0, users: 0, keys: 0, removed: [], replaced_local: [], skipped: [] };
    const wanted = new Map<string, { hash?: string; keys: Array<Omit<KeyRecord, 'ssh_username_id'>> }>();
    for (const u of set.users ?? []) {
      try { checkUsername(u.username, 'username'); } catch (err) { report.skipped.push({ username: String(u.username), reason: (err as Error).message }); continue; }
      if (wanted.has(u.username)) { report.skipped.push({ username: u.username, reason: 'appears twice in the set' }); continue; }
      const keys: Array<Omit<KeyRecord, 'ssh_username_id'>> = [];
      const seen = new Set<string>();
      (u.public_keys ?? []).forEach((k, i) => {
        try {
          const p = parsePublicKey(k.public_key, `public_keys.${i}`);
          if (seen.has(p.fingerprint)) return;
          seen.add(p.fingerprint);
          keys.push({ id: k.id || randomUUID(), key_name: k.key_name || p.fingerprint, public_key: p.line, algo: p.algo, blob: p.blob, fingerprint: p.fingerprint, inserted_at: now, updated_at: now });
        } catch (err) {
          report.skipped.push({ username: u.username, key_id: k.id, reason: (err as Error).message });
        }
      });
      wanted.set(u.username, { hash: u.password_hash || undefined, keys });
    }
    await this.env.transaction(() => {
      for (const { value: u } of this.users.getRange()) {
        if (u.source === 'admin' && !wanted.has(u.username)) { this.dropSync(u); report.removed.push(u.username); }
      }
      for (const [username, w] of wanted) {
        const existingId = this.names.get(username);
        const existing = existingId === undefined ? undefined : this.users.get(existingId);
        if (existing && existing.source !== 'admin') { this.dropSync(existing); report.replaced_local.push(username); }
        const prior = existing?.source === 'admin' ? existing : undefined;
        const id = prior?.id ?? randomUUID();
        if (prior) for (const k of this.keysOf(id)) this.keys.removeSync([id, k.id]);
        const rec: UserRecord = { id, username, password_hash: w.hash, source: 'admin', inserted_at: prior?.inserted_at ?? now, updated_at: now };
        this.users.putSync(id, rec);
        this.names.putSync(username, id);
        for (const k of w.keys) this.keys.putSync([id, k.id], { ...k, ssh_username_id: id });
        report.users++;
        report.keys += w.keys.length;
      }
    });
    return report;
  }

  /** Removes a user, its keys and its name (inside a transaction). */
  private dropSync(u: UserRecord): void {
    for (const k of this.keysOf(u.id)) this.keys.removeSync([u.id, k.id]);
    if (this.names.get(u.username) === u.id) this.names.removeSync(u.username);
    this.users.removeSync(u.id);
  }

  async close(): Promise<void> { await this.env.close(); }
}
