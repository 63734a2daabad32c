// WebSocket subscriptions: live stream tail, KV watch, credit-based queue push, time-series
// selector, auth on upgrade, protocol errors, and the slow-consumer bound.
import t from 'tap';
import { request, WebSocket } from 'undici';
import { b64, startInProc } from './helpers/daemon';
import { sleep } from './helpers/wait';
import { decodeResponse } from '../daemon/dataplane/ws/batch-schema';

interface Client { ws: WebSocket; frames: any[]; next(pred: (f: any) => boolean, ms?: number): Promise<any>; send(o: unknown): void }

async function connect(url: string, token?: string): Promise<Client> {
  const ws = new WebSocket(url.replace('http', 'ws') + '/api/v1/ws' + (token ? `?token=${token}` : ''));
  const frames: any[] = [];
  const waiters: Array<{ pred: (f: any) => boolean; resolve: (f: any) => void }> = [];
  ws.addEventListener('message', (ev) => {
    const f = JSON.parse(String(ev.data));
    frames.push(f);
    for (const w of [...waiters]) if (w.pred(f)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(f); }
  });
  await new Promise((resolve, reject) => { ws.addEventListener('open', resolve); ws.addEventListener('error', reject); });
  return {
    ws, frames,
    send: (o) => ws.send(JSON.stringify(o)),
    next: (pred, ms = 3000) => new Promise((resolve, reject) => {
      const hit = frames.find(pred);
      if (hit) { frames.splice(frames.indexOf(hit), 1); resolve(hit); return; }
      const timer = setTimeout(() => reject(new Error(`no matching frame in ${ms} ms; got ${JSON.stringify(frames.slice(-5))}`)), ms);
      waiters.push({ pred, resolve: (f) => { clearTimeout(timer); frames.splice(frames.indexOf(f), 1); resolve(f); } });
    }),
  };
}
const post = (url: string, path: string, body: unknown) => request(url + path, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => (await r.body.json()) as any);
const put = (url: string, path: string, body: unknown) => request(url + path, { method: 'PUT', body: JSON.stringify(body) }).then(async (r) => (await r.body.json()) as any);

t.test('stream tail: backlog from an offset, then live appends', async (t) => {
  const { url } = await startInProc(t);
  await post(url, '/api/v1/stream/app/ev/append', { records: [0, 1, 2].map((i) => ({ payload: b64(`old${i}`) })) });
  const c = await connect(url);
  t.teardown(() => c.ws.close());
  c.send({ op: 'subscribe', id: 's1', type: 'stream', namespace: 'app', stream: 'ev', offset: 1 });
  await c.next((f) => f.type === 'subscribed' && f.id === 's1');
  const a = await c.next((f) => f.type === 'record' && f.offset === 1);
  t.equal(Buffer.from(a.payload, 'base64').toString(), 'old1');
  await c.next((f) => f.type === 'record' && f.offset === 2);
  await post(url, '/api/v1/stream/app/ev/append', { payload: b64('live') });
  const live = await c.next((f) => f.type === 'record' && f.offset === 3);
  t.equal(Buffer.from(live.payload, 'base64').toString(), 'live', 'appended records are pushed');
});

t.test('a stream tail of big records pauses on backpressure instead of being closed', async (t) => {
  t.setTimeout(60_000);
  const { url, daemon } = await startInProc(t);
  // 24 records of 512 KiB (~17 MB of frames): one read of the backlog is far past the 4 MiB bound.
  const big = b64(Buffer.alloc(512 * 1024, 7));
  for (let i = 0; i < 24; i++) await post(url, '/api/v1/stream/app/big/append', { payload: big });
  const c = await connect(url);
  t.teardown(() => c.ws.close());
  let closed: number | undefined;
  const onClose = new Promise((r) => c.ws.addEventListener('close', (ev) => { closed = ev.code; r(ev); }));
  c.send({ op: 'subscribe', id: 'b', type: 'stream', namespace: 'app', stream: 'big', offset: 0 });
  const last = await Promise.race([c.next((f) => f.type === 'record' && f.offset === 23, 30_000), onClose]).catch((e) => e);
  t.equal(closed, undefined, 'the tail was not closed as a slow consumer');
  t.equal(last.offset, 23, 'every record arrived');
  t.same(c.frames.filter((f) => f.type === 'record').map((f) => f.offset), [...Array(23).keys()], 'in order, none dropped');
  t.equal(daemon.ws.conns.size, 1);
});

