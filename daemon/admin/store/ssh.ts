// SSH credentials of nodes in the control-plane store: SSH usernames (optional Argon2id password
// hash, never returned) and their OpenSSH public keys, and the per-node credential version.
// Every change that touches a node's set bumps its version in the same transaction; the
// version is max(previous + 1, now in ms), so it only grows, also across a node deleted and
// enrolled again under the same id. credentialSet() is what the tunnel pushes to the agent
// (the SQL TunnelBackend's credentials(nodeId) delegates to it).
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { Conflict, NotFound } from '../../base/errors';
import type { CredentialSet } from '../../tunnel/enrollment';
import type { SshUser } from '../../tunnel/schema';
import { dialectOf, inTx, type DbOrTrx } from './db';
import type { SshPublicKeyRow, SshUsernameRow } from './schema';
import { iso, isForeignKeyViolation, isUniqueViolation, newId } from './util';

let lastMs = 0;
let seq = 0;
/**
 * A UUIDv7 (time-ordered, monotonic within this process) for public keys, so keys created in
 * one request keep their order when listed by (inserted_at, id).
 */
export function keyId(now = Date.now()): string {
  if (now <= lastMs) { seq++; now = lastMs; } else { lastMs = now; seq = 0; }
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = 0x70 | ((seq >> 8) & 0x0f);
  b[7] = seq & 0xff;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A public key already parsed and normalised (daemon/security/ssh-keys.ts parsePublicKey). */
export interface KeyInsert { key_name: string; public_key: string; fingerprint: string }

export interface SshUsernameWithKeys extends SshUsernameRow { keys: SshPublicKeyRow[] }

/** Raises the node's credential version (call inside the transaction that made the change). */
export async function bumpCredentials(db: DbOrTrx, nodeId: string, now: number = Date.now()): Promise<number> {
  const next = dialectOf(db) === 'postgres'
    ? sql<number>`greatest(excluded.version, node_credentials.version + 1)`
    : sql<number>`max(excluded.version, node_credentials.version + 1)`;
  const at = iso(now);
  const row = await db.insertInto('node_credentials').values({ node_id: nodeId, version: now, synced_version: null, synced_at: null, updated_at: at })
    .onConflict((oc) => oc.column('node_id').doUpdateSet({ version: next, updated_at: at }))
    .returning('version').executeTakeFirstOrThrow();
  return Number(row.version);
}

/**
 * The node's full SSH credential set in the tunnel's SshUser shape (usernames in order, each
 * with its Argon2id hash when it has a password, and its keys); version 0 when nothing was ever
 * set. Null for an unknown node.
 */
export async function credentialSet(db: DbOrTrx, nodeId: string): Promise<CredentialSet | null> {
  return inTx(db, async (trx) => {
    const node = await trx.selectFrom('nodes').select('id').where('id', '=', nodeId).executeTakeFirst();
    if (!node) return null;
    const v = await trx.selectFrom('node_credentials').select('version').where('node_id', '=', nodeId).executeTakeFirst();
    const users = await trx.selectFrom('ssh_usernames').selectAll().where('node_id', '=', nodeId).orderBy('username').execute();
    const keys = users.length
      ? await trx.selectFrom('ssh_public_keys').selectAll().where('ssh_username_id', 'in', users.map((u) => u.id)).orderBy('inserted_at').orderBy('id').execute()
      : [];
    const out: SshUser[] = users.map((u) => ({
      username: u.username,
      ...(u.password_hash ? { password_hash: u.password_hash } : {}),
      public_keys: keys.filter((k) => k.ssh_username_id === u.id).map((k) => ({ id: k.id, public_key: k.public_key, key_name: k.key_name, ...(k.fingerprint ? { fingerprint: k.fingerprint } : {}) })),
    }));
    return { version: Number(v?.version ?? 0), users: out };
  });
}

/** Agents acknowledged credential versions: synced_version moves forward only. */
export async function markCredentialsSynced(db: DbOrTrx, acks: ReadonlyArray<{ node_id: string; version: number; at: number }>): Promise<void> {
  if (!acks.length) return;
  await inTx(db, async (trx) => {
    for (const a of acks) {
      await trx.updateTable('node_credentials').set({ synced_version: a.version, synced_at: iso(a.at) })
        .where('node_id', '=', a.node_id)
        .where((eb) => eb.or([eb('synced_version', 'is', null), eb('synced_version', '<', a.version)]))
        .execute();
    }
  });
}

/** The node's credential version and the last one its agent acknowledged (null: never). */
export async function credentialState(db: DbOrTrx, nodeId: string): Promise<{ version: number; synced_version: number | null } | undefined> {
  const r = await db.selectFrom('node_credentials').select(['version', 'synced_version']).where('node_id', '=', nodeId).executeTakeFirst();
  return r && { version: Number(r.version), synced_version: r.synced_version === null ? null : Number(r.synced_version) };
}

const usernameTaken = (username: string) => new Conflict(`SSH username '${username}' already exists on this node`, { fields: [{ field: 'username', message: 'has already been taken' }] });
const keyTaken = (fingerprint: string) => new Conflict(`public key ${fingerprint} is already registered for this SSH username`, { fields: [{ field: 'public_key', message: 'has already been taken' }] });

/**
 * Creates a username (with an already computed password hash, or null) and its keys on a node,
 * and bumps the node's credential version, in one transaction. 409 when the username exists on
 * the node; 404 when the node went away meanwhile.
 */
export async function createSshUsername(db: DbOrTrx, nodeId: string, username: string, passwordHash: string | null, keys: KeyInsert[], now = new Date()): Promise<SshUsernameWithKeys> {
  const at = iso(now);
  const user: SshUsernameRow = { id: newId(), node_id: nodeId, username, password_hash: passwordHash, inserted_at: at, updated_at: at };
  const keyRows: SshPublicKeyRow[] = keys.map((k) => ({ id: keyId(now.getTime()), ssh_username_id: user.id, key_name: k.key_name, public_key: k.public_key, fingerprint: k.fingerprint, inserted_at: at, updated_at: at }));
  try {
    await inTx(db, async (trx) => {
      const dup = await trx.selectFrom('ssh_usernames').select('id').where('node_id', '=', nodeId).where('username', '=', username).executeTakeFirst();
      if (dup) throw usernameTaken(username);
      await trx.insertInto('ssh_usernames').values(user).execute();
      if (keyRows.length) await trx.insertInto('ssh_public_keys').values(keyRows).execute();
      await bumpCredentials(trx, nodeId, now.getTime());
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw usernameTaken(username); // a concurrent create won
    if (isForeignKeyViolation(err)) throw new NotFound(`node ${JSON.stringify(nodeId)} not found`);
    throw err;
  }
  return { ...user, keys: keyRows };
}

export async function getSshUsername(db: DbOrTrx, id: string): Promise<SshUsernameWithKeys | undefined> {
  const u = await db.selectFrom('ssh_usernames').selectAll().where('id', '=', id).executeTakeFirst();
  if (!u) return undefined;
  return { ...u, keys: await keysOf(db, [u.id]) };
}

/** Keys of several usernames, oldest first. */
export async function keysOf(db: DbOrTrx, usernameIds: string[]): Promise<SshPublicKeyRow[]> {
  if (!usernameIds.length) return [];
  return db.selectFrom('ssh_public_keys').selectAll().where('ssh_username_id', 'in', usernameIds).orderBy('inserted_at').orderBy('id').execute();
}

/** Deletes a username and its keys (FK cascade); returns its node id, or undefined when unknown. */
export async function deleteSshUsername(db: DbOrTrx, id: string, now = new Date()): Promise<string | undefined> {
  return inTx(db, async (trx) => {
    const u = await trx.selectFrom('ssh_usernames').select(['id', 'node_id']).where('id', '=', id).executeTakeFirst();
    if (!u) return undefined;
    await trx.deleteFrom('ssh_public_keys').where('ssh_username_id', '=', id).execute();
    await trx.deleteFrom('ssh_usernames').where('id', '=', id).execute();
    await bumpCredentials(trx, u.node_id, now.getTime());
    return u.node_id;
  });
}

/** Adds a key to a username; 404 for an unknown username, 409 when it already has that key. */
export async function addPublicKey(db: DbOrTrx, usernameId: string, key: KeyInsert, now = new Date()): Promise<{ key: SshPublicKeyRow; node_id: string }> {
  const at = iso(now);
  const row: SshPublicKeyRow = { id: keyId(now.getTime()), ssh_username_id: usernameId, key_name: key.key_name, public_key: key.public_key, fingerprint: key.fingerprint, inserted_at: at, updated_at: at };
  const gone = () => new NotFound(`SSH username ${JSON.stringify(usernameId)} not found`);
  try {
    return await inTx(db, async (trx) => {
      const u = await trx.selectFrom('ssh_usernames').select(['id', 'node_id']).where('id', '=', usernameId).executeTakeFirst();
      if (!u) throw gone();
      const dup = await trx.selectFrom('ssh_public_keys').select('id').where('ssh_username_id', '=', usernameId).where('fingerprint', '=', key.fingerprint).executeTakeFirst();
      if (dup) throw keyTaken(key.fingerprint);
      await trx.insertInto('ssh_public_keys').values(row).execute();
      await trx.updateTable('ssh_usernames').set({ updated_at: at }).where('id', '=', usernameId).execute();
      await bumpCredentials(trx, u.node_id, now.getTime());
      return { key: row, node_id: u.node_id };
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw keyTaken(key.fingerprint);
    if (isForeignKeyViolation(err)) throw gone();
    throw err;
  }
}

/** Deletes a key; returns the node it belonged to, or undefined when unknown. */
export async function deletePublicKey(db: DbOrTrx, id: string, now = new Date()): Promise<string | undefined> {
  return inTx(db, async (trx) => {
    const k = await trx.selectFrom('ssh_public_keys').innerJoin('ssh_usernames', 'ssh_usernames.id', 'ssh_public_keys.ssh_username_id')
      .select(['ssh_public_keys.id', 'ssh_usernames.id as username_id', 'ssh_usernames.node_id']).where('ssh_public_keys.id', '=', id).executeTakeFirst();
    if (!k) return undefined;
    await trx.deleteFrom('ssh_public_keys').where('id', '=', id).execute();
    await trx.updateTable('ssh_usernames').set({ updated_at: iso(now) }).where('id', '=', k.username_id).execute();
    await bumpCredentials(trx, k.node_id, now.getTime());
    return k.node_id;
  });
}
