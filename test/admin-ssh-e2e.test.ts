// End to end: an admin (the real control-plane app, its tunnel endpoint over the same store)
// and a real agent daemon with SSH on and ENROLLMENT_KEY. SSH usernames created through the
// admin API reach the agent over the tunnel and the real OpenSSH client logs in with their key
// or password; a username deleted through the API is refused (also one deleted while the
// node's tunnel was down, once it reconnects); the admin's set takes over a
// local username of the same name; with the admin stopped (and the agent restarted) the agent
// still accepts the logins it was given.
import t, { type Test } from 'tap';
import { request } from 'undici';
import { loadConfig } from '../daemon/config/config';
import { startDaemon, type Daemon } from '../daemon/daemon';
import { credentialState } from '../daemon/admin/store/ssh';
import { createLogger } from '../daemon/base/log';
import { agentKey, attachTunnel, startTestAdmin, type TestAdmin } from './helpers/admin-ssh';
import { AGENT_OFF, tempDir } from './helpers/daemon';
import { freePort } from './helpers/tunnel';
import { ensureRunAsUser, eventually, makeKey, MASTER, RUN_AS, sshKey, sshPassword, type SshDaemon } from './helpers/ssh';
import { sleep } from './helpers/wait';

const PASSWORD = 'a long enough password 42';

