// Ssh.SshUsername and Ssh.SshPublicKey routes: SSH usernames of a node (optional password,
// hashed with Argon2id before it is stored and never returned; optional public keys), their
// keys, list/get/delete with the reference's filters. Every change bumps the node's credential
// version in its transaction and, once committed, is pushed to the node over the tunnel.
import { deleteRoute, getRoute, listRoute } from '../api/routes';
import { CodedError } from '../../base/errors';
import type { HttpServer, Req, Res } from '../../http';
import { parsePublicKey } from '../../security/ssh-keys';
import type { AdminCtx } from '../api/context';
import { pushCredentials } from './ssh-sync';
import type { DbOrTrx } from '../store/db';
import { resolveNode } from '../store/nodes';
import type { SshPublicKeyRow, SshUsernameRow } from '../store/schema';
import { addPublicKey, createSshUsername, deletePublicKey, deleteSshUsername, getSshUsername, keysOf, type KeyInsert } from '../store/ssh';
import { conflict, invalid, notFound, ok, paged } from '../api/envelope';
import { isSetFilter, listQuerySchema, runList, type ListSpec } from '../api/list';
import { paginated, single, UUID_PATTERN, uuidParam } from '../api/schemas';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN, USERNAME_MAX, USERNAME_MIN, USERNAME_RE } from '../../security/passwords';

const USER_TAGS = ['Ssh.SshUsername'];
const KEY_TAGS = ['Ssh.SshPublicKey'];

export const PUBLIC_KEY_PATTERN = '^(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa)\\s+([A-Za-z0-9+/]+=*)\\s*(.*)$';
const MAX_KEYS = 100;

const ts = { type: 'string', format: 'date-time' };
export const sshPublicKeySchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' }, ssh_username_id: { type: 'string', format: 'uuid', description: 'SSH username this key belongs to' },
    key_name: { type: 'string', description: 'Human-readable name for the SSH key' },
    public_key: { type: 'string', description: 'SSH public key in OpenSSH format (algorithm base64data [comment])' },
    fingerprint: { type: ['string', 'null'], description: 'SHA256 fingerprint as `ssh-keygen -l` prints it' },
    inserted_at: ts, updated_at: ts,
  },
};
export const sshUsernameSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' }, node_id: { type: 'string', description: 'Node this username belongs to' },
    username: { type: 'string', description: 'SSH username for node access (3-32 characters)' },
    has_password: { type: 'boolean', description: 'Whether this username has a password configured (the hash is never returned)' },
    public_keys: { type: 'array', items: sshPublicKeySchema },
    inserted_at: ts, updated_at: ts,
  },
};

const keyBody = {
  type: 'object', required: ['key_name', 'public_key'], additionalProperties: false,
  properties: {
    key_name: { type: 'string', minLength: 1, maxLength: 255, description: 'Human-readable name for the SSH key' },
    public_key: { type: 'string', maxLength: 16384, pattern: PUBLIC_KEY_PATTERN, description: 'SSH public key in OpenSSH format (algorithm base64data [comment]). Supported algorithms: ssh-ed25519 (recommended), ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa (2048 bits or more)' },
  },
};

export const sshUsernameListSpec: ListSpec = {
  filters: {
    username: { kind: 'text', expr: 'ssh_usernames.username', description: 'Filter by username (exact match or wildcard: root, admin, etc.)' },
    node_id: { kind: 'exact', expr: 'ssh_usernames.node_id', pattern: UUID_PATTERN, description: 'Filter by node ID (UUID)' },
    cluster_name: { kind: 'text', expr: 'clusters.name', description: "Filter by cluster name via node's cluster (exact match or wildcard: prod, east, etc.)" },
    has_password: isSetFilter('ssh_usernames.password_hash', 'Filter by whether username has password configured'),
    inserted_at: { kind: 'date', expr: 'ssh_usernames.inserted_at' },
    updated_at: { kind: 'date', expr: 'ssh_usernames.updated_at' },
  },
  sort: { username: 'ssh_usernames.username', node_id: 'ssh_usernames.node_id', cluster_name: 'clusters.name', inserted_at: 'ssh_usernames.inserted_at', updated_at: 'ssh_usernames.updated_at', id: 'ssh_usernames.id' },
  defaultSort: [['inserted_at', 'asc']],
  id: 'ssh_usernames.id',
};

