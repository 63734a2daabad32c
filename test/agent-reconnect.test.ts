// The agent's identity across restarts and keys (issue 11, items 2 and 9), with real
// AgentTunnels against a real admin endpoint (uWS + enrollment route + hub over the in-memory
// backend): the key is needed once; a new key re-enrolls the SAME node because the agent proves
// it with its api_token; and when it cannot connect, the log says why, once, not per retry.
import pino from 'pino';
import t, { type Test } from 'tap';
import { MemoryTunnelBackend } from './helpers/memory-tunnel-backend';
import { AgentTunnel } from '../daemon/agent/tunnel';
import { RetryLog } from '../daemon/agent/tunnel/retry-log';
import { tempDir } from './helpers/daemon';
import { FAST_BACKOFF, newKey, startAdmin } from './helpers/tunnel';
import { until } from './helpers/wait';

/* eslint-disable @typescript-eslint/no-explicit-any */
function capture() {
  const lines: any[] = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
  return { log, lines };
}

function agent(t: Test, dataDir: string, log: pino.Logger, enrollmentKey?: string): AgentTunnel {
  const a = new AgentTunnel({ dataDir, enrollmentKey, agentVersion: '1.0.0', heartbeatIntervalMs: 100, log, backoff: FAST_BACKOFF, machineIdFile: '/nonexistent' });
  t.teardown(() => a.close());
  return a;
}

t.test('the key is needed once; a new key re-enrolls the same node, proven by its api_token', async (t) => {
  t.setTimeout(30_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const dataDir = tempDir(t);
  const k1 = newKey(b, admin.url, 1);
  const a1 = agent(t, dataDir, capture().log, k1.blob);
  a1.start();
  await a1.whenEnrolled();
  await a1.client!.whenUp();
  const id = a1.state!.node_id;
  await a1.close();

  // Restarted without ENROLLMENT_KEY (the one-use key is spent anyway): the stored identity.
  const c2 = capture();
  const a2 = agent(t, dataDir, c2.log);
  a2.start();
  await a2.client!.whenUp();
  t.equal(a2.state!.node_id, id, 'same node');
  t.ok(c2.lines.some((l) => /no ENROLLMENT_KEY: connecting with the identity enrolled earlier/.test(l.msg)), 'says it uses the stored identity');
  await a2.close();

  // A new key (same cluster): the agent enrolls again and proves its node.
  const c3 = capture();
  const k2 = newKey(b, admin.url, 1);
  const a3 = agent(t, dataDir, c3.log, k2.blob);
  a3.start();
  await a3.whenEnrolled();
  await a3.client!.whenUp();
  t.equal(a3.state!.node_id, id, 're-registered in place, not a new node');
  t.equal(b.nodes.size, 1, 'one node in the admin');
  t.match(c3.lines.find((l) => l.msg === 'enrolled with the admin'), { node_id: id, reregistered: true });
  t.notOk(c3.lines.some((l) => l.requested_node_id), 'no "new node" warning');
  await a3.close();
});

t.test('token refused by the admin: said once, at error, with what to do; not per retry', async (t) => {
  t.setTimeout(30_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const dataDir = tempDir(t);
  const a1 = agent(t, dataDir, capture().log, newKey(b, admin.url, 1).blob);
  a1.start();
  await a1.whenEnrolled();
  await a1.client!.whenUp();
  await a1.close();
  // The node is deleted on the admin: its token is refused at the upgrade.
  b.nodes.clear();
  b.byToken.clear();
  const c = capture();
  const a2 = agent(t, dataDir, c.log);
  a2.start();
  const down = () => c.lines.filter((l) => /tunnel to the admin is down/.test(l.msg));
  await until('several refused attempts', () => down().length >= 5, 20_000);
  const loud = down().filter((l) => l.level >= 40);
  t.equal(loud.length, 1, `one loud line for ${down().length} attempts`);
  t.equal(loud[0].level, 50, 'at error');
  t.match(loud[0].msg, /the admin refused this node's api_token \(HTTP 401: invalid node api_token/);
  t.match(loud[0].msg, /ENROLLMENT_KEY/, 'says what to do');
  t.match(a2.stats().last_error, /refused this node's api_token/, 'stats() says it too');
  t.notOk(JSON.stringify(c.lines).includes(a2.state!.api_token.split('.').pop()!), 'the token is never logged');
});

t.test('neither a key nor an enrolled identity: one clear line, no tunnel', async (t) => {
  const c = capture();
  const a = agent(t, tempDir(t), c.log);
  a.start();
  t.equal(a.client, undefined);
  t.match(c.lines, [{ level: 40, msg: /not enrolled: no ENROLLMENT_KEY and no data_dir\/agent\/tunnel.json/ }]);
});

t.test('RetryLog: loud on the first failure and on a new cause, quiet on repeats, a reminder when due, the recovery once', async (t) => {
  const c = capture();
  const r = new RetryLog(c.log, 'tunnel to the admin is down', 60_000);
  r.fail('the admin is unreachable at h:1 (ECONNREFUSED)');
  r.fail('the admin is unreachable at h:1 (ECONNREFUSED)');
  r.fail('the admin is unreachable at h:1 (ECONNREFUSED)');
  r.fail('the admin answered HTTP 503: starting');
  t.same(c.lines.map((l) => l.level), [40, 20, 20, 40], 'warn, debug, debug, warn (new cause)');
  t.same(c.lines.map((l) => l.attempts), [1, 2, 3, 4]);
  t.same(r.ok()?.failed_attempts, 4);
  t.equal(r.ok(), null, 'nothing to report once recovered');
  // remindMs 0: every repeat is a reminder with the count.
  const d = capture();
  const due = new RetryLog(d.log, 'enrollment failed', 0);
  due.fail('x', {}, 'error');
  due.fail('x', {}, 'error');
  t.same(d.lines.map((l) => l.level), [50, 50]);
  t.match(d.lines[1].msg, /^enrollment failed: still failing after 2 attempts: x/);
  t.type(d.lines[1].failing_for_s, 'number');
});