t.test('KV watch by prefix', async (t) => {
  const { url } = await startInProc(t);
  await put(url, '/api/v1/kv/app/x', { value: b64('x') });
  const c = await connect(url);
  t.teardown(() => c.ws.close());
  c.send({ op: 'subscribe', id: 'w', type: 'kv', namespace: 'app', prefix: 'user:' });
  await c.next((f) => f.type === 'subscribed');
  await put(url, '/api/v1/kv/app/other', { value: b64('no') });
  await put(url, '/api/v1/kv/app/user:1', { value: b64('yes') });
  const ev = await c.next((f) => f.type === 'kv');
  t.same([ev.key, ev.version, ev.deleted, Buffer.from(ev.value, 'base64').toString()], ['user:1', 1, false, 'yes']);
  await request(`${url}/api/v1/kv/app/user:1`, { method: 'DELETE' }).then((r) => r.body.dump());
  const del = await c.next((f) => f.type === 'kv');
  t.same([del.key, del.deleted], ['user:1', true]);
  t.notOk(c.frames.some((f) => f.key === 'other'), 'keys outside the prefix are not sent');
});

t.test('queue push honours the credit the client grants', async (t) => {
  const { url } = await startInProc(t);
  for (let i = 0; i < 10; i++) await post(url, '/api/v1/queue/app/jobs/enqueue', { payload: b64(`j${i}`) });
  const c = await connect(url);
  t.teardown(() => c.ws.close());
  c.send({ op: 'subscribe', id: 'q', type: 'queue', namespace: 'app', queue: 'jobs', credit: 3, visibility_timeout_ms: 60000 });
  await c.next((f) => f.type === 'subscribed');
  const first = [await c.next((f) => f.type === 'message'), await c.next((f) => f.type === 'message'), await c.next((f) => f.type === 'message')];
  await sleep(200); // on purpose: a window in which a 4th message must NOT come
  t.equal(c.frames.filter((f) => f.type === 'message').length, 0, 'no more than 3 messages without more credit');
  c.send({ op: 'ack', id: 'q', sequences: first.map((m) => m.sequence) });
  t.same((await c.next((f) => f.type === 'acked')).acked, first.map((m) => m.sequence));
  c.send({ op: 'credit', id: 'q', n: 2 });
  await c.next((f) => f.type === 'message');
  await c.next((f) => f.type === 'message');
  await sleep(200); // on purpose: a window in which a 3rd message must NOT come
  t.equal(c.frames.filter((f) => f.type === 'message').length, 0, 'exactly the granted 2 more');
  const stats = (await request(`${url}/api/v1/queue/app/jobs/stats`).then((r) => r.body.json())) as any;
  t.same([stats.ready_count, stats.leased_count, stats.total_acked], [5, 2, 3]);
  // A message enqueued while the consumer has credit is pushed at once.
  c.send({ op: 'credit', id: 'q', n: 6 });
  for (let i = 0; i < 5; i++) await c.next((f) => f.type === 'message');
  await post(url, '/api/v1/queue/app/jobs/enqueue', { payload: b64('late') });
  const late = await c.next((f) => f.type === 'message');
  t.equal(Buffer.from(late.payload, 'base64').toString(), 'late');
});

t.test('time-series selector subscription', async (t) => {
  const { url } = await startInProc(t);
  await request(`${url}/api/v1/ts/m/write?precision=ms`, { method: 'POST', body: `cpu,host=a v=1 ${Date.now()}` }).then((r) => r.body.dump());
  const c = await connect(url);
  t.teardown(() => c.ws.close());
  c.send({ op: 'subscribe', id: 't', type: 'ts', namespace: 'm', selector: 'cpu{host=~"web-.*"}' });
  await c.next((f) => f.type === 'subscribed');
  await request(`${url}/api/v1/ts/m/write?precision=ms`, { method: 'POST', body: `cpu,host=db v=5 ${Date.now()}\ncpu,host=web-1 v=7 ${Date.now()}` }).then((r) => r.body.dump());
  const p = await c.next((f) => f.type === 'point');
  t.same([p.tags.host, p.fields.v], ['web-1', 7]);
  t.notOk(c.frames.some((f) => f.type === 'point'), 'non-matching points are not sent');
});

t.test('protocol errors are answered, the socket stays usable', async (t) => {
  const { url } = await startInProc(t);
  const c = await connect(url);
  t.teardown(() => c.ws.close());
  c.ws.send('not json');
  t.equal((await c.next((f) => f.type === 'error')).error, 'bad_request');
  c.send({ op: 'subscribe', id: 'x', type: 'stream', namespace: 'nosuch', stream: 's' });
  t.equal((await c.next((f) => f.type === 'error' && f.id === 'x')).error, 'not_found');
  c.send({ op: 'subscribe', id: 'y', type: 'nope', namespace: 'app' });
  await c.next((f) => f.type === 'error');
  // Binary frames are the protobuf batch protocol (test/ws-batch.test.ts); garbage is answered 400.
  const raw = new WebSocket(url.replace('http', 'ws') + '/api/v1/ws');
  raw.binaryType = 'arraybuffer';
  await new Promise((resolve, reject) => { raw.addEventListener('open', resolve); raw.addEventListener('error', reject); });
  const answer = new Promise<ArrayBuffer>((resolve) => raw.addEventListener('message', (ev) => resolve(ev.data as ArrayBuffer), { once: true }));
  raw.send(new Uint8Array([0xff, 0xff, 0xff]));
  const bad = decodeResponse(new Uint8Array(await answer));
  raw.close();
  t.same([bad.batch_id, bad.results[0].status, bad.results[0].error], [0, 400, 'bad_request'], 'undecodable binary frame: a BatchResponse with one 400 result');
  await put(url, '/api/v1/kv/app/k', { value: b64('v') });
  c.send({ op: 'subscribe', id: 'ok', type: 'kv', namespace: 'app' });
  await c.next((f) => f.type === 'subscribed' && f.id === 'ok');
});

