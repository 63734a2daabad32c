// Byte streams through the tunnel (the SSH jump's transport): 16 MiB each way with checksums
// over several concurrent streams, a slow reader holding the sender back (credit flow control,
// the tunnel is never closed for backpressure), refused targets, and streams ending with the tunnel.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { PassThrough, type Duplex } from 'node:stream';
import t, { type Test } from 'tap';
import { MemoryTunnelBackend } from './helpers/memory-tunnel-backend';
import { STREAM_WINDOW } from '../daemon/tunnel/streams';
import { AgentTunnel } from '../daemon/agent/tunnel';
import { tempDir } from './helpers/daemon';
import { FAST_BACKOFF, log, newKey, startAdmin } from './helpers/tunnel';
import { settled } from './helpers/wait';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A local service on the agent's side: echoes what it receives, hashed, then sends `payload`. */
function service(t: Test, payload: Buffer): Promise<{ port: number; received: Array<Promise<string>> }> {
  const received: Array<Promise<string>> = [];
  const srv = net.createServer((sock) => {
    sock.on('error', () => undefined); // reset when the tunnel goes away (the last check)
    received.push(new Promise((resolve) => {
      const h = createHash('sha256');
      sock.on('data', (d) => h.update(d));
      sock.on('end', () => { resolve(h.digest('hex')); });
    }));
    sock.end(payload);
  });
  t.teardown(() => srv.close());
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve({ port: (srv.address() as net.AddressInfo).port, received })));
}

function readAll(s: Duplex): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

t.test('streams through the tunnel', async (t) => {
  t.setTimeout(60_000);
  const b = new MemoryTunnelBackend();
  // Slow heartbeats: on a loaded machine 600 ms without a frame read as a silent admin (the agent
  // reconnected mid-transfer); liveness is tested elsewhere, the streams are under test here.
  const admin = await startAdmin(t, b, { heartbeatIntervalMs: 2000 });
  const payload = randomBytes(16 << 20);
  const svc = await service(t, payload);
  const { blob } = newKey(b, admin.url, 1);
  const a = new AgentTunnel({
    dataDir: tempDir(t), enrollmentKey: blob, agentVersion: '1', heartbeatIntervalMs: 200, log, backoff: FAST_BACKOFF, machineIdFile: '/nonexistent',
    hooks: {
      onStreamOpen: (target) => new Promise((resolve, reject) => {
        if (target === 'cut') {
          // A local end that gives 1 MiB and then goes away without ending its data.
          const p = new PassThrough();
          p.write(randomBytes(1 << 20));
          setTimeout(() => p.destroy(), 100);
          return resolve(p);
        }
        if (target !== 'ssh') return reject(new Error(`no such target ${target}`));
        const s = net.connect({ port: svc.port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(s));
        s.once('error', reject);
      }),
    },
  });
  t.teardown(() => a.close());
  a.start();
  await a.whenEnrolled();
  await a.client!.whenUp();
  const nodeId = a.state!.node_id;

  // Three concurrent streams, 16 MiB each way.
  const up = [randomBytes(16 << 20), randomBytes(16 << 20), randomBytes(16 << 20)];
  const results = await Promise.all(up.map(async (data) => {
    const s = await admin.hub.openStream(nodeId, 'ssh');
    const got = readAll(s);
    s.end(data);
    return got;
  }));
  for (const got of results) t.equal(sha(got), sha(payload), 'agent → admin bytes intact');
  const seen = await Promise.all(svc.received);
  t.same(seen.sort(), up.map(sha).sort(), 'admin → agent bytes intact on every stream');

  // A reader that does not read: the sender stops at the window instead of flooding the tunnel.
  const slow = await admin.hub.openStream(nodeId, 'ssh');
  slow.pause();
  await settled('the paused stream to stop filling', () => slow.readableLength);
  t.ok(slow.readableLength <= STREAM_WINDOW + (64 << 10), `buffered ${slow.readableLength} bytes, bounded by the window`);
  t.equal(a.client!.state, 'up', 'the tunnel was not closed for backpressure');
  const rest = readAll(slow);
  slow.resume();
  slow.end();
  t.equal(sha(await rest), sha(payload), 'the paused stream completes once read');

  // The agent's local end goes away mid-stream: the reader gets an error, never a clean short end.
  const cut = await admin.hub.openStream(nodeId, 'cut');
  await t.rejects(readAll(cut), /closed before its data ended/, 'a cut-off stream is an error for its reader');

  await t.rejects(admin.hub.openStream(nodeId, 'postgres'), /no such target/, 'unknown targets are refused by the agent');
  await t.rejects(admin.hub.openStream('00000000-0000-0000-0000-000000000000'), /not connected/);

  // The tunnel goes away: open streams end with an error.
  const open = await admin.hub.openStream(nodeId, 'ssh');
  open.on('data', () => undefined);
  let failed: Error | undefined;
  open.on('error', (e) => { failed = e; });
  const ended = new Promise<void>((resolve) => open.on('close', () => resolve()));
  a.client!.stop();
  await ended;
  t.match(failed?.message, /tunnel closed/, 'streams fail with the tunnel');
});
