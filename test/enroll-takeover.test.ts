// Node takeover through enrollment (issue 11, item 2), through the real admin (SQLite and
// PostgreSQL): an attacker who knows a node's id and holds some enrollment key (of the
// victim's cluster, or of another) posts /api/v1/agent/enroll naming that id. The admin must
// enroll the attacker as a new node and leave the victim untouched: same cluster, its token
// still valid, its tunnel still up, and the attacker's tunnel must never receive the victim's
// SSH usernames or password hashes. The legitimate agent, proving its node with its api_token,
// is still re-registered in place.
import t from 'tap';
import { request } from 'undici';
import type { CredentialSet } from '../daemon/tunnel/enrollment';
import { TunnelClient } from '../daemon/agent/tunnel/client';
import { probeTunnel } from '../daemon/agent/tunnel/probe';
import { newId } from '../daemon/admin/store/util';
import { startAdminApi, until } from './helpers/admin-api';
import { bothDialects } from './helpers/postgres';
import { log } from './helpers/tunnel';
import { MemoryTunnelStore } from './helpers/memory-tunnel-store';

/* eslint-disable @typescript-eslint/no-explicit-any */
bothDialects(t, 'enrolling with another node\'s id never takes that node over', async (t, ctx) => {
  t.setTimeout(90_000);
  const a = await startAdminApi(t, ctx);
  const enroll = async (body: Record<string, unknown>, token?: string) => {
    const r = await request(`${a.base}/api/v1/agent/enroll`, {
      method: 'POST', body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });
    return { status: r.statusCode, json: await r.body.json() as any };
  };
  const newKey = async (cluster: string) => {
    const r = await a.call('POST', `/api/v1/clusters/${cluster}/enrollment_keys`, { uses_remaining: 5 });
    t.equal(r.status, 201, r.text);
    return r.json.data.key as string;
  };
  const tunnel = (tokenOf: { node_id: string; api_token: string; tunnel_url: string }, creds: CredentialSet[]) => {
    const c = new TunnelClient({
      url: tokenOf.tunnel_url, token: tokenOf.api_token, nodeId: tokenOf.node_id, agentVersion: 'test', store: new MemoryTunnelStore(),
      hooks: { onCredentialSync: (set) => { creds.push(set); } }, log, heartbeatIntervalMs: 200, backoff: { baseMs: 50, capMs: 200 },
    });
    t.teardown(() => c.stop());
    c.start();
    return c;
  };

  for (const name of ['victims', 'attackers']) t.equal((await a.call('POST', '/api/v1/clusters', { name })).status, 201);
  const victimKey = await newKey('victims');
  const victimId = newId();
  const v = await enroll({ enrollment_key: victimKey, node_id: victimId, id_type: 'persistent', name: 'web-1' });
  t.equal(v.status, 201, JSON.stringify(v.json));
  t.match(v.json.data, { node_id: victimId, reregistered: false });
  t.notOk('requested_node_id' in v.json.data);
  const victim = v.json.data as { node_id: string; api_token: string; tunnel_url: string };
  const su = await a.call('POST', `/api/v1/nodes/${victimId}/ssh_usernames`, { username: 'deploy', password: 'correct horse battery staple' });
  t.equal(su.status, 201, su.text);

  const victimCreds: CredentialSet[] = [];
  const victimTunnel = tunnel(victim, victimCreds);
  await victimTunnel.whenUp();
  await until(async () => victimCreds.some((s) => s.users.some((u) => u.username === 'deploy')), 20_000, 'the victim gets its credential set');
  const victimRow = async () => (await a.call('GET', `/api/v1/nodes/${victimId}`)).json.data;
  const before = await until(async () => { const n = await victimRow(); return n.status === 'healthy' && n; }, 20_000, 'the victim is healthy');
  t.equal(before.cluster_name, 'victims');

  // Both attack shapes: a key of the victim's cluster without the node's token (and with a
  // forged one), and a key of another cluster (even presenting the victim's real token).
  const shapes: Array<[string, string, string | undefined]> = [
    ['same-cluster key, no token', await newKey('victims'), undefined],
    ['same-cluster key, forged token', await newKey('victims'), `${victimId}.${'x'.repeat(43)}`],
    ['other-cluster key, no token', await newKey('attackers'), undefined],
    ['other-cluster key, the victim\'s own token', await newKey('attackers'), victim.api_token],
  ];
  for (const [what, key, token] of shapes) {
    const r = await enroll({ enrollment_key: key, node_id: victimId, id_type: 'persistent', name: 'evil' }, token);
    t.equal(r.status, 201, `${what}: enrolled (${JSON.stringify(r.json)})`);
    const got = r.json.data;
    t.not(got.node_id, victimId, `${what}: as a new node`);
    t.equal(got.requested_node_id, victimId, `${what}: the answer names the refused id`);
    t.equal(got.reregistered, false, `${what}: not a re-registration`);
    t.equal(got.cluster_name, key === shapes[2][1] || key === shapes[3][1] ? 'attackers' : 'victims', `${what}: in the key's cluster`);

    // The attacker's tunnel, with the token it got, is the new node's: no victim credentials.
    const stolen: CredentialSet[] = [];
    const evil = tunnel(got, stolen);
    await evil.whenUp();
    const evilCreds = await a.call('GET', `/api/v1/ssh_usernames?node_id=${got.node_id}`);
    t.equal(evilCreds.status, 200);
    t.same(evilCreds.json.data, [], `${what}: the new node has no SSH usernames`);
    evil.stop();
    t.notOk(JSON.stringify(stolen).includes('deploy'), `${what}: the attacker's tunnel never receives the victim's usernames`);
    t.notOk(JSON.stringify(stolen).includes('$argon2'), `${what}: nor any password hash`);

    // The victim: same cluster, same name, token still valid, tunnel still up and healthy.
    const now = await victimRow();
    t.same({ cluster: now.cluster_name, name: now.node_name, status: now.status }, { cluster: 'victims', name: 'web-1', status: 'healthy' }, `${what}: the victim's node is unchanged and healthy`);
    t.equal(victimTunnel.state, 'up', `${what}: the victim's tunnel is still up`);
  }
  // The victim's token still opens a tunnel (a second one replaces the first: same node).
  const again: CredentialSet[] = [];
  const second = tunnel(victim, again);
  await second.whenUp();
  second.stop();
  t.equal((await a.call('GET', `/api/v1/nodes?cluster_name=victims&page_size=50`)).json.data.length, 3, 'victims: the victim and the two same-cluster attackers, as separate nodes');

  // The legitimate agent re-enrolls (a new key of its cluster) proving its node: in place.
  const legit = await enroll({ enrollment_key: await newKey('victims'), node_id: victimId, id_type: 'persistent', name: 'web-1' }, victim.api_token);
  t.equal(legit.status, 201, JSON.stringify(legit.json));
  t.match(legit.json.data, { node_id: victimId, reregistered: true, cluster_name: 'victims' });
  t.notOk('requested_node_id' in legit.json.data);
  t.equal((await probeTunnel(victim.tunnel_url, victim.api_token)).status, 401, 'after the legitimate re-enrollment the old token is revoked');
  t.equal((await probeTunnel(victim.tunnel_url, legit.json.data.api_token)).status, 101, 'and the new one opens the tunnel');
});