t.test('auth on upgrade', async (t) => {
  const { url } = await startInProc(t, [], { API_KEY: 'sekret' });
  await t.rejects(connect(url), 'no token: the upgrade is refused');
  const c = await connect(url, 'sekret');
  c.ws.close();
  t.pass('token in the query string is accepted');
});

/** Frames (opcode, payload) of server bytes after the HTTP 101 head; stops at a truncated frame. */
function serverFrames(bytes: Buffer): Array<{ opcode: number; payload: Buffer }> {
  const out: Array<{ opcode: number; payload: Buffer }> = [];
  let i = bytes.indexOf('\r\n\r\n') + 4;
  while (i + 2 <= bytes.length) {
    let len = bytes[i + 1] & 0x7f;
    let head = 2;
    if (len === 126) { if (i + 4 > bytes.length) break; len = bytes.readUInt16BE(i + 2); head = 4; }
    else if (len === 127) { if (i + 10 > bytes.length) break; len = Number(bytes.readBigUInt64BE(i + 2)); head = 10; }
    if (i + head + len > bytes.length) break;
    out.push({ opcode: bytes[i] & 0x0f, payload: bytes.subarray(i + head, i + head + len) });
    i += head + len;
  }
  return out;
}

t.test('a consumer that stops reading a KV feed is closed with 4008', async (t) => {
  t.setTimeout(60_000);
  const { url, daemon } = await startInProc(t);
  await put(url, '/api/v1/kv/app/seed', { value: b64('x') });
  // A raw socket that completes the handshake and then stops reading (paused: the kernel buffers
  // fill, then uWS's), as a stalled client does.
  const net = await import('node:net');
  const port = Number(new URL(url).port);
  const sock = net.connect(port, '127.0.0.1');
  t.teardown(() => sock.destroy());
  const chunks: Buffer[] = [];
  sock.on('data', (d) => chunks.push(d));
  const ended = new Promise<void>((r) => { sock.once('end', r); sock.once('close', r); });
  await new Promise((r) => sock.once('connect', r));
  sock.write('GET /api/v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  while (!Buffer.concat(chunks).includes('\r\n\r\n')) await new Promise((r) => sock.once('data', r));
  // Masked client frame with the subscribe message.
  const payload = Buffer.from(JSON.stringify({ op: 'subscribe', id: 'w', type: 'kv', namespace: 'app', prefix: '' }));
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]), mask, masked]));
  while (!serverFrames(Buffer.concat(chunks)).some((f) => f.opcode === 1 && f.payload.includes('subscribed'))) await new Promise((r) => sock.once('data', r));
  sock.pause();
  t.equal(daemon.ws.conns.size, 1);
  const big = b64(Buffer.alloc(512 * 1024).toString());
  let writes = 0;
  for (; writes < 200 && daemon.ws.conns.size > 0; writes++) await put(url, `/api/v1/kv/app/big${writes}`, { value: big });
  t.equal(daemon.ws.conns.size, 0, 'the slow consumer was dropped instead of buffering without bound');
  // The client reads again: everything sent before the limit arrives, then a close frame 4008.
  sock.resume();
  await Promise.race([ended, new Promise((r) => setTimeout(r, 20_000))]);
  const frames = serverFrames(Buffer.concat(chunks));
  const close = frames.find((f) => f.opcode === 8);
  t.ok(close, `a close frame arrived (${frames.length} frames, ${writes} writes)`);
  t.equal(close?.payload.readUInt16BE(0), 4008, 'close code 4008, not 1006');
  t.match(close?.payload.subarray(2).toString(), /slow consumer/);
  const kv = frames.filter((f) => f.opcode === 1 && f.payload.includes('"type":"kv"'));
  t.ok(kv.length > 0 && kv.length < writes, `some changes were delivered before the close (${kv.length} of ${writes})`);
  t.equal(frames.indexOf(close!), frames.length - 1, 'the close frame comes last');
});
