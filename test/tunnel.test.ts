// The agent tunnel end to end on loopback: a real admin (uWS HttpServer + enrollment route +
// TunnelHub over the in-memory store) and real agents (AgentTunnel: enrollment over HTTP, undici
// WebSocket, LMDB outbox). Enrollment and its refusals, heartbeats, deliveries and results with
// acks, admin restart and agent restart with queued results, credential sync, metrics, status.
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { MemoryTunnelBackend } from './helpers/memory-tunnel-backend';
import { AgentTunnel, type TunnelHooks } from '../daemon/agent/tunnel';
import type { CommandDeliver } from '../daemon/tunnel/schema';
import { tempDir } from './helpers/daemon';
import { FAST_BACKOFF, freePort, log, newKey, startAdmin } from './helpers/tunnel';
import { until } from './helpers/wait';

function agent(t: Test, dataDir: string, blob: string, hooks: TunnelHooks = {}): AgentTunnel {
  const a = new AgentTunnel({ dataDir, enrollmentKey: blob, agentVersion: '9.9.9', heartbeatIntervalMs: 100, log, hooks, backoff: FAST_BACKOFF, machineIdFile: '/nonexistent' });
  t.teardown(() => a.close());
  return a;
}

t.test('enroll → tunnel → heartbeats reach the backend; a restarted agent does not enroll again', async (t) => {
  t.setTimeout(20_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const dir = tempDir(t);
  const { blob } = newKey(b, admin.url, 1);
  const a = agent(t, dir, blob);
  a.start();
  await a.whenEnrolled();
  const nodeId = a.state!.node_id;
  t.match(nodeId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.equal(a.state!.id_type, 'random', 'no machine id: a random id, kept');
  t.equal(fs.readFileSync(path.join(dir, 'agent', 'node_id'), 'utf8').trim(), `${nodeId} random`);
  const st = fs.statSync(path.join(dir, 'agent', 'tunnel.json'));
  t.equal(st.mode & 0o777, 0o600, 'tunnel.json (holds the api_token) is owner-only');
  const saved = JSON.parse(fs.readFileSync(path.join(dir, 'agent', 'tunnel.json'), 'utf8'));
  t.equal(saved.tunnel_url, `ws://127.0.0.1:${admin.port}/api/v1/agent/tunnel`);
  t.equal(saved.cluster_name, 'default');
  t.notOk(JSON.stringify(saved).includes('test-secret'), 'the key secret itself is not stored');

  await b.waitFor(() => b.heartbeats.filter((h) => h.node_id === nodeId).length >= 2, 5000, 'heartbeats');
  const hb = b.heartbeats.find((h) => h.node_id === nodeId)!;
  t.ok(hb.mem_total_bytes! > 0 && hb.time > 0, 'heartbeat carries brief metrics');
  t.equal(b.nodes.get(nodeId)!.status, 'healthy');
  t.equal(b.nodes.get(nodeId)!.version, '9.9.9');
  t.ok(admin.hub.isConnected(nodeId));

  // Restart: the key had one use, so a second enrollment would be refused; it reconnects instead.
  await a.close();
  await b.waitFor(() => b.nodes.get(nodeId)!.status === 'unreachable', 5000, 'unreachable after the agent left');
  const a2 = agent(t, dir, blob);
  a2.start();
  await a2.client!.whenUp();
  t.equal(a2.state!.node_id, nodeId, 'same node id after a restart');
  t.equal(a2.enrollError, null);
  await b.waitFor(() => b.nodes.get(nodeId)!.status === 'healthy', 5000, 'healthy again');
  t.same(b.statusLog.filter((s) => s.node_id === nodeId).map((s) => s.to), ['healthy', 'unreachable', 'healthy'], 'each change once');
});

t.test('unknown enrollment keys are limited per source address; the agent retries a 429', async (t) => {
  t.setTimeout(20_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b, { enrollFailuresPerMinute: 3 });
  const { enroll, EnrollFailure } = await import('../daemon/agent/tunnel');
  const { decodeKeyBlob } = await import('../daemon/tunnel/enrollment');
  const post = (secret: string) => fetch(`${admin.url}/api/v1/agent/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enrollment_key: secret, node_id: '11111111-2222-4333-8444-555555555555' }) });
  for (let i = 0; i < 3; i++) t.equal((await post(`guessed-secret-000000-${i}`)).status, 401, `guess ${i + 1}: 401`);
  const good = newKey(b, admin.url, 1);
  const limited = await post(good.secret);
  t.equal(limited.status, 429, 'over the limit even a valid key waits');
  t.match(await limited.text(), /too many unknown enrollment keys from this address.*enroll_rate_limited/, 'says why');
  t.equal(b.keys.get(good.secret)?.uses_remaining, 1, 'the refused attempt used nothing');
  const e = await enroll({ key: decodeKeyBlob(good.blob), identity: { node_id: '11111111-2222-4333-8444-555555555555', id_type: 'random' }, agentVersion: '1' }).catch((err) => err);
  t.ok(e instanceof EnrollFailure && e.retryable, 'the agent sees a retryable failure'); t.match(e.message, /HTTP 429: too many unknown enrollment keys/);
});

t.test('enrollment refusals are clear and final; an unreachable admin is retried', async (t) => {
  t.setTimeout(20_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const { enroll, EnrollFailure } = await import('../daemon/agent/tunnel');
  const { decodeKeyBlob, encodeKeyBlob } = await import('../daemon/tunnel/enrollment');
  const identity = { node_id: '11111111-2222-4333-8444-555555555555', id_type: 'random' as const };

  const unknown = decodeKeyBlob(encodeKeyBlob({ v: 1, urls: [admin.url], secret: 'never-issued-secret-0000' }));
  const e1 = await enroll({ key: unknown, identity, agentVersion: '1' }).catch((e) => e);
  t.ok(e1 instanceof EnrollFailure);
  t.equal(e1.status, 401);
  t.equal(e1.retryable, false);
  t.match(e1.message, /HTTP 401.*does not know this enrollment key/);

  const used = newKey(b, admin.url, 1);
  await enroll({ key: decodeKeyBlob(used.blob), identity, agentVersion: '1' });
  const e2 = await enroll({ key: decodeKeyBlob(used.blob), identity, agentVersion: '1' }).catch((e) => e);
  t.equal(e2.status, 403);
  t.equal(e2.reason, 'key_exhausted');
  t.match(e2.message, /no uses left/);

  const expired = newKey(b, admin.url, null, Date.now() - 1000);
  const e3 = await enroll({ key: decodeKeyBlob(expired.blob), identity, agentVersion: '1' }).catch((e) => e);
  t.equal(e3.status, 403);
  t.match(e3.message, /expired/);

  // Two agents racing for a single-use key: exactly one wins (the backend's atomic consume).
  const race = newKey(b, admin.url, 1);
  const outcomes = await Promise.allSettled([1, 2, 3].map((i) => enroll({ key: decodeKeyBlob(race.blob), identity: { node_id: `11111111-2222-4333-8444-00000000000${i}`, id_type: 'random' }, agentVersion: '1' })));
  t.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, 'one use, one winner');

  // Field errors name the field.
  const r = await fetch(`${admin.url}/api/v1/agent/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ enrollment_key: race.secret, node_id: 'not-a-uuid' }) });
  t.equal(r.status, 400);
  t.match(await r.text(), /node_id/);

  // Nobody listening: retryable, and says which URL.
  const down = decodeKeyBlob(encodeKeyBlob({ v: 1, urls: ['http://127.0.0.1:1'], secret: 'whatever-secret-123456' }));
  const e4 = await enroll({ key: down, identity, agentVersion: '1' }).catch((e) => e);
  t.equal(e4.retryable, true);
  t.match(e4.message, /cannot reach any admin.*127\.0\.0\.1:1/);

  // Malformed blobs fail at start with the reason.
  t.throws(() => decodeKeyBlob('%%%'), /not base64/);
  t.throws(() => decodeKeyBlob(Buffer.from('{"v":2}').toString('base64')), /unsupported version 2/);
  t.throws(() => decodeKeyBlob(Buffer.from('{"v":1,"urls":["ftp://x"],"secret":"0123456789abcdef"}').toString('base64')), /not an http\(s\) URL/);
  t.throws(() => new AgentTunnel({ dataDir: tempDir(t), enrollmentKey: 'bm9wZQ==', agentVersion: '1', heartbeatIntervalMs: 1000, log }), /ENROLLMENT_KEY is not a valid enrollment key/);

  // An agent refused for good stops trying and says why.
  const a = agent(t, tempDir(t), used.blob);
  a.start();
  await until('the enrollment error', () => a.enrollError);
  t.match(a.enrollError!, /no uses left/);
  t.equal(a.client, undefined, 'no tunnel without an enrollment');
});

