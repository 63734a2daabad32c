// The proxies' byte relay (daemon/agent/proxy/tunnel.ts) on its own: both sockets move to
// reusable read buffers, 8 MiB go each way intact with half-close, a slow reader holds the sender
// back instead of being overrun, and a socket with bytes already buffered falls back to piping.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import t, { type Test } from 'tap';
import { ProxyCounters } from '../daemon/agent/proxy/stats';
import { Tunnels, type Tunnel } from '../daemon/agent/proxy/tunnel';
import { settled } from './helpers/wait';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A connected pair of sockets on loopback: [the accepted end, the dialling end]. */
async function pair(t: Test): Promise<[net.Socket, net.Socket]> {
  const srv = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const accepted = new Promise<net.Socket>((r) => srv.once('connection', r));
  const dialled = net.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((r) => dialled.once('connect', () => r()));
  const a = await accepted;
  srv.close();
  t.teardown(() => { a.destroy(); dialled.destroy(); });
  return [a, dialled];
}

function readAll(s: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
}

/** client app ⇄ [proxy client side | tunnel | proxy upstream side] ⇄ target app. */
async function tunnel(t: Test, prepare?: (proxyClient: net.Socket) => Promise<void>) {
  const [proxyClient, app] = await pair(t);
  const [target, proxyUpstream] = await pair(t);
  await prepare?.(proxyClient);
  const counters = new ProxyCounters();
  const tunnels = new Tunnels(counters, 60_000);
  t.ok(tunnels.open(proxyClient, proxyUpstream, Buffer.from('head:')));
  const opened = [...counters.live].at(-1) as Tunnel;
  return { app, target, tunnel: opened, counters };
}

t.test('both directions move through reusable buffers, intact, with half-close', async (t) => {
  const { app, target, tunnel: tun } = await tunnel(t);
  t.equal(tun.mode, 'buffer', 'the sockets moved to reusable read buffers');
  const up = randomBytes(8 << 20);
  const down = randomBytes(8 << 20);
  const gotUp = readAll(target);
  const gotDown = readAll(app);
  app.end(up); // the client is done sending first; the target still sends afterwards
  const u = await gotUp;
  t.equal(u.subarray(0, 5).toString(), 'head:', 'the handshake leftover goes first');
  t.equal(sha(u.subarray(5)), sha(up), 'client → target intact');
  target.end(down);
  t.equal(sha(await gotDown), sha(down), 'target → client intact after the client half-closed');
  await tun.closed;
  t.pass('the tunnel closes once both directions ended');
});

t.test('a reader that stops reading holds the sender back', async (t) => {
  const { app, target, tunnel: tun } = await tunnel(t);
  target.pause();
  const big = randomBytes(64 << 20);
  app.write(big);
  await settled('the sender to be held back', () => app.writableLength);
  // The relay stopped reading: it holds at most one read buffer, and the rest waits at the sender.
  t.ok(tun.upstream.writableLength <= 128 << 10, `relay holds ${tun.upstream.writableLength} bytes, bounded by its buffer`);
  t.ok(app.writableLength > 0, `the sender is held back (${app.writableLength} bytes not yet sent)`);
  const got = readAll(target);
  target.resume();
  app.end();
  t.equal(sha((await got).subarray(5)), sha(big), 'everything arrives once the reader reads');
});

t.test('a socket with bytes already buffered is piped instead', async (t) => {
  const { app, target, tunnel: tun } = await tunnel(t, async (proxyClient) => {
    // Bytes read by the proxy before the tunnel opened and left in the stream's buffer.
    proxyClient.pause();
    proxyClient.unshift(Buffer.from('early:'));
  });
  t.equal(tun.mode, 'pipe');
  const got = readAll(target);
  app.end('late');
  t.equal((await got).toString(), 'head:early:late');
  target.end();
  await tun.closed;
});