export const sshPublicKeyListSpec: ListSpec = {
  filters: {
    key_name: { kind: 'text', expr: 'ssh_public_keys.key_name', description: 'Filter by key name (exact match or wildcard: my-key, prod, etc.)' },
    public_key: { kind: 'text', expr: 'ssh_public_keys.public_key', description: 'Filter by public key content (exact, or wildcard such as *@example.com to search comments)' },
    ssh_username_id: { kind: 'exact', expr: 'ssh_public_keys.ssh_username_id', description: 'Filter by SSH username ID' },
    username: { kind: 'text', expr: 'ssh_usernames.username', description: 'Filter by SSH username (exact match or wildcard: deploy, admin, etc.)' },
    node_id: { kind: 'exact', expr: 'ssh_usernames.node_id', pattern: UUID_PATTERN, description: 'Filter by node ID (UUID)' },
    cluster_name: { kind: 'text', expr: 'clusters.name', description: "Filter by cluster name via node's cluster (exact match or wildcard: prod, east, etc.)" },
    inserted_at: { kind: 'date', expr: 'ssh_public_keys.inserted_at' },
    updated_at: { kind: 'date', expr: 'ssh_public_keys.updated_at' },
  },
  sort: {
    key_name: 'ssh_public_keys.key_name', username: 'ssh_usernames.username', ssh_username_id: 'ssh_public_keys.ssh_username_id', node_id: 'ssh_usernames.node_id',
    cluster_name: 'clusters.name', inserted_at: 'ssh_public_keys.inserted_at', updated_at: 'ssh_public_keys.updated_at', id: 'ssh_public_keys.id',
  },
  defaultSort: [['inserted_at', 'asc']],
  id: 'ssh_public_keys.id',
};

const usernamesJoined = (db: DbOrTrx) => db.selectFrom('ssh_usernames').innerJoin('nodes', 'nodes.id', 'ssh_usernames.node_id').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id');
const keysJoined = (db: DbOrTrx) => db.selectFrom('ssh_public_keys').innerJoin('ssh_usernames', 'ssh_usernames.id', 'ssh_public_keys.ssh_username_id')
  .innerJoin('nodes', 'nodes.id', 'ssh_usernames.node_id').innerJoin('clusters', 'clusters.id', 'nodes.cluster_id');

/** SshPublicKey of the reference (+ fingerprint). */
export function keyView(k: SshPublicKeyRow): Record<string, unknown> {
  return { id: k.id, ssh_username_id: k.ssh_username_id, key_name: k.key_name, public_key: k.public_key, fingerprint: k.fingerprint, inserted_at: k.inserted_at, updated_at: k.updated_at };
}

/** SshUsername of the reference: has_password only, never the hash. */
export function usernameView(u: SshUsernameRow, keys: SshPublicKeyRow[]): Record<string, unknown> {
  return { id: u.id, node_id: u.node_id, username: u.username, has_password: u.password_hash !== null, public_keys: keys.map(keyView), inserted_at: u.inserted_at, updated_at: u.updated_at };
}

/** Parses a key for storage; a key OpenSSH would not accept is a 422 naming `field`. */
function parseKey(k: { key_name: string; public_key: string }, field: string): KeyInsert {
  try {
    const p = parsePublicKey(k.public_key, field);
    return { key_name: k.key_name, public_key: p.line, fingerprint: p.fingerprint };
  } catch (err) {
    if (err instanceof CodedError) {
      const why = (err.details.fields as Array<{ message: string }> | undefined)?.[0]?.message ?? err.message;
      throw invalid({ [field]: why }, `${field} ${why}`);
    }
    throw err;
  }
}


