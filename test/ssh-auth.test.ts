// SSH authentication with the real OpenSSH client: keys (ed25519, ecdsa, rsa), passwords,
// wrong key, wrong password, unknown user, the per-address failure limit, changes through the
// local API taking effect at the next login, and the local API's validation.
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { auditLines, createUser, makeKey, sshKey, sshPassword, startSshDaemon } from './helpers/ssh';

const PASSWORD = 'correct-horse-battery-staple';

t.test('logins', async (t) => {
  t.setTimeout(60_000);
  const d = await startSshDaemon(t);
  const ed = makeKey(t, 'ed25519');
  const ec = makeKey(t, 'ecdsa');
  const rsa = makeKey(t, 'rsa');
  const stranger = makeKey(t, 'ed25519');
  const alice = await createUser(t, d, 'alice', { password: PASSWORD, keys: [ed.pub, ec.pub] });
  t.equal(alice.has_password, true);
  t.notOk('password' in alice || 'password_hash' in alice, 'no password or hash in the answer');
  t.match(alice.public_keys[0].fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);

  t.test('health shows the host key fingerprints', async (t) => {
    const r = await fetch(`${d.url}/api/v1/health`).then((x) => x.json() as Promise<any>);
    t.same(r.ssh_host_keys.map((k: any) => k.type).sort(), ['ssh-ed25519', 'ssh-rsa']);
    for (const k of r.ssh_host_keys) t.match(k.fingerprint, /^SHA256:/);
  });

  t.test('ed25519 and ecdsa key logins run as the run-as account', async (t) => {
    for (const k of [ed, ec]) {
      const r = await sshKey(t, d, 'alice', k.key, 'id -un; echo "$USER $HOME"; pwd; id -G');
      t.equal(r.code, 0, r.stderr);
      const [who, env, cwd, groups] = r.stdout.trim().split('\n');
      t.equal(who, 'outpost-test');
      t.equal(env, 'outpost-test /home/outpost-test');
      t.equal(cwd, '/home/outpost-test');
      t.notOk(groups.split(' ').includes('0'), 'no root group');
    }
  });

  t.test('password login', async (t) => {
    const r = await sshPassword(t, d, 'alice', PASSWORD, 'echo pw-ok');
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout, 'pw-ok\n');
  });

  t.test('wrong key, wrong password, unknown user are refused', async (t) => {
    const wrongKey = await sshKey(t, d, 'alice', stranger.key, 'echo no');
    t.equal(wrongKey.code, 255);
    t.match(wrongKey.stderr, /Permission denied/);
    t.equal(wrongKey.stdout, '');
    const wrongPw = await sshPassword(t, d, 'alice', 'not-the-password!', 'echo no');
    t.equal(wrongPw.code, 255);
    t.match(wrongPw.stderr, /Permission denied/);
    const unknownPw = await sshPassword(t, d, 'mallory', PASSWORD, 'echo no');
    t.equal(unknownPw.code, 255);
    const unknownKey = await sshKey(t, d, 'mallory', ed.key, 'echo no');
    t.equal(unknownKey.code, 255);
    const failed = auditLines(d).filter((l) => l.event === 'login_failed');
    t.ok(failed.some((l) => l.user === 'alice' && l.method === 'password'), 'wrong password audited');
    t.ok(failed.some((l) => l.user === 'mallory'), 'unknown user audited');
    // OpenSSH never signs with a key the server refused: the refused offer is the wrong-key login.
    const strangerFp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${stranger.key}.pub`], { encoding: 'utf8' }).split(' ')[1];
    t.ok(failed.some((l) => l.user === 'alice' && l.method === 'publickey' && l.key_fingerprint === strangerFp && l.reason === 'unknown key' && l.source_address),
      'wrong key audited like a wrong password (user, method, offered key fingerprint, source)', { failed });
    const stats = d.daemon.ssh!.stats();
    t.ok(stats.failures_total >= 3, 'failures counted');
    t.ok(stats.authentications_total > stats.failures_total, 'attempts counted');
    t.ok(stats.connections_total >= 5, 'connections counted');
  });

  t.test('a user without a password cannot log in with any password', async (t) => {
    await createUser(t, d, 'keyonly', { keys: [rsa.pub] });
    const r = await sshPassword(t, d, 'keyonly', '', 'true');
    t.equal(r.code, 255);
    const ok = await sshKey(t, d, 'keyonly', rsa.key, 'echo rsa-ok');
    t.equal(ok.stdout, 'rsa-ok\n', ok.stderr);
  });

  t.test('keys added and removed through the API apply at the next login', async (t) => {
    const before = await sshKey(t, d, 'alice', rsa.key, 'true');
    t.equal(before.code, 255);
    const added = await d.api('POST', `/api/v1/agent/ssh_usernames/${alice.id}/ssh_public_keys`, { key_name: 'rsa', public_key: rsa.pub });
    t.equal(added.status, 201);
    t.equal((await sshKey(t, d, 'alice', rsa.key, 'true')).code, 0);
    const dup = await d.api('POST', `/api/v1/agent/ssh_usernames/${alice.id}/ssh_public_keys`, { key_name: 'again', public_key: rsa.pub });
    t.equal(dup.status, 409);
    t.equal((await d.api('DELETE', `/api/v1/agent/ssh_usernames/${alice.id}/ssh_public_keys/${added.body.id}`)).status, 204);
    t.equal((await sshKey(t, d, 'alice', rsa.key, 'true')).code, 255);
    const gone = await d.api('DELETE', `/api/v1/agent/ssh_usernames/${alice.id}/ssh_public_keys/${added.body.id}`);
    t.equal(gone.status, 404);
  });

  t.test('a deleted username cannot log in', async (t) => {
    const u = await createUser(t, d, 'temp_user', { keys: [stranger.pub] });
    t.equal((await sshKey(t, d, 'temp_user', stranger.key, 'true')).code, 0);
    t.equal((await d.api('DELETE', `/api/v1/agent/ssh_usernames/${u.id}`)).status, 204);
    t.equal((await d.api('GET', `/api/v1/agent/ssh_usernames/${u.id}`)).status, 404);
    t.equal((await sshKey(t, d, 'temp_user', stranger.key, 'true')).code, 255);
  });
});

t.test('local API validation and auth', async (t) => {
  t.setTimeout(30_000);
  const d = await startSshDaemon(t);
  const k = makeKey(t);
  const post = (body: unknown) => d.api('POST', '/api/v1/agent/ssh_usernames', body);
  const bad = async (body: unknown, field: string) => {
    const r = await post(body);
    t.equal(r.status, 400, `${JSON.stringify(body).slice(0, 60)} → 400`);
    t.equal(r.body.error, 'bad_request');
    t.match(r.body.message, field, `names ${field}`);
  };
  await bad({ username: 'ab' }, 'body.username');
  await bad({ username: 'Admin' }, 'body.username');
  await bad({ username: '1abc' }, 'body.username');
  await bad({ username: 'a'.repeat(33) }, 'body.username');
  await bad({ username: 'okname', password: 'short' }, 'body.password');
  await bad({ username: 'okname', public_keys: [{ key_name: 'x', public_key: 'ssh-dss AAAAB3NzaC1kc3MAAACBAP' }] }, 'body.public_keys.0.public_key');
  await bad({ username: 'okname', public_keys: [{ key_name: 'x', public_key: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBROKEN' }] }, 'body.public_keys.0.public_key');
  await bad({ username: 'okname', public_keys: [{ key_name: 'x', public_key: k.pub.replace(/^ssh-ed25519/, 'ssh-rsa') }] }, 'body.public_keys.0.public_key');
  await bad({ username: 'okname', public_keys: [{ public_key: k.pub }] }, 'body.public_keys.0.key_name');
  await bad({ username: 'okname', extra: 1 }, 'extra');
  const small = makeKeyRsa1024(t);
  if (small) await bad({ username: 'okname', public_keys: [{ key_name: 'x', public_key: small }] }, 'bits');

  const ok = await post({ username: '_svc-1', password: null, public_keys: [{ key_name: 'laptop', public_key: k.pub }] });
  t.equal(ok.status, 201);
  t.equal(ok.body.has_password, false);
  t.equal(ok.body.public_keys[0].key_name, 'laptop');
  t.equal((await post({ username: '_svc-1' })).status, 409, 'duplicate username');
  const list = await d.api('GET', '/api/v1/agent/ssh_usernames');
  t.same(list.body.ssh_usernames.map((u: any) => u.username), ['_svc-1']);
  t.equal((await d.api('GET', '/api/v1/agent/ssh_usernames/not-a-uuid')).status, 400);
  t.equal((await d.api('GET', '/api/v1/agent/ssh_usernames/00000000-0000-4000-8000-000000000000')).status, 404);
  t.equal((await d.api('POST', '/api/v1/agent/ssh_usernames/00000000-0000-4000-8000-000000000000/ssh_public_keys', { key_name: 'a', public_key: k.pub })).status, 404);

  const noKey = await fetch(`${d.url}/api/v1/agent/ssh_usernames`);
  t.equal(noKey.status, 401, 'needs a key');
});

t.test('an address past its failure budget is refused, even with a good key', async (t) => {
  t.setTimeout(60_000);
  const d = await startSshDaemon(t, [], { OUTPOST_SSH_AUTH_FAILURES_PER_MINUTE: '3' });
  const k = makeKey(t);
  await createUser(t, d, 'bob', { password: PASSWORD, keys: [k.pub] });
  t.equal((await sshKey(t, d, 'bob', k.key, 'true')).code, 0, 'good key works before');
  for (let i = 0; i < 3; i++) t.equal((await sshPassword(t, d, 'bob', `wrong-password-${i}`, 'true')).code, 255);
  const refused = await sshKey(t, d, 'bob', k.key, 'echo should-not-run');
  t.equal(refused.code, 255);
  t.equal(refused.stdout, '');
  t.ok(d.daemon.ssh!.stats().refused_total >= 1, 'refusal counted');
  t.ok(auditLines(d).some((l) => l.event === 'login_refused'), 'refusal audited');
});

function makeKeyRsa1024(t: any): string | undefined {
  try {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const fs = require('node:fs') as typeof import('node:fs');
    const path = require('node:path') as typeof import('node:path');
    const os = require('node:os') as typeof import('node:os');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-rsa1024-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    execFileSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '1024', '-N', '', '-f', path.join(dir, 'k')], { stdio: 'ignore' });
    return fs.readFileSync(path.join(dir, 'k.pub'), 'utf8').trim();
  } catch {
    return undefined;
  }
}