/** An agent daemon with SSH on, in `dataDir`, enrolling with `blob`. */
async function agent(t: Test, dataDir: string, blob: string): Promise<SshDaemon & { daemon: Daemon }> {
  ensureRunAsUser();
  const cfg = loadConfig(['--data-dir', dataDir, '--api-port', '0', '--log-level', 'silent', ...AGENT_OFF, '--ssh-enabled', 'true', '--ssh-port', '0', '--ssh-run-as', RUN_AS],
    { MASTER_KEY: MASTER, ENROLLMENT_KEY: blob, OUTPOST_HEARTBEAT_INTERVAL_MS: '200' });
  const daemon = await startDaemon(cfg, createLogger(cfg.log_level));
  t.teardown(() => daemon.close());
  const url = `http://127.0.0.1:${daemon.port}`;
  const api = async (method: string, p: string, body?: unknown) => {
    const r = await request(`${url}${p}`, { method: method as 'GET', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.statusCode, body: parsed as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  return { daemon, url, dataDir, sshPort: daemon.sshPort!, api };
}

/** Resolves once the node's agent acknowledged the node's current credential version. */
async function synced(a: TestAdmin, nodeId: string, ms = 5000): Promise<void> {
  await eventually(async () => {
    const s = await credentialState(a.db, nodeId);
    return s !== undefined && s.synced_version !== null && s.synced_version >= s.version;
  }, ms);
}

t.test('SSH usernames from the admin API log in on the agent; deletes refuse; the agent keeps them while the admin is down', async (t) => {
  t.setTimeout(120_000);
  const a = await startTestAdmin(t);
  const tunnelPort = await freePort();
  let tunnel = await attachTunnel(t, a, { port: tunnelPort });
  const blob = await agentKey(a, tunnel.url);
  const dir = tempDir(t);
  const d = await agent(t, dir, blob);
  await d.daemon.tunnel!.whenEnrolled();
  await d.daemon.tunnel!.client!.whenUp();
  const nodeId = d.daemon.tunnel!.state!.node_id;
  t.equal((await a.call('GET', `/api/v1/nodes/${nodeId}`)).json.data.status, 'healthy', 'the agent is a healthy node');

  // Nobody can log in yet.
  const alice = makeKey(t);
  t.equal((await sshKey(t, d, 'alice', alice.key, 'true')).code, 255, 'unknown user refused');

  // A username with a key, through the admin API: it logs in within seconds.
  const created = await a.call('POST', `/api/v1/nodes/${nodeId}/ssh_usernames`, { username: 'alice', public_keys: [{ key_name: 'laptop', public_key: alice.pub }] });
  t.equal(created.status, 201, created.text);
  const t0 = Date.now();
  await synced(a, nodeId);
  const login = await sshKey(t, d, 'alice', alice.key, 'id -un');
  t.equal(login.code, 0, login.stderr);
  t.equal(login.stdout.trim(), RUN_AS, 'the session runs as the run-as account');
  t.comment(`key login ${Date.now() - t0} ms after the API call`);
  // The first login with that key reaches the admin as edge.ssh_username.verified (once).
  await sshKey(t, d, 'alice', alice.key, 'true');
  const verified = (await eventually(async () => {
    const rows = await a.db.selectFrom('events').selectAll().where('type', '=', 'edge.ssh_username.verified').execute();
    return rows.length ? rows : undefined;
  }, 5000))!;
  await sleep(500); // on purpose: a second event, if any, would have arrived by now
  t.equal((await a.db.selectFrom('events').select('id').where('type', '=', 'edge.ssh_username.verified').execute()).length, 1, 'one event for the first login with this key, none for the second');
  t.match(JSON.parse(verified[0].data), { username: 'alice', method: 'publickey', key_fingerprint: /^SHA256:/, node_id: nodeId, source_address: '127.0.0.1' });

  // A username with a password only.
  const pw = await a.call('POST', `/api/v1/nodes/${nodeId}/ssh_usernames`, { username: 'bob', password: PASSWORD });
  t.equal(pw.status, 201);
  t.notMatch(pw.text, /argon2/);
  await synced(a, nodeId);
  const bob = await sshPassword(t, d, 'bob', PASSWORD, 'echo pw-ok');
  t.equal(bob.code, 0, bob.stderr);
  t.equal(bob.stdout.trim(), 'pw-ok');
  t.equal((await sshPassword(t, d, 'bob', `${PASSWORD}x`, 'true')).code, 255, 'wrong password refused');
  t.equal((await sshKey(t, d, 'bob', alice.key, 'true')).code, 255, "alice's key is not bob's");

  // The agent's local view: admin-managed, and not changeable through the local API.
  const local = await d.api('GET', '/api/v1/agent/ssh_usernames');
  const managed = local.body.ssh_usernames.find((u: { username: string }) => u.username === 'alice');
  t.equal(managed?.source, 'admin', 'marked as admin-managed on the agent');
  t.equal((await d.api('DELETE', `/api/v1/agent/ssh_usernames/${managed.id}`)).status, 409, 'the local API cannot delete it');

  // A local username of the same name as one the admin then creates: the admin wins.
  const carolLocal = makeKey(t);
  const carolAdmin = makeKey(t);
  t.equal((await d.api('POST', '/api/v1/agent/ssh_usernames', { username: 'carol', public_keys: [{ key_name: 'local', public_key: carolLocal.pub }] })).status, 201);
  t.equal((await d.api('POST', '/api/v1/agent/ssh_usernames', { username: 'dave', password: PASSWORD })).status, 201, 'a local user');
  t.equal((await sshKey(t, d, 'carol', carolLocal.key, 'true')).code, 0, 'the local carol logs in');
  await a.call('POST', `/api/v1/nodes/${nodeId}/ssh_usernames`, { username: 'carol', public_keys: [{ key_name: 'admin', public_key: carolAdmin.pub }] });
  await synced(a, nodeId);
  t.equal((await sshKey(t, d, 'carol', carolAdmin.key, 'true')).code, 0, "the admin's carol logs in");
  t.equal((await sshKey(t, d, 'carol', carolLocal.key, 'true')).code, 255, 'the local carol was replaced');
  t.equal((await sshPassword(t, d, 'dave', PASSWORD, 'true')).code, 0, 'other local users are untouched by syncs');

  // A key added later works; deleting the username refuses it again.
  const alice2 = makeKey(t);
  t.equal((await a.call('POST', `/api/v1/ssh_usernames/${created.json.data.id}/ssh_public_keys`, { key_name: 'desktop', public_key: alice2.pub })).status, 201);
  await synced(a, nodeId);
  t.equal((await sshKey(t, d, 'alice', alice2.key, 'true')).code, 0, 'the added key logs in');
  t.equal((await a.call('DELETE', `/api/v1/ssh_usernames/${created.json.data.id}`)).status, 204);
  await synced(a, nodeId);
  t.equal((await sshKey(t, d, 'alice', alice.key, 'true')).code, 255, 'deleted username refused');
  t.equal((await sshKey(t, d, 'alice', alice2.key, 'true')).code, 255, 'with every key');

  // Changes made while the node's tunnel is down reach it when it reconnects.
  const erin = await a.call('POST', `/api/v1/nodes/${nodeId}/ssh_usernames`, { username: 'erin', password: PASSWORD });
  await synced(a, nodeId);
  await tunnel.stop();
  await eventually(() => d.daemon.tunnel!.client!.stats().state !== 'up', 5000);
  t.equal((await a.call('DELETE', `/api/v1/ssh_usernames/${pw.json.data.id}`)).status, 204, 'bob deleted while the node is away');
  t.equal((await sshPassword(t, d, 'bob', PASSWORD, 'true')).code, 0, 'the agent does not know yet');
  tunnel = await attachTunnel(t, a, { port: tunnelPort });
  await synced(a, nodeId, 40_000);
  t.equal((await sshPassword(t, d, 'bob', PASSWORD, 'true')).code, 255, 'refused once the node reconnected and took the current set');

  // The admin goes away: the agent keeps accepting what it was given, also after a restart.
  t.equal(erin.status, 201);
  await tunnel.stop();
  await eventually(() => d.daemon.tunnel!.client!.stats().state !== 'up', 5000);
  t.equal((await sshPassword(t, d, 'erin', PASSWORD, 'echo still')).stdout.trim(), 'still', 'password login with the admin down');
  t.equal((await sshKey(t, d, 'carol', carolAdmin.key, 'true')).code, 0, 'key login with the admin down');
  await d.daemon.close();
  const d2 = await agent(t, dir, blob);
  t.equal((await sshPassword(t, d2, 'erin', PASSWORD, 'echo restarted')).stdout.trim(), 'restarted', 'after an agent restart, admin still down');
  t.equal((await sshPassword(t, d2, 'bob', PASSWORD, 'true')).code, 255);
  t.equal((await sshKey(t, d2, 'carol', carolAdmin.key, 'true')).code, 0);
  t.equal((await sshKey(t, d2, 'alice', alice.key, 'true')).code, 255, 'the deleted one stays refused');
});
