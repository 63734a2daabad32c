// uWS aborts the whole process on a contract breach (writing to an aborted response, a missed
// onAborted). Hammer a real daemon process with aborts, slow bodies and garbage, then prove it
// is still alive and answering correctly.
import net from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { b64, spawnDaemon, tempDir } from './helpers/daemon';

function raw(port: number, chunks: Array<string | Buffer>, opts: { gapMs?: number; destroyAfterMs?: number; readMs?: number } = {}): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => { /* resets are expected */ });
    s.on('close', () => resolve(got));
    s.on('connect', async () => {
      for (const c of chunks) {
        if (s.destroyed) break;
        s.write(c);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
      if (opts.destroyAfterMs !== undefined) setTimeout(() => s.destroy(), opts.destroyAfterMs);
      else setTimeout(() => s.end(), opts.readMs ?? 300);
    });
  });
}

const putHead = (len: number, extra = '') => `PUT /api/v1/kv/robust/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n${extra}\r\n`;

t.test('aborts, slow bodies and garbage never crash the daemon', async (t) => {
  const dataDir = tempDir(t);
  const d = await spawnDaemon(t, ['--data-dir', dataDir], { OUTPOST_HTTP_MAX_BODY_BYTES: '65536' });
  const body = JSON.stringify({ value: b64('hello world') });

  // 1. Clients that vanish mid-body, many at once.
  await Promise.all(Array.from({ length: 200 }, () => raw(d.port, [putHead(1000), '{"value":"aGVs'], { destroyAfterMs: 5 })));
  // 2. Clients that send a full write and vanish before the durable commit answers.
  await Promise.all(Array.from({ length: 300 }, (_, i) => raw(d.port, [putHead(body.length), body], { destroyAfterMs: i % 3 })));
  // 3. Vanish mid-headers, and mid-request-line.
  await Promise.all(Array.from({ length: 100 }, () => raw(d.port, ['GET /api/v1/kv/robust/k HTTP/1.1\r\nHo'], { destroyAfterMs: 1 })));
  await Promise.all(Array.from({ length: 100 }, () => raw(d.port, ['PU'], { destroyAfterMs: 1 })));
  // 4. Garbage of every kind.
  const garbage = [
    Buffer.from(Array.from({ length: 4096 }, () => Math.floor(Math.random() * 256))),
    'GET / HTTP/9.9\r\n\r\n',
    'NOTAMETHOD /x HTTP/1.1\r\nHost: x\r\n\r\n',
    `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET / HTTP/1.1\r\n${'X-Big: ' + 'b'.repeat(20_000)}\r\n\r\n`,
    'GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n',
    'PUT /api/v1/kv/robust/k HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    '\r\n\r\n\r\n',
    'GET /api/v1/kv/%ff%fe/%00 HTTP/1.1\r\nHost: x\r\n\r\n',
  ];
  await Promise.all(garbage.map((g) => raw(d.port, [g], { readMs: 50 })));
  // 5. Oversized bodies: declared, and streamed with chunked encoding.
  const r413 = await raw(d.port, [putHead(10_000_000)], { readMs: 200 });
  t.match(r413, /^HTTP\/1\.1 413/, 'declared oversize body gets 413');
  const chunk = 'x'.repeat(16_384);
  const chunked = ['PUT /api/v1/kv/robust/k HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n', ...Array.from({ length: 8 }, () => `4000\r\n${chunk}\r\n`), '0\r\n\r\n'];
  t.match(await raw(d.port, chunked, { readMs: 200 }), /^HTTP\/1\.1 413/, 'streamed oversize body gets 413');
  // 6. A slow body, one byte every few ms, still completes correctly.
  const slow = [putHead(body.length), ...body.split('')];
  const slowResp = await raw(d.port, slow, { gapMs: 2, readMs: 300 });
  t.match(slowResp, /^HTTP\/1\.1 200/, 'slow body completes');
  t.match(slowResp, /"version":\d+/);
  // 7. Pipelined requests on one connection are all answered, in order.
  const pipe = Array.from({ length: 20 }, (_, i) => `GET /api/v1/kv/robust/missing${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
  const pipeResp = await raw(d.port, [pipe], { readMs: 300 });
  t.equal(pipeResp.match(/HTTP\/1\.1 404/g)?.length, 20, '20 pipelined requests, 20 answers');
  // 8. Aborted GETs with undici, racing the response.
  await Promise.all(Array.from({ length: 200 }, async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 0);
    try { const r = await request(`${d.url}/api/v1/kv/robust/k`, { signal: ac.signal }); await r.body.dump(); } catch { /* aborted */ }
  }));

  t.equal(d.proc.exitCode, null, 'the daemon process is still running');
  const h = await request(`${d.url}/healthz`);
  t.equal(h.statusCode, 200);
  t.equal(await h.body.text(), 'ok\n');
  const g = await request(`${d.url}/api/v1/kv/robust/k`);
  t.equal(g.statusCode, 200, 'data written by completed requests is readable');
  const metrics = (await (await request(`${d.url}/api/v1/metrics`)).body.json()) as { connections_active: number; writes_inflight: number };
  t.equal(metrics.writes_inflight, 0, 'no write is stuck in flight');
  t.equal(metrics.connections_active, 1, 'only this metrics request is in progress: aborted requests were all accounted for');
  t.notMatch(d.stderr(), /uncaught|Error/i, 'nothing on stderr');
  t.notMatch(d.stdout(), /"level":"(error|fatal)"/, 'no error-level log lines');
  d.proc.kill('SIGTERM');
  t.equal((await d.exited).code, 0);
});

t.test('large bodies stream with backpressure to slow readers; aborts mid-stream are safe', async (t) => {
  const d = await spawnDaemon(t, ['--data-dir', tempDir(t)]);
  const value = Buffer.alloc(1 << 20);
  for (let i = 0; i < value.length; i++) value[i] = (i * 7919) & 0xff;
  const put = await request(`${d.url}/api/v1/kv/big/v`, { method: 'PUT', body: JSON.stringify({ value: value.toString('base64') }) });
  t.equal(put.statusCode, 200);
  await put.body.dump();
  // A reader that does not read for a while: the server must hold the rest, not drop or crash.
  const got = await new Promise<Buffer>((resolve, reject) => {
    const s = net.connect(d.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('error', reject);
    s.on('connect', () => {
      s.write('GET /api/v1/kv/big/v HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      s.pause();
      setTimeout(() => s.resume(), 300);
    });
    s.on('data', (c) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
  });
  const text = got.toString('latin1');
  const bodyStart = text.indexOf('\r\n\r\n') + 4;
  const json = JSON.parse(text.slice(bodyStart)) as { value: string; version: number };
  t.ok(Buffer.from(json.value, 'base64').equals(value), '1 MiB value intact after a stalled reader');
  // Many readers that vanish mid-body.
  await Promise.all(Array.from({ length: 40 }, () => raw(d.port, ['GET /api/v1/kv/big/v HTTP/1.1\r\nHost: x\r\n\r\n'], { destroyAfterMs: 2 })));
  // Scans of large values are cut into pages by size, not only by count.
  for (let i = 0; i < 6; i++) {
    const r = await request(`${d.url}/api/v1/kv/big/p${i}`, { method: 'PUT', body: JSON.stringify({ value: value.toString('base64') }) });
    await r.body.dump();
  }
  const page = (await (await request(`${d.url}/api/v1/kv/big?prefix=p&limit=100`)).body.json()) as { count: number; next_cursor: string | null };
  t.ok(page.count >= 1 && page.count < 6, `first page holds ${page.count} of 6 one-MiB values`);
  t.ok(page.next_cursor, 'and points to the next page');
  t.equal(d.proc.exitCode, null, 'still running');
  const m = (await (await request(`${d.url}/api/v1/metrics`)).body.json()) as { connections_active: number };
  t.equal(m.connections_active, 1, 'streamed and aborted responses were all accounted for');
  d.proc.kill('SIGTERM');
  t.equal((await d.exited).code, 0);
});