export function sshRoutes(http: HttpServer, ctx: AdminCtx): void {
  const { db } = ctx;
  const idParams = { type: 'object', required: ['id'], properties: { id: uuidParam } };
  const changed = (nodeId: string) => { void pushCredentials(ctx, nodeId); };

  http.add({
    method: 'post', path: '/api/v1/nodes/:node_id/ssh_usernames', auth: 'api', tags: USER_TAGS,
    summary: 'Create an SSH username on a node (id, alias or name), optionally with a password (hashed with Argon2id) and public keys; reaches the node over its tunnel',
    params: { type: 'object', required: ['node_id'], properties: { node_id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'Node ID, alias or node name' } } },
    body: {
      type: 'object', required: ['username'], additionalProperties: false,
      properties: {
        username: { type: 'string', minLength: USERNAME_MIN, maxLength: USERNAME_MAX, pattern: USERNAME_RE.source, description: 'SSH username for node access (3-32 characters, must start with letter or underscore, lowercase letters/digits/hyphens/underscores only)' },
        password: { type: ['string', 'null'], minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX, description: 'Optional password for username/password SSH authentication (12-128 characters if provided, hashed with Argon2id; never returned)' },
        public_keys: { type: ['array', 'null'], maxItems: MAX_KEYS, items: keyBody, description: 'Optional array of SSH public keys to create with this username' },
      },
    },
    responses: { 201: { description: 'created', schema: single(sshUsernameSchema) }, 404: { description: 'no such node' }, 409: { description: 'the username exists on this node' }, 422: { description: 'validation failed' } },
    async handler(req: Req, res: Res) {
      const node = await resolveNode(db, req.params.node_id);
      if (!node) throw notFound('node', req.params.node_id);
      const b = req.body as { username: string; password?: string | null; public_keys?: Array<{ key_name: string; public_key: string }> | null };
      const keys = (b.public_keys ?? []).map((k, i) => parseKey(k, `public_keys.${i}.public_key`));
      const seen = new Map<string, number>();
      keys.forEach((k, i) => {
        const j = seen.get(k.fingerprint);
        if (j !== undefined) throw invalid({ [`public_keys.${i}.public_key`]: `repeats public_keys.${j} (${k.fingerprint})` });
        seen.set(k.fingerprint, i);
      });
      // Checked again in the transaction; this only spares an Argon2 hash for a certain 409.
      const taken = await db.selectFrom('ssh_usernames').select('id').where('node_id', '=', node.id).where('username', '=', b.username).executeTakeFirst();
      if (taken) throw conflict(`SSH username '${b.username}' already exists on this node`, { username: 'has already been taken' });
      const hash = b.password == null ? null : await hashPassword(b.password);
      const u = await createSshUsername(db, node.id, b.username, hash, keys);
      changed(node.id);
      ok(req, res, usernameView(u, u.keys), 201);
    },
  });

  http.add({
    method: 'get', path: '/api/v1/ssh_usernames', auth: 'api', tags: USER_TAGS, summary: 'List SSH usernames (paginated, filtered, sorted), each with its public keys',
    query: listQuerySchema(sshUsernameListSpec),
    responses: { 200: { description: 'a page of SSH usernames', schema: paginated(sshUsernameSchema) } },
    async handler(req: Req, res: Res) {
      const { rows, pagination } = await runList<SshUsernameRow>(usernamesJoined(db), (q) => q.selectAll('ssh_usernames'), sshUsernameListSpec, req.query);
      const keys = await keysOf(db, rows.map((r) => r.id));
      paged(req, res, rows.map((u) => usernameView(u, keys.filter((k) => k.ssh_username_id === u.id))), pagination);
    },
  });

  http.add({
    method: 'get', path: '/api/v1/ssh_usernames/:id', auth: 'api', tags: USER_TAGS, summary: 'Get an SSH username with its public keys', params: idParams,
    responses: { 200: { description: 'the SSH username', schema: single(sshUsernameSchema) }, 404: { description: 'no such SSH username' } },
    async handler(req: Req, res: Res) {
      const u = await getSshUsername(db, req.params.id);
      if (!u) throw notFound('SSH username', req.params.id);
      ok(req, res, usernameView(u, u.keys));
    },
  });

  deleteRoute(http, {
    path: '/api/v1/ssh_usernames/:id', tags: USER_TAGS, summary: 'Delete an SSH username and all its public keys (logins stop as soon as the node has the change)', params: idParams, what: 'SSH username',
    remove: async (id) => { const nodeId = await deleteSshUsername(db, id); if (nodeId) changed(nodeId); return Boolean(nodeId); },
  });

  http.add({
    method: 'post', path: '/api/v1/ssh_usernames/:ssh_username_id/ssh_public_keys', auth: 'api', tags: KEY_TAGS,
    summary: 'Add an OpenSSH public key to an SSH username',
    params: { type: 'object', required: ['ssh_username_id'], properties: { ssh_username_id: uuidParam } },
    body: keyBody,
    responses: { 201: { description: 'created', schema: single(sshPublicKeySchema) }, 404: { description: 'no such SSH username' }, 409: { description: 'the username already has this key' }, 422: { description: 'validation failed' } },
    async handler(req: Req, res: Res) {
      const key = parseKey(req.body as { key_name: string; public_key: string }, 'public_key');
      const r = await addPublicKey(db, req.params.ssh_username_id, key);
      changed(r.node_id);
      ok(req, res, keyView(r.key), 201);
    },
  });

  listRoute<SshPublicKeyRow>(http, {
    path: '/api/v1/ssh_public_keys', tags: KEY_TAGS, summary: 'List SSH public keys (paginated, filtered, sorted)', what: 'SSH public keys', schema: sshPublicKeySchema, spec: sshPublicKeyListSpec,
    base: () => keysJoined(db), select: (q) => q.selectAll('ssh_public_keys'), view: keyView,
  });

  getRoute(http, {
    path: '/api/v1/ssh_public_keys/:id', tags: KEY_TAGS, summary: 'Get an SSH public key', params: idParams, what: 'SSH public key', schema: sshPublicKeySchema,
    load: (id) => db.selectFrom('ssh_public_keys').selectAll().where('id', '=', id).executeTakeFirst(), view: keyView,
  });

  deleteRoute(http, {
    path: '/api/v1/ssh_public_keys/:id', tags: KEY_TAGS, summary: 'Delete an SSH public key', params: idParams, what: 'SSH public key',
    remove: async (id) => { const nodeId = await deletePublicKey(db, id); if (nodeId) changed(nodeId); return Boolean(nodeId); },
  });
}