t.test('a bad or missing token is refused at the upgrade', async (t) => {
  t.setTimeout(10_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const http = await import('node:http');
  const tryUpgrade = (headers: Record<string, string>) => new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: admin.port, path: '/api/v1/agent/tunnel', headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers } });
    req.on('response', (res) => { let body = ''; res.on('data', (d) => { body += d; }); res.on('end', () => resolve({ status: res.statusCode!, body })); });
    req.on('upgrade', () => reject(new Error('upgraded with a bad token')));
    req.on('error', reject);
    req.end();
  });
  const none = await tryUpgrade({});
  t.equal(none.status, 401);
  t.match(none.body, /missing bearer token/);
  const bad = await tryUpgrade({ authorization: 'Bearer not-a-token' });
  t.equal(bad.status, 401);
  t.match(bad.body, /invalid node api_token/);
  t.equal(admin.hub.stats().rejected_total, 2);
  t.equal(admin.hub.size, 0);
});

t.test('command delivery → hook → result → ack; repeats are idempotent; cancel reaches the hook', async (t) => {
  t.setTimeout(20_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const delivered: CommandDeliver[] = [];
  const cancelled: Array<[string, string | null]> = [];
  let a!: AgentTunnel;
  const hooks: TunnelHooks = {
    async onCommandDeliver(d) {
      delivered.push(d);
      if (d.command_text === 'echo hi') setTimeout(() => void a.reportResult({ execution_id: d.execution_id, status: 'completed', exit_code: 0, output: 'hi\n', completed_at: Date.now() }), 20);
      return `local-${delivered.length}`;
    },
    async onCommandCancel(id, ref) {
      cancelled.push([id, ref]);
      await a.reportResult({ execution_id: id, status: 'cancelled', exit_code: 143, output: '', cancelled_at: Date.now() });
    },
  };
  a = agent(t, tempDir(t), newKey(b, admin.url).blob, hooks);
  a.start();
  await a.whenEnrolled();
  await a.client!.whenUp();
  const nodeId = a.state!.node_id;

  const ex = b.addExecution(nodeId, 'echo hi', 5000);
  t.ok(admin.hub.deliverCommand(nodeId, ex.deliver));
  t.ok(admin.hub.deliverCommand(nodeId, ex.deliver), 'a repeat is sent');
  await b.waitFor(() => ex.status === 'completed', 5000, 'result');
  t.equal(ex.result!.exit_code, 0);
  t.equal(ex.result!.output, 'hi\n');
  t.ok(ex.sent_at, 'the ack marked it sent');
  t.equal(delivered.length, 1, 'the hook ran once for the repeat');
  t.same(delivered[0], { execution_id: ex.id, command_id: ex.deliver.command_id, command_text: 'echo hi', timeout_ms: 5000 });
  await b.waitFor(() => a.store.pending === 0, 5000, 'outbox drained by the ack');
  t.equal(a.store.pending, 0, 'result acked: nothing left in the outbox');

  // Undelivered while offline: delivered on the next tunnelUp.
  const later = b.addExecution(nodeId, 'sleep 100');
  t.ok(admin.hub.deliverCommand(nodeId, later.deliver));
  await b.waitFor(() => later.status === 'sent', 5000, 'sent');
  later.cancel_requested = true;
  t.ok(admin.hub.cancelCommand(nodeId, later.id));
  await b.waitFor(() => later.status === 'cancelled', 5000, 'cancelled');
  t.same(cancelled, [[later.id, 'local-2']], 'cancel got the local reference');
  t.equal(later.result!.exit_code, 143);
  t.ok(later.cancel_acked);
  t.notOk(admin.hub.deliverCommand('00000000-0000-4000-8000-000000000000', ex.deliver), 'no tunnel: false (stays pending)');
});

t.test('admin restart: the agent reconnects with backoff and re-sends what queued meanwhile', async (t) => {
  t.setTimeout(30_000);
  const b = new MemoryTunnelBackend();
  // An explicit port: uSockets sets SO_REUSEADDR only then, and the restart must rebind it past
  // the TIME_WAIT of the closed tunnel.
  const port = await freePort();
  let admin = await startAdmin(t, b, { port });
  const a = agent(t, tempDir(t), newKey(b, admin.url).blob, { async onCommandDeliver() { return null; } });
  a.start();
  await a.whenEnrolled();
  await a.client!.whenUp();
  const nodeId = a.state!.node_id;
  const ex = b.addExecution(nodeId, 'true');
  admin.hub.deliverCommand(nodeId, ex.deliver);
  await b.waitFor(() => ex.status === 'sent', 5000, 'sent');

  await admin.stop();
  await until('the tunnel to go down', () => a.client!.state !== 'up', 10_000, { everyMs: 10 });
  await a.reportResult({ execution_id: ex.id, status: 'completed', exit_code: 0, output: 'while the admin was away', completed_at: Date.now() });
  await a.reportEvent('agent.test', { n: 1 });
  t.equal(a.store.pending, 2, 'queued in the outbox');
  await until('a failed reconnect attempt', () => a.client!.stats().last_error, 10_000);
  t.pass('the failures are visible');

  admin = await startAdmin(t, b, { port });
  await b.waitFor(() => ex.status === 'completed', 10_000, 'result after the admin came back');
  t.equal(ex.result!.output, 'while the admin was away');
  await b.waitFor(() => b.events.size === 1, 5000, 'event');
  t.match([...b.events.values()][0], { node_id: nodeId, type: 'agent.test', data: { n: 1 } });
  await b.waitFor(() => a.store.pending === 0, 5000, 'acked');
  t.ok(a.client!.stats().connects_total >= 2);
});

t.test('agent restart with results queued in the LMDB outbox: delivered after the restart', async (t) => {
  t.setTimeout(30_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const dir = tempDir(t);
  const blob = newKey(b, admin.url).blob;
  const a = agent(t, dir, blob);
  a.start();
  await a.whenEnrolled();
  await a.client!.whenUp();
  const nodeId = a.state!.node_id;
  const exs = [b.addExecution(nodeId, 'a'), b.addExecution(nodeId, 'b')];
  for (const ex of exs) ex.status = 'sent';
  await admin.stop();
  for (const ex of exs) await a.reportResult({ execution_id: ex.id, status: 'completed', exit_code: 3, output: `out ${ex.deliver.command_text}`, completed_at: Date.now() });
  await a.close();

  // A new process would open the same data dir: the outbox is read back from disk.
  const admin2 = await startAdmin(t, b);
  // The admin moved to another port: point the saved state at it (as a new key's URL would).
  const file = path.join(dir, 'agent', 'tunnel.json');
  const s = JSON.parse(fs.readFileSync(file, 'utf8'));
  s.tunnel_url = `ws://127.0.0.1:${admin2.port}/api/v1/agent/tunnel`;
  fs.writeFileSync(file, JSON.stringify(s));
  const a2 = agent(t, dir, blob);
  t.equal(a2.store.pending, 2, 'two results survived the restart');
  a2.start();
  await b.waitFor(() => exs.every((e) => e.status === 'completed'), 10_000, 'both results');
  t.same(exs.map((e) => e.result!.output), ['out a', 'out b']);
  await b.waitFor(() => a2.store.pending === 0, 5000, 'acked');
  // Numbering continues across the restart (a new result gets a higher seq, never a reused one).
  await a2.reportEvent('after', {});
  t.equal(b.resultCalls.reduce((x, y) => x + y, 0) >= 2, true);
});

t.test('a store failure is not acked: the agent re-sends after reconnecting', async (t) => {
  t.setTimeout(20_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const a = agent(t, tempDir(t), newKey(b, admin.url).blob);
  a.start();
  await a.whenEnrolled();
  await a.client!.whenUp();
  const ex = b.addExecution(a.state!.node_id, 'x');
  ex.status = 'sent';
  b.failWrites = 1;
  await a.reportResult({ execution_id: ex.id, status: 'completed', exit_code: 0, output: 'ok', completed_at: Date.now() });
  await b.waitFor(() => ex.status === 'completed', 10_000, 'result after the retry');
  t.ok(admin.hub.stats().backend_errors_total >= 1);
  t.ok(a.client!.stats().connects_total >= 2, 'reconnected to re-send');
});

t.test('a store failure with several results of one tunnel in the batch: the tunnel is dropped once, nothing is lost', async (t) => {
  t.setTimeout(20_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const a = agent(t, tempDir(t), newKey(b, admin.url).blob);
  a.start();
  await a.whenEnrolled();
  await a.client!.whenUp();
  const exs = [b.addExecution(a.state!.node_id, 'x'), b.addExecution(a.state!.node_id, 'y'), b.addExecution(a.state!.node_id, 'z')];
  for (const ex of exs) ex.status = 'sent';
  b.failWrites = 1;
  // Reported together: one flush holds all three, and its failure must end the tunnel once
  // (ending it again threw "Invalid access of closed uWS.WebSocket" and left later ones open).
  await Promise.all(exs.map((ex) => a.reportResult({ execution_id: ex.id, status: 'completed', exit_code: 0, output: ex.id, completed_at: Date.now() })));
  await b.waitFor(() => exs.every((ex) => ex.status === 'completed'), 10_000, 'every result after the retry');
  t.ok(admin.hub.stats().backend_errors_total >= 1);
  t.ok(a.client!.stats().connects_total >= 2, 'reconnected to re-send');
});

t.test('credential sync: full set on tunnel up and on change, kept on disk 0600, acked by version', async (t) => {
  t.setTimeout(20_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b);
  const dir = tempDir(t);
  const got: number[] = [];
  const a = agent(t, dir, newKey(b, admin.url).blob, { onCredentialSync: (s) => { got.push(s.version); } });
  a.start();
  await a.whenEnrolled();
  const nodeId = a.state!.node_id;
  b.credentialSets.set(nodeId, { version: 1, users: [{ username: 'deploy', password_hash: '$argon2id$v=19$m=19456,t=2,p=1$x$y', public_keys: [{ id: 'k1', public_key: 'ssh-ed25519 AAAA test' }] }] });
  await a.client!.whenUp();
  // The set above may have been read by tunnelUp already; push explicitly too (a repeat is ignored).
  await admin.hub.syncCredentials(nodeId);
  await b.waitFor(() => b.credentialAcks.get(nodeId) === 1, 5000, 'ack v1');
  const file = path.join(dir, 'agent', 'credentials.json');
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  t.match(JSON.parse(fs.readFileSync(file, 'utf8')), { version: 1, users: [{ username: 'deploy', public_keys: [{ public_key: 'ssh-ed25519 AAAA test' }] }] });
  t.same(got, [1], 'hook once per version');
  b.credentialSets.set(nodeId, { version: 2, users: [] });
  t.ok(await admin.hub.syncCredentials(nodeId));
  await b.waitFor(() => b.credentialAcks.get(nodeId) === 2, 5000, 'ack v2');
  t.same(got, [1, 2]);
  t.same(a.credentials(), { version: 2, users: [] }, 'readable while the admin is down');
});

t.test('metrics through the tunnel: answer, error, timeout', async (t) => {
  t.setTimeout(20_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b, { metricsTimeoutMs: 300 });
  const a = agent(t, tempDir(t), newKey(b, admin.url).blob, {
    async onMetricsRequest(kind) {
      if (kind === 'host') return { cpu: { cores: 4 } };
      if (kind === 'agent') throw new Error('agent metrics are off');
      return new Promise(() => {}); // never answers
    },
  });
  a.start();
  await a.whenEnrolled();
  await a.client!.whenUp();
  const id = a.state!.node_id;
  t.same(await admin.hub.requestMetrics(id, 'host'), { ok: true, data: { cpu: { cores: 4 } } });
  t.same(await admin.hub.requestMetrics(id, 'agent'), { ok: false, reason: 'agent metrics are off' });
  t.same(await admin.hub.requestMetrics(id, 'unified'), { ok: false, reason: 'no answer within 300 ms' });
  t.same(await admin.hub.requestMetrics('00000000-0000-4000-8000-000000000000', 'host'), { ok: false, reason: 'node is not connected' });
});
