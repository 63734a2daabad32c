// Ssh.SshUsername and Ssh.SshPublicKey over HTTP on SQLite and PostgreSQL: validation (422
// with the field), per-node uniqueness (409), node given by id / alias / name, keys and their
// fingerprints, filters and ordering, delete cascades (username → keys, node → usernames),
// the credential version bumped by every change and the set the tunnel pushes — with the
// Argon2id hash that verifies the password and never appears in an API response.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { loadArgon2 } from '../native';
import { credentialSet, credentialState, markCredentialsSynced } from '../daemon/admin/store/ssh';
import { newId } from '../daemon/admin/store/util';
import { addNode, startTestAdmin } from './helpers/admin-ssh';
import { tempDir } from './helpers/daemon';
import { bothDialects } from './helpers/postgres';

function keygen(dir: string, type: 'ed25519' | 'ecdsa' | 'rsa', comment: string, bits?: number): string {
  const f = path.join(dir, `${type}-${comment}-${bits ?? ''}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', comment, '-f', f]);
  return fs.readFileSync(`${f}.pub`, 'utf8').trim();
}
const fingerprint = (pub: string) => execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', '-'], { input: pub, encoding: 'utf8' }).split(' ')[1];

const PASSWORD = 'correct horse battery staple';

bothDialects(t, 'SSH usernames: create, validation, uniqueness, lookups, list, delete', async (t, ctx) => {
  const a = await startTestAdmin(t, ctx.databaseUrl);
  const { call } = a;
  const dir = tempDir(t);
  const ed = keygen(dir, 'ed25519', 'alice@example.com');
  const ec = keygen(dir, 'ecdsa', 'ci@deploy');
  const n1 = newId(), n2 = newId();
  await addNode(a, n1, { name: 'web-1' });
  await addNode(a, n2, { cluster: 'prod', name: 'db-1' });
  t.equal((await call('POST', `/api/v1/nodes/${n1}/aliases`, { name: 'frontend' })).status, 201);

  // Validation: 422 validation_failed naming the field.
  const bad = async (body: unknown, field: string) => {
    const r = await call('POST', `/api/v1/nodes/${n1}/ssh_usernames`, body);
    t.equal(r.status, 422, `422 for ${JSON.stringify(body).slice(0, 80)}`);
    t.equal(r.json.error.code, 'validation_failed');
    t.ok(r.json.error.details?.[field], `details name ${field}: ${JSON.stringify(r.json.error.details)}`);
  };
  await bad({}, 'username');
  await bad({ username: 'ab' }, 'username');
  await bad({ username: 'a'.repeat(33) }, 'username');
  await bad({ username: 'Admin' }, 'username');
  await bad({ username: '9lives' }, 'username');
  await bad({ username: 'deploy', password: 'short' }, 'password');
  await bad({ username: 'deploy', password: 'x'.repeat(129) }, 'password');
  await bad({ username: 'deploy', public_keys: [{ key_name: 'k' }] }, 'public_keys.0.public_key');
  await bad({ username: 'deploy', public_keys: [{ key_name: 'k', public_key: 'ssh-dss AAAAB3NzaC1kc3M= x' }] }, 'public_keys.0.public_key');
  await bad({ username: 'deploy', public_keys: [{ key_name: 'k', public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGQw7Di3 x' }] }, 'public_keys.0.public_key');
  await bad({ username: 'deploy', public_keys: [{ key_name: 'k', public_key: ed }, { key_name: 'k2', public_key: ed.replace('alice@example.com', 'other') }] }, 'public_keys.1.public_key');
  const weakRsa = keygen(dir, 'rsa', 'weak', 1024);
  await bad({ username: 'deploy', public_keys: [{ key_name: 'old', public_key: weakRsa }] }, 'public_keys.0.public_key');
  await bad({ username: 'deploy', extra: true }, 'extra');
  t.equal((await call('POST', `/api/v1/nodes/${newId()}/ssh_usernames`, { username: 'deploy' })).status, 404, 'unknown node');

  // Create with a password and two keys; the node given by its alias.
  const created = await call('POST', '/api/v1/nodes/frontend/ssh_usernames', { username: 'deploy', password: PASSWORD, public_keys: [{ key_name: 'laptop', public_key: ed }, { key_name: 'ci', public_key: ec }] });
  t.equal(created.status, 201, created.text);
  const u = created.json.data;
  t.match(u, { node_id: n1, username: 'deploy', has_password: true });
  t.notOk('password' in u || 'password_hash' in u, 'no password field');
  t.equal(u.public_keys.length, 2);
  t.match(u.public_keys[0], { ssh_username_id: u.id, key_name: 'laptop', public_key: ed, fingerprint: fingerprint(ed) });
  t.equal(u.public_keys[1].fingerprint, fingerprint(ec), 'fingerprints as ssh-keygen -l prints them');
  t.notMatch(created.text, /argon2|\$v=19/, 'the hash never leaves the API');

  const dup = await call('POST', `/api/v1/nodes/${n1}/ssh_usernames`, { username: 'deploy' });
  t.equal(dup.status, 409);
  t.equal(dup.json.error.code, 'conflict');
  t.same(dup.json.error.details, { username: ['has already been taken'] });
  t.equal((await call('POST', '/api/v1/nodes/db-1/ssh_usernames', { username: 'deploy', public_keys: null, password: null })).status, 201, 'same name on another node (by node name)');
  t.equal((await call('POST', `/api/v1/nodes/${n2}/ssh_usernames`, { username: '_ops-1', public_keys: [{ key_name: 'ops', public_key: ec }] })).status, 201);

  // Get, list (filters, ordering, pagination).
  const got = await call('GET', `/api/v1/ssh_usernames/${u.id}`);
  t.equal(got.status, 200);
  t.same(got.json.data, u);
  t.equal((await call('GET', `/api/v1/ssh_usernames/${newId()}`)).status, 404);
  t.equal((await call('GET', '/api/v1/ssh_usernames/not-a-uuid')).status, 400);
  const all = await call('GET', '/api/v1/ssh_usernames');
  t.equal(all.json.meta.pagination.total_count, 3);
  t.notMatch(all.text, /argon2/);
  const names = async (q: string) => (await call('GET', `/api/v1/ssh_usernames?${q}`)).json.data.map((x: { username: string; node_id: string }) => `${x.username}@${x.node_id === n1 ? 'n1' : 'n2'}`);
  t.same(await names('has_password=true'), ['deploy@n1']);
  t.same(await names('has_password=false&order_by=username'), ['_ops-1@n2', 'deploy@n2']);
  t.same(await names('cluster_name=prod&order_by=username&order_directions=desc'), ['deploy@n2', '_ops-1@n2']);
  t.same(await names(`node_id=${n1}`), ['deploy@n1']);
  t.same(await names('username=dep*&order_by=cluster_name'), ['deploy@n1', 'deploy@n2']);
  t.same(await names('inserted_at__gte=2000-01-01&inserted_at__lte=2999-12-31&page_size=1&page=2&order_by=username,cluster_name'), ['deploy@n1']);
  t.equal((await call('GET', '/api/v1/ssh_usernames?order_by=password_hash')).status, 400, 'cannot sort by the hash');
  t.equal((await call('GET', '/api/v1/ssh_usernames?has_password=maybe')).status, 400);

  // Public keys: add (409 for the same key), list with filters, get, delete.
  const ed2 = keygen(dir, 'ed25519', 'bob@example.com');
  const added = await call('POST', `/api/v1/ssh_usernames/${u.id}/ssh_public_keys`, { key_name: 'bob', public_key: `${ed2}  ` });
  t.equal(added.status, 201, added.text);
  t.match(added.json.data, { ssh_username_id: u.id, key_name: 'bob', public_key: ed2, fingerprint: fingerprint(ed2) });
  const again = await call('POST', `/api/v1/ssh_usernames/${u.id}/ssh_public_keys`, { key_name: 'bob again', public_key: ed2.replace('bob@example.com', 'renamed') });
  t.equal(again.status, 409, 'the same key with another comment');
  t.equal((await call('POST', `/api/v1/ssh_usernames/${newId()}/ssh_public_keys`, { key_name: 'x', public_key: ed2 })).status, 404);
  const badKey = await call('POST', `/api/v1/ssh_usernames/${u.id}/ssh_public_keys`, { key_name: '', public_key: 'nope' });
  t.equal(badKey.status, 422);
  t.ok(badKey.json.error.details.key_name && badKey.json.error.details.public_key, 'both fields named');
  const keys = async (q: string) => (await call('GET', `/api/v1/ssh_public_keys?${q}`)).json.data.map((k: { key_name: string }) => k.key_name);
  t.same(await keys('order_by=key_name'), ['bob', 'ci', 'laptop', 'ops']);
  t.same(await keys('public_key=*@example.com&order_by=key_name'), ['bob', 'laptop'], 'wildcard on the comment');
  t.same(await keys(`ssh_username_id=${u.id}&key_name=l*`), ['laptop']);
  t.same(await keys('username=_ops-1'), ['ops']);
  t.same(await keys(`node_id=${n2}`), ['ops']);
  const newest = await keys('cluster_name=main&order_by=inserted_at&order_directions=desc');
  t.equal(newest.length, 3);
  t.equal(newest[0], 'bob', 'newest first');
  const k1 = await call('GET', `/api/v1/ssh_public_keys/${added.json.data.id}`);
  t.same(k1.json.data, added.json.data);
  t.equal((await call('DELETE', `/api/v1/ssh_public_keys/${added.json.data.id}`)).status, 204);
  t.equal((await call('DELETE', `/api/v1/ssh_public_keys/${added.json.data.id}`)).status, 404);
  t.equal((await call('GET', `/api/v1/ssh_public_keys/${added.json.data.id}`)).status, 404);

  // Delete a username: its keys go with it.
  t.equal((await call('DELETE', `/api/v1/ssh_usernames/${u.id}`)).status, 204);
  t.equal((await call('DELETE', `/api/v1/ssh_usernames/${u.id}`)).status, 404);
  t.same(await keys('order_by=key_name'), ['ops'], 'keys cascade with their username');
  // Delete a node: its usernames and keys go.
  t.equal((await call('DELETE', `/api/v1/nodes/${n2}`)).status, 204);
  t.equal((await call('GET', '/api/v1/ssh_usernames')).json.meta.pagination.total_count, 0);
  t.equal((await call('GET', '/api/v1/ssh_public_keys')).json.meta.pagination.total_count, 0);
  t.equal(await credentialState(a.db, n2), undefined, 'credential version row gone with the node');
});

bothDialects(t, 'credential versions and the set pushed to the node', async (t, ctx) => {
  const a = await startTestAdmin(t, ctx.databaseUrl);
  const { call, db } = a;
  const dir = tempDir(t);
  const ed = keygen(dir, 'ed25519', 'ops');
  const n1 = newId(), n2 = newId();
  await addNode(a, n1);
  await addNode(a, n2);
  t.same(await credentialSet(db, n1), { version: 0, users: [] }, 'nothing set yet: version 0');
  t.equal(await credentialSet(db, newId()), null, 'unknown node');

  const withPw = await call('POST', `/api/v1/nodes/${n1}/ssh_usernames`, { username: 'ops', password: PASSWORD, public_keys: [{ key_name: 'laptop', public_key: ed }] });
  t.equal(withPw.status, 201);
  const s1 = (await credentialSet(db, n1))!;
  t.ok(s1.version > 0, 'bumped');
  t.equal(s1.users.length, 1);
  const user = s1.users[0];
  t.match(user, { username: 'ops', public_keys: [{ id: withPw.json.data.public_keys[0].id, key_name: 'laptop', public_key: ed, fingerprint: fingerprint(ed) }] });
  t.match(user.password_hash, /^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$/, 'an Argon2id PHC string');
  t.ok(await loadArgon2().verify(user.password_hash!, PASSWORD), 'the stored hash verifies the password');
  t.notOk(await loadArgon2().verify(user.password_hash!, `${PASSWORD}!`));
  const row = await db.selectFrom('ssh_usernames').select('password_hash').where('id', '=', withPw.json.data.id).executeTakeFirstOrThrow();
  t.not(row.password_hash, PASSWORD, 'never stored in clear');

  const keyOnly = await call('POST', `/api/v1/nodes/${n1}/ssh_usernames`, { username: 'ci-bot', public_keys: [{ key_name: 'ci', public_key: ed }] });
  t.equal(keyOnly.status, 201, keyOnly.text);
  const s2 = (await credentialSet(db, n1))!;
  t.ok(s2.version > s1.version, 'every change raises the version');
  t.same(s2.users.map((x) => x.username), ['ci-bot', 'ops'], 'ordered by username');
  t.notOk('password_hash' in s2.users[0], 'no hash for a key-only user');
  t.same(await credentialSet(db, n2), { version: 0, users: [] }, 'another node is not touched');

  const ed2 = keygen(dir, 'ed25519', 'second');
  const k = await call('POST', `/api/v1/ssh_usernames/${keyOnly.json.data.id}/ssh_public_keys`, { key_name: 'second', public_key: ed2 });
  const s3 = (await credentialSet(db, n1))!;
  t.ok(s3.version > s2.version);
  t.equal(s3.users[0].public_keys!.length, 2);
  await call('DELETE', `/api/v1/ssh_public_keys/${k.json.data.id}`);
  const s4 = (await credentialSet(db, n1))!;
  t.ok(s4.version > s3.version);
  t.equal(s4.users[0].public_keys!.length, 1);
  await call('DELETE', `/api/v1/ssh_usernames/${keyOnly.json.data.id}`);
  const s5 = (await credentialSet(db, n1))!;
  t.ok(s5.version > s4.version);
  t.same(s5.users.map((x) => x.username), ['ops']);
  const failed = await call('POST', `/api/v1/nodes/${n1}/ssh_usernames`, { username: 'ops' });
  t.equal(failed.status, 409);
  t.equal((await credentialSet(db, n1))!.version, s5.version, 'a refused change does not bump');

  // Acks move synced_version forward only.
  t.same(await credentialState(db, n1), { version: s5.version, synced_version: null });
  await markCredentialsSynced(db, [{ node_id: n1, version: s4.version, at: Date.now() }]);
  await markCredentialsSynced(db, [{ node_id: n1, version: s3.version, at: Date.now() }]);
  t.same(await credentialState(db, n1), { version: s5.version, synced_version: s4.version });
  const m = await call('GET', '/api/v1/admins/me/metrics');
  t.match(m.json.data.ssh, { usernames_total: 1, public_keys_total: 1, nodes_with_credentials: 1, nodes_in_sync: 0 });
  await markCredentialsSynced(db, [{ node_id: n1, version: s5.version, at: Date.now() }]);
  t.match((await call('GET', '/api/v1/admins/me/metrics')).json.data.ssh, { nodes_in_sync: 1 });
});
