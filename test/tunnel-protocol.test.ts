// Tunnel protocol details with hand-driven WebSocket clients (undici) against a real hub: the
// backoff schedule, Hello checks, one tunnel per node, missed heartbeats → unhealthy → healthy,
// cumulative acks of agent frames, and garbage frames.
import t from 'tap';
import { WebSocket } from 'undici';
import { MemoryTunnelBackend } from './helpers/memory-tunnel-backend';
import { decodeEnvelope, encodeEnvelope, type Envelope } from '../daemon/tunnel/schema';
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF } from '../daemon/agent/tunnel';
import { startAdmin } from './helpers/tunnel';

t.test('backoff: full jitter under an exponential ceiling capped at 30 s', async (t) => {
  t.equal(DEFAULT_BACKOFF.capMs, 30_000);
  t.same([0, 1, 2, 3, 4, 5, 6, 7].map((n) => backoffCeiling(n)), [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  t.equal(backoffCeiling(5000), 30_000, 'huge attempt counts stay finite');
  t.equal(backoffDelay(3, DEFAULT_BACKOFF, () => 0), 0, 'lowest draw: immediately');
  t.equal(backoffDelay(3, DEFAULT_BACKOFF, () => 0.999999), 7999, 'highest draw: just under the ceiling');
  for (let n = 0; n < 12; n++) {
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(n);
      if (d < 0 || d >= backoffCeiling(n) || !Number.isInteger(d)) t.fail(`attempt ${n}: ${d} outside [0, ${backoffCeiling(n)})`);
    }
  }
  // A fleet retrying together spreads over the window instead of landing at once.
  const draws = Array.from({ length: 10_000 }, () => backoffDelay(10));
  const buckets = new Array(10).fill(0);
  for (const d of draws) buckets[Math.floor(d / 3000)]++;
  t.ok(buckets.every((c) => c > 700 && c < 1300), `10,000 agents spread evenly over 0..30 s (per 3 s: ${buckets.join(', ')})`);
});

interface Raw { ws: WebSocket; frames: Envelope[]; closed: Promise<{ code: number; reason: string }>; next(pred: (e: Envelope) => boolean, ms?: number): Promise<Envelope>; send(e: Envelope): void }

function raw(url: string, token: string): Promise<Raw> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } } as unknown as string[]);
  ws.binaryType = 'arraybuffer';
  const frames: Envelope[] = [];
  const waiters: Array<() => void> = [];
  ws.onmessage = (ev) => { frames.push(decodeEnvelope(new Uint8Array(ev.data as ArrayBuffer))); for (const w of waiters.splice(0)) w(); };
  const closed = new Promise<{ code: number; reason: string }>((r) => { ws.onclose = (ev) => { r({ code: ev.code, reason: ev.reason }); for (const w of waiters.splice(0)) w(); }; });
  const r: Raw = {
    ws, frames, closed,
    send: (e) => ws.send(encodeEnvelope(e)),
    next: (pred, ms = 5000) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no such frame in time')), ms);
      const check = () => {
        const i = frames.findIndex(pred);
        if (i >= 0) { clearTimeout(timer); resolve(frames.splice(i, 1)[0]); return; }
        waiters.push(check);
      };
      check();
    }),
  };
  return new Promise((resolve, reject) => { ws.onopen = () => resolve(r); ws.onerror = () => reject(new Error('websocket failed')); });
}

async function enrolled(b: MemoryTunnelBackend, nodeId: string): Promise<string> {
  const secret = `secret-${nodeId}`;
  b.addKey(secret);
  return (await b.enroll({ secret, node_id: nodeId, id_type: 'random' })).api_token;
}

const N1 = '00000000-0000-4000-8000-000000000001';
const N2 = '00000000-0000-4000-8000-000000000002';

