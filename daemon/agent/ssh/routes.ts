// Local API of the agent's SSH server (MASTER_KEY only): SSH usernames and their public keys
// in the reference's SshUsername / SshPublicKey shapes, and the session recordings.
import fs from 'node:fs';
import { NotFound } from '../../base/errors';
import type { HttpServer, Req, Res } from '../../http';
import { RECORDING_ID_RE, type RecordingStore } from './recording';
import { type KeyCreate, type SshUserStore, type UserCreate } from '../ssh-users/store';
import { PASSWORD_MAX, PASSWORD_MIN, USERNAME_MAX, USERNAME_MIN, USERNAME_RE } from '../../security/passwords';
import { err } from '../../http/error-body';

const uuid = { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', description: 'UUID' };
const publicKeyIn = {
  type: 'string', minLength: 1, maxLength: 16384,
  pattern: '^\\s*(ssh-ed25519|ecdsa-sha2-nistp(?:256|384|521)|ssh-rsa)\\s+([A-Za-z0-9+/]+=*)\\s*(.*)$',
  description: 'SSH public key in OpenSSH format (algorithm base64data [comment]): ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (2048 bits or more)',
};
const keyCreate = {
  type: 'object', required: ['key_name', 'public_key'], additionalProperties: false,
  properties: { key_name: { type: 'string', minLength: 1, maxLength: 255, description: 'human-readable name for the key' }, public_key: publicKeyIn },
};
const sshPublicKey = {
  type: 'object',
  properties: {
    id: uuid, ssh_username_id: uuid, key_name: { type: 'string' }, public_key: { type: 'string' },
    fingerprint: { type: 'string', description: 'SHA256 fingerprint as ssh-keygen -l prints it' },
    inserted_at: { type: 'string', format: 'date-time' }, updated_at: { type: 'string', format: 'date-time' },
  },
};
const sshUsername = {
  type: 'object',
  properties: {
    id: uuid, node_id: { type: 'string' }, username: { type: 'string' },
    has_password: { type: 'boolean', description: 'a password is set (the hash is never returned)' },
    public_keys: { type: 'array', items: sshPublicKey },
    inserted_at: { type: 'string', format: 'date-time' }, updated_at: { type: 'string', format: 'date-time' },
  },
};
const recording = {
  type: 'object',
  properties: {
    id: { type: 'string' }, kind: { type: 'string', enum: ['shell', 'exec'] }, user: { type: 'string' }, run_as: { type: 'string' },
    source_address: { type: 'string' }, source_port: { type: 'integer' }, command: { type: ['string', 'null'] }, pty: { type: 'boolean' },
    width: { type: 'integer' }, height: { type: 'integer' },
    started_at: { type: 'string', format: 'date-time' }, ended_at: { type: ['string', 'null'], format: 'date-time' },
    exit_status: { type: ['integer', 'null'] }, exit_signal: { type: ['string', 'null'] },
    bytes: { type: 'integer', description: 'size of the .cast file' }, output_bytes: { type: 'integer', description: 'output the session produced' },
    truncated: { type: 'boolean', description: 'output past ssh.recording_max_bytes was not recorded' },
    interrupted: { type: 'boolean', description: 'the daemon stopped before the session ended' },
  },
};

export function agentSshRoutes(server: HttpServer, store: SshUserStore, recordings: RecordingStore): void {
  const base = '/api/v1/agent/ssh_usernames';
  server.add({
    method: 'post', path: base, auth: 'master', tags: ['agent-ssh'],
    summary: 'Create an SSH username, optionally with a password (hashed with Argon2id) and public keys; effective at the next login',
    body: {
      type: 'object', required: ['username'], additionalProperties: false,
      properties: {
        username: { type: 'string', minLength: USERNAME_MIN, maxLength: USERNAME_MAX, pattern: USERNAME_RE.source, description: '3-32 characters; starts with a lowercase letter or underscore; lowercase letters, digits, - and _' },
        password: { type: ['string', 'null'], minLength: PASSWORD_MIN, maxLength: PASSWORD_MAX, description: `optional, ${PASSWORD_MIN}-${PASSWORD_MAX} characters` },
        public_keys: { type: ['array', 'null'], maxItems: 100, items: keyCreate },
      },
    },
    responses: { 201: { description: 'created', schema: sshUsername }, 409: err('the username already exists') },
    async handler(req: Req, res: Res) {
      res.json(201, await store.create(req.body as UserCreate));
    },
  });
  server.add({
    method: 'get', path: base, auth: 'master', tags: ['agent-ssh'],
    summary: 'List SSH usernames with their public keys, by username',
    responses: { 200: { description: 'SSH usernames', schema: { type: 'object', properties: { ssh_usernames: { type: 'array', items: sshUsername } } } } },
    handler(_req: Req, res: Res) {
      res.json(200, { ssh_usernames: store.list() });
    },
  });
  server.add({
    method: 'get', path: `${base}/:id`, auth: 'master', tags: ['agent-ssh'],
    summary: 'One SSH username with its public keys',
    params: { type: 'object', required: ['id'], properties: { id: uuid } },
    responses: { 200: { description: 'the SSH username', schema: sshUsername }, 404: err('no such SSH username') },
    handler(req: Req, res: Res) {
      res.json(200, store.get(req.params.id));
    },
  });
  server.add({
    method: 'delete', path: `${base}/:id`, auth: 'master', tags: ['agent-ssh'],
    summary: 'Delete an SSH username and its keys; its next login fails (open sessions continue)',
    params: { type: 'object', required: ['id'], properties: { id: uuid } },
    responses: { 204: { description: 'deleted' }, 404: err('no such SSH username') },
    async handler(req: Req, res: Res) {
      await store.remove(req.params.id);
      res.send(204, '');
    },
  });
  server.add({
    method: 'post', path: `${base}/:id/ssh_public_keys`, auth: 'master', tags: ['agent-ssh'],
    summary: 'Add a public key to an SSH username',
    params: { type: 'object', required: ['id'], properties: { id: uuid } },
    body: keyCreate,
    responses: { 201: { description: 'created', schema: sshPublicKey }, 404: err('no such SSH username'), 409: err('the key is already registered for this username') },
    async handler(req: Req, res: Res) {
      res.json(201, await store.addKey(req.params.id, req.body as KeyCreate));
    },
  });
  server.add({
    method: 'delete', path: `${base}/:id/ssh_public_keys/:key_id`, auth: 'master', tags: ['agent-ssh'],
    summary: 'Remove a public key from an SSH username',
    params: { type: 'object', required: ['id', 'key_id'], properties: { id: uuid, key_id: uuid } },
    responses: { 204: { description: 'deleted' }, 404: err('no such key for this SSH username') },
    async handler(req: Req, res: Res) {
      await store.removeKey(req.params.id, req.params.key_id);
      res.send(204, '');
    },
  });
  server.add({
    method: 'get', path: '/api/v1/agent/ssh_recordings', auth: 'master', tags: ['agent-ssh'],
    summary: 'SSH session recordings (asciicast v2), newest first',
    query: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } },
    responses: { 200: { description: 'recordings', schema: { type: 'object', properties: { recordings: { type: 'array', items: recording } } } } },
    handler(req: Req, res: Res) {
      res.json(200, { recordings: recordings.list(req.query.limit as number) });
    },
  });
  server.add({
    method: 'get', path: '/api/v1/agent/ssh_recordings/:id', auth: 'master', tags: ['agent-ssh'],
    summary: 'One recording as an asciicast v2 file (play it with `asciinema play`)',
    params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: RECORDING_ID_RE.source } } },
    responses: { 200: { description: 'the .cast file', contentType: 'application/x-asciicast' }, 404: err('no such recording') },
    async handler(req: Req, res: Res) {
      const meta = recordings.get(req.params.id);
      let body: Buffer | undefined;
      if (meta) { try { body = await fs.promises.readFile(recordings.fileOf(meta.id)); } catch { body = undefined; } }
      if (!body) throw new NotFound(`no recording ${req.params.id}`, { id: req.params.id });
      res.send(200, body, 'application/x-asciicast', { 'content-disposition': `attachment; filename="${meta!.id}.cast"` });
    },
  });
}