t.test('hello checks, one tunnel per node, missed heartbeats, cumulative acks', async (t) => {
  t.setTimeout(20_000);
  const b = new MemoryTunnelBackend();
  const admin = await startAdmin(t, b, { heartbeatIntervalMs: 100 });
  const url = `ws://127.0.0.1:${admin.port}/api/v1/agent/tunnel`;
  const tok1 = await enrolled(b, N1);

  // A token used with another node id in Hello: refused for good.
  const wrong = await raw(url, tok1);
  wrong.send({ hello: { node_id: N2 } });
  const err = await wrong.next((e) => Boolean(e.hello_error));
  t.match(err.hello_error, { code: 'node_mismatch', retry: false });
  t.equal((await wrong.closed).code, 4001);

  // Nothing counts before Hello.
  const c1 = await raw(url, tok1);
  c1.send({ seq: 1, command_result: { execution_id: 'x', status: 'completed' } });
  c1.send({ hello: { node_id: N1, agent_version: '1.2.3' } });
  const ok = await c1.next((e) => Boolean(e.hello_ok));
  t.match(ok.hello_ok, { node_id: N1, cluster_name: 'default', heartbeat_interval_ms: 100 });
  t.equal(b.nodes.get(N1)!.status, 'healthy');

  // No heartbeats for 3 intervals: unhealthy; one heartbeat: healthy again, answered.
  await b.waitFor(() => b.nodes.get(N1)!.status === 'unhealthy', 5000, 'unhealthy');
  c1.send({ heartbeat: { time: Date.now() } });
  await c1.next((e) => Boolean(e.heartbeat_ack));
  await b.waitFor(() => b.nodes.get(N1)!.status === 'healthy', 5000, 'healthy');
  t.same(b.statusLog.filter((s) => s.node_id === N1).map((s) => s.to), ['healthy', 'unhealthy', 'healthy']);

  // Reliable frames are acked cumulatively once stored; repeats stored once.
  const exA = b.addExecution(N1, 'a'); exA.status = 'sent';
  const exB = b.addExecution(N1, 'b'); exB.status = 'sent';
  c1.send({ seq: 7, command_result: { execution_id: exA.id, status: 'completed', exit_code: 0, output: 'A' } });
  c1.send({ seq: 8, command_result: { execution_id: exB.id, status: 'completed', exit_code: 1, output: 'B' } });
  c1.send({ seq: 8, command_result: { execution_id: exB.id, status: 'completed', exit_code: 99, output: 'repeat' } });
  c1.send({ seq: 9, event: { id: 'ev-1', type: 't', time: 1 } });
  c1.send({ seq: 10, event: { id: 'ev-1', type: 't', time: 1 } });
  await c1.next((e) => e.ack === 10 && !e.heartbeat_ack);
  t.equal(exB.result!.exit_code, 1, 'the repeat changed nothing');
  t.equal(b.events.size, 1);

  // Admin deliveries are numbered per connection; the agent's ack turns into delivered().
  const ex = b.addExecution(N1, 'uptime');
  t.ok(admin.hub.deliverCommand(N1, ex.deliver));
  const d = await c1.next((e) => Boolean(e.command_deliver));
  t.equal(d.seq, 1);
  t.equal(d.command_deliver!.command_text, 'uptime');
  c1.send({ ack: d.seq });
  await b.waitFor(() => ex.status === 'sent', 5000, 'sent');

  // A second tunnel of the same node replaces the first; the node does not go offline.
  const c2 = await raw(url, tok1);
  t.equal((await c1.closed).code, 4000, 'older tunnel closed as replaced');
  c2.send({ hello: { node_id: N1 } });
  await c2.next((e) => Boolean(e.hello_ok));
  t.equal(admin.hub.size, 1);
  t.notOk(b.statusLog.some((s) => s.node_id === N1 && s.to === 'unreachable'), 'replacement is not an outage', { log: b.statusLog });
  t.equal(admin.hub.stats().replaced_total, 1);

  // Pending executions and the credential set go out on the next Hello; a known version does not.
  const pend = b.addExecution(N1, 'later');
  b.credentialSets.set(N1, { version: 5, users: [{ username: 'ops' }] });
  c2.ws.close();
  await c2.closed;
  await b.waitFor(() => b.nodes.get(N1)!.status === 'unreachable', 5000, 'unreachable');
  const c3 = await raw(url, tok1);
  c3.send({ hello: { node_id: N1, credentials_version: 4 } });
  await c3.next((e) => Boolean(e.hello_ok));
  const resent = await c3.next((e) => Boolean(e.command_deliver));
  t.equal(resent.command_deliver!.execution_id, pend.id);
  const cs = await c3.next((e) => Boolean(e.credential_sync));
  t.equal(cs.credential_sync!.version, 5);
  c3.ws.close();
  await c3.closed;
  const c4 = await raw(url, tok1);
  c4.send({ hello: { node_id: N1, credentials_version: 5 } });
  await c4.next((e) => Boolean(e.hello_ok));
  await c4.next((e) => Boolean(e.command_deliver));
  // A round trip after the Hello answer: a credential_sync, had one been sent with it, came first.
  c4.send({ heartbeat: { time: Date.now() } });
  await c4.next((e) => Boolean(e.heartbeat_ack));
  t.notOk(c4.frames.some((e) => e.credential_sync), 'the agent already has version 5');

  // Garbage closes the tunnel.
  c4.ws.send(new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  t.equal((await c4.closed).code, 4001);
});
