// The binary batch protocol over GET /api/v1/ws (daemon/ws/batch.proto): mixed batches with
// read-after-write, CAS conflicts, queues and streams; raw bytes; bad frames; the op limit;
// durability across SIGKILL; many batches in flight on one socket.
import t from 'tap';
import { WebSocket } from 'undici';
import { BatchClient, type Op } from '../daemon/dataplane/ws/client';
import { BatchResponseType, decodeResponse, encodeRequest, PROTO_PATH } from '../daemon/dataplane/ws/batch-schema';
import { MAX_BATCH_OPS } from '../daemon/dataplane/ws/batch';
import { spawnDaemon, startInProc, tempDir } from './helpers/daemon';
import { sleep } from './helpers/wait';
import fs from 'node:fs';

const bytes = (s: string) => Buffer.from(s);
const str = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString();

t.test('the schema is loaded from the source tree', async (t) => {
  t.ok(fs.existsSync(PROTO_PATH), PROTO_PATH);
  t.ok(BatchResponseType.fields.results, 'BatchResponse.results');
});

t.test('mixed batch: KV with read-after-write and CAS, queue, stream', async (t) => {
  const { url } = await startInProc(t);
  const c = await BatchClient.connect(url);
  t.teardown(() => c.close());
  const ops: Op[] = [
    { kv_get: { namespace: 'app', key: 'a' } },                                   // 0: namespace absent → 404
    { kv_put: { namespace: 'app', key: 'a', value: bytes('one') } },               // 1
    { kv_put: { namespace: 'app', key: 'b', value: bytes('bee'), ttl_seconds: 100 } }, // 2
    { kv_get: { namespace: 'app', key: 'a' } },                                   // 3: sees 1
    { kv_put: { namespace: 'app', key: 'a', value: bytes('two'), cas_version: 1 } }, // 4: ok → v2
    { kv_put: { namespace: 'app', key: 'a', value: bytes('bad'), cas_version: 1 } }, // 5: conflict, current 2
    { kv_put: { namespace: 'app', key: 'b', value: bytes('x'), if_not_exists: true } }, // 6: conflict
    { kv_get: { namespace: 'app', key: 'a' } },                                   // 7: "two" v2
    { kv_get: { namespace: 'app', key: 'b' } },                                   // 8: ttl
    { kv_get: { namespace: 'app', key: 'nope' } },                                // 9: 404
    { kv_del: { namespace: 'app', key: 'nope' } },                                // 10: 404
    { kv_del: { namespace: 'app', key: 'b', cas_version: 7 } },                   // 11: conflict current 1
    { kv_del: { namespace: 'app', key: 'b' } },                                   // 12: ok
    { kv_get: { namespace: 'app', key: 'b' } },                                   // 13: 404 after delete
    { queue_enqueue: { namespace: 'app', queue: 'jobs', payload: bytes('j1') } }, // 14
    { queue_enqueue: { namespace: 'app', queue: 'jobs', payload: bytes('j2'), priority: 5 } }, // 15
    { queue_enqueue: { namespace: 'app', queue: 'jobs', payload: bytes('j1again'), dedup_key: 'd' } }, // 16
    { queue_enqueue: { namespace: 'app', queue: 'jobs', payload: bytes('j1again'), dedup_key: 'd' } }, // 17: duplicate
    { queue_dequeue: { namespace: 'app', queue: 'jobs', count: 10, visibility_timeout_ms: 60000 } }, // 18
    { stream_append: { namespace: 'app', stream: 'ev', payloads: [bytes('e0'), bytes('e1'), bytes('e2')] } }, // 19
    { stream_read: { namespace: 'app', stream: 'ev', offset: 1, count: 10 } },    // 20
    { stream_read: { namespace: 'app', stream: 'missing' } },                     // 21: 404
    { kv_put: { namespace: 'bad name!', key: 'k', value: bytes('v') } },          // 22: 400
    {} as Op,                                                                      // 23: 400 empty op
  ];
  const r = await c.batch(ops);
  t.equal(r.length, ops.length, 'one result per op');
  t.same([r[0].status, r[0].error], [404, 'not_found'], 'read before the namespace exists');
  t.same([r[1].status, r[1].kv_version?.version], [200, 1]);
  t.same([r[2].status, r[2].kv_version?.version], [200, 1]);
  t.same([r[3].status, str(r[3].kv_value?.value), r[3].kv_value?.version, r[3].kv_value?.ttl_remaining], [200, 'one', 1, 0], 'read-after-write in the same batch');
  t.same([r[4].status, r[4].kv_version?.version], [200, 2], 'CAS ok');
  t.same([r[5].status, r[5].error, r[5].current_version], [409, 'conflict', 2], 'CAS conflict carries current_version');
  t.same([r[6].status, r[6].error, r[6].current_version], [409, 'conflict', 1], 'if_not_exists conflict');
  t.same([str(r[7].kv_value?.value), r[7].kv_value?.version], ['two', 2]);
  t.ok(r[8].kv_value!.ttl_remaining > 90 && r[8].kv_value!.ttl_remaining <= 100, 'ttl_remaining');
  t.same([r[9].status, r[9].error], [404, 'not_found']);
  t.same([r[10].status, r[10].error], [404, 'not_found']);
  t.same([r[11].status, r[11].current_version], [409, 1]);
  t.same([r[12].status, r[12].kv_version?.version], [200, 1], 'delete answers the deleted version');
  t.equal(r[13].status, 404, 'gone after the delete');
  const [e1, e2, e3, e4] = [r[14], r[15], r[16], r[17]].map((x) => x.enqueued!);
  t.same([r[14].status, e1.duplicate, e2.sequence > e1.sequence, e3.duplicate, e4.duplicate, e4.sequence], [200, false, true, false, true, e3.sequence], 'enqueue and dedup');
  const leased = r[18].leased!.messages;
  t.same(leased.map((m) => str(m.payload)), ['j2', 'j1', 'j1again'], 'priority first, then FIFO');
  t.ok(leased.every((m) => m.delivery_count === 1 && m.lease_deadline > Date.now() + 50_000));
  t.same([r[19].appended?.first_offset, r[19].appended?.last_offset], [0, 2]);
  t.same(r[20].records?.records.map((x) => [x.offset, str(x.payload)]), [[1, 'e1'], [2, 'e2']]);
  t.equal(r[20].records?.next_offset, 3);
  t.same([r[21].status, r[21].error], [404, 'not_found']);
  t.same([r[22].status, r[22].error], [400, 'bad_request']);
  t.same([r[23].status, r[23].error], [400, 'bad_request']);

  const ack = await c.batch([
    { queue_ack: { namespace: 'app', queue: 'jobs', sequences: [leased[0].sequence, leased[1].sequence, 999999] } },
    { queue_dequeue: { namespace: 'app', queue: 'jobs' } },
    { queue_ack: { namespace: 'app', queue: 'jobs', sequences: [] } },
  ]);
  t.same(ack[0].acked, { acked: [leased[0].sequence, leased[1].sequence], not_found: [999999] });
  t.same(ack[1].leased?.messages, [], 'nothing ready: all leased');
  t.equal(ack[2].status, 400, 'empty sequences');
  // The same state over HTTP.
  const s = await fetch(`${url}/api/v1/queue/app/jobs/stats`).then((x) => x.json()) as any;
  t.same([s.leased_count, s.total_acked], [1, 2]);
  const g = await fetch(`${url}/api/v1/kv/app/a`).then((x) => x.json()) as any;
  t.same([Buffer.from(g.value, 'base64').toString(), g.version], ['two', 2]);
});

t.test('scan, nack, long-poll dequeue and consumer groups in batches', async (t) => {
  const { url, daemon } = await startInProc(t);
  const c = await BatchClient.connect(url);
  t.teardown(() => c.close());
  const put: Op[] = [];
  for (let i = 0; i < 25; i++) put.push({ kv_put: { namespace: 'n', key: `user:${String(i).padStart(2, '0')}`, value: bytes(`v${i}`) } });
  put.push({ kv_put: { namespace: 'n', key: 'other', value: bytes('o') } });
  t.ok((await c.batch(put)).every((r) => r.status === 200));

  // Scan pages of 10 with values, then without; cursors continue; a foreign cursor is refused.
  const seen: string[] = [];
  let cursor = '';
  for (let page = 0; page < 5; page++) {
    const [r] = await c.batch([{ kv_scan: { namespace: 'n', prefix: 'user:', limit: 10, cursor, values: true } }]);
    t.equal(r.status, 200);
    for (const k of r.kv_scan_page!.keys) { seen.push(k.key); t.equal(str(k.value), `v${Number(k.key.slice(5))}`); t.equal(k.version, 1); }
    cursor = r.kv_scan_page!.next_cursor;
    if (!cursor) break;
  }
  t.same(seen, Array.from({ length: 25 }, (_, i) => `user:${String(i).padStart(2, '0')}`), 'every key once, in order');
  const [noVals, badCursor, noNs] = await c.batch([
    { kv_scan: { namespace: 'n', prefix: 'o' } },
    { kv_scan: { namespace: 'n', prefix: 'x', cursor: Buffer.from('user:01').toString('base64url') } },
    { kv_scan: { namespace: 'missing', prefix: '' } },
  ]);
  t.same(noVals.kv_scan_page!.keys.map((k) => [k.key, k.value.length]), [['other', 0]], 'values only when asked');
  t.equal(badCursor.status, 400);
  t.equal(noNs.status, 404);

  // Nack releases a lease at once; the redelivery counts it.
  const [enq, deq] = await c.batch([
    { queue_enqueue: { namespace: 'n', queue: 'q', payload: bytes('m1') } },
    { queue_dequeue: { namespace: 'n', queue: 'q', visibility_timeout_ms: 60000 } },
  ]);
  const seq = enq.enqueued!.sequence;
  t.equal(deq.leased!.messages[0].sequence, seq);
  const [nack, again, nackUnknown] = await c.batch([
    { queue_nack: { namespace: 'n', queue: 'q', sequences: [seq] } },
    { queue_dequeue: { namespace: 'n', queue: 'q' } },
    { queue_nack: { namespace: 'n', queue: 'q', sequences: [9999] } },
  ]);
  t.same(nack.nacked, { released: [seq], not_found: [] });
  t.equal(again.leased!.messages[0].delivery_count, 2, 'delivered again right after the nack');
  t.same(nackUnknown.nacked!.not_found, [9999]);

  // Long-poll: a dequeue with wait_ms answers when a message arrives from another client.
  const waiting = c.batch([{ queue_dequeue: { namespace: 'n', queue: 'later', wait_ms: 10000 } }]);
  await sleep(200); // on purpose: the dequeue is parked by then (it would pass unparked too, just test less)
  await daemon.queues.enqueue('n', 'later', { payload: Buffer.from('late') });
  const [woke] = await waiting;
  t.equal(str(woke.leased!.messages[0].payload), 'late', 'the waiting dequeue got the message');
  const [tooLong] = await c.batch([{ queue_dequeue: { namespace: 'n', queue: 'q', wait_ms: 60001 } }]);
  t.equal(tooLong.status, 400);

  // Consumer groups: read from the committed offset, commit, read on.
  await c.batch([{ stream_append: { namespace: 'n', stream: 's', payloads: ['a', 'b', 'c', 'd'].map(bytes) } }]);
  await daemon.streams.createGroup('n', 's', 'g', 'earliest');
  const [r1, commit, r2, noGroup] = await c.batch([
    { stream_group_read: { namespace: 'n', stream: 's', group: 'g', count: 2 } },
    { stream_group_commit: { namespace: 'n', stream: 's', group: 'g', offset: 2 } },
    { stream_group_read: { namespace: 'n', stream: 's', group: 'g' } },
    { stream_group_read: { namespace: 'n', stream: 's', group: 'nope' } },
  ]);
  t.same(r1.records!.records.map((x) => str(x.payload)), ['a', 'b']);
  t.equal(r1.records!.committed_offset, 0);
  t.same(commit.group_offset, { group: 'g', committed_offset: 2 });
  t.same(r2.records!.records.map((x) => str(x.payload)), ['c', 'd'], 'reads on from the committed offset');
  t.equal(noGroup.status, 404);
});

t.test('kv_get answers from the read cache, and never stale after a write by another path', async (t) => {
  const { url, daemon } = await startInProc(t);
  const c = await BatchClient.connect(url);
  t.teardown(() => c.close());
  await c.batch([{ kv_put: { namespace: 'cache', key: 'k', value: bytes('v1') } }, { kv_put: { namespace: 'cache', key: 't', value: bytes('ttl'), ttl_seconds: 60 } }]);
  const hits0 = daemon.dataPlane.kv.cache.hits;
  for (let i = 0; i < 3; i++) t.equal(str((await c.batch([{ kv_get: { namespace: 'cache', key: 'k' } }]))[0].kv_value?.value), 'v1');
  t.equal(daemon.dataPlane.kv.cache.hits - hits0, 2, 'the 2nd and 3rd read are cache hits');
  // A write over HTTP invalidates the entry before it is acknowledged.
  const put = await fetch(`${url}/api/v1/kv/cache/k`, { method: 'PUT', body: JSON.stringify({ value: Buffer.from('v2').toString('base64') }) });
  t.equal(put.status, 200);
  const [after] = await c.batch([{ kv_get: { namespace: 'cache', key: 'k' } }]);
  t.same([str(after.kv_value?.value), after.kv_value?.version], ['v2', 2], 'the new value, not the cached one');
  t.equal((await fetch(`${url}/api/v1/kv/cache/k`, { method: 'DELETE' })).status, 200);
  t.equal((await c.batch([{ kv_get: { namespace: 'cache', key: 'k' } }]))[0].status, 404, 'gone after the delete');
  // Keys with a TTL are not cached: their remaining time is computed on every read.
  const hits1 = daemon.dataPlane.kv.cache.hits;
  const [a, b] = await c.batch([{ kv_get: { namespace: 'cache', key: 't' } }, { kv_get: { namespace: 'cache', key: 't' } }]);
  t.equal(str(a.kv_value?.value) + str(b.kv_value?.value), 'ttlttl');
  t.equal(daemon.dataPlane.kv.cache.hits - hits1, 0, 'TTL keys are read from LMDB');
});

t.test('values and payloads are raw bytes, binary-safe', async (t) => {
  const { url } = await startInProc(t);
  const c = await BatchClient.connect(url);
  t.teardown(() => c.close());
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const big = Buffer.alloc(200_000, 0xa5);
  const r = await c.batch([
    { kv_put: { namespace: 'b', key: 'all', value: all } },
    { kv_put: { namespace: 'b', key: 'empty', value: Buffer.alloc(0) } },
    { kv_put: { namespace: 'b', key: 'big', value: big } },
    { kv_get: { namespace: 'b', key: 'all' } },
    { kv_get: { namespace: 'b', key: 'empty' } },
    { kv_get: { namespace: 'b', key: 'big' } },
    { queue_enqueue: { namespace: 'b', queue: 'q', payload: all } },
    { queue_dequeue: { namespace: 'b', queue: 'q' } },
    { stream_append: { namespace: 'b', stream: 's', payloads: [all, Buffer.alloc(0)] } },
    { stream_read: { namespace: 'b', stream: 's' } },
  ]);
  t.ok(r.every((x) => x.status === 200), JSON.stringify(r.filter((x) => x.status !== 200)));
  t.ok(Buffer.from(r[3].kv_value!.value).equals(all), 'all 256 byte values');
  t.equal(r[4].kv_value!.value.length, 0, 'empty value');
  t.ok(Buffer.from(r[5].kv_value!.value).equals(big), '200 KB value');
  t.ok(Buffer.from(r[7].leased!.messages[0].payload).equals(all), 'queue payload');
  t.ok(Buffer.from(r[9].records!.records[0].payload).equals(all), 'stream payload');
  t.equal(r[9].records!.records[1].payload.length, 0);
  // Reads whose values would make the response too large are refused (413), not dropped.
  const many = await c.batch(Array.from({ length: 20 }, () => ({ kv_get: { namespace: 'b', key: 'big' } })));
  const n200 = many.filter((x) => x.status === 200).length;
  t.ok(n200 >= 10 && n200 < 20 && many.slice(n200).every((x) => x.status === 413 && x.error === 'payload_too_large'), `${n200} reads fit, the rest 413`);
  const h = await fetch(`${url}/api/v1/kv/b/all`).then((x) => x.json()) as any;
  t.ok(Buffer.from(h.value, 'base64').equals(all), 'HTTP reads the same bytes');
});

t.test('garbage frames get a 400 result, the op limit one error; the socket stays usable', async (t) => {
  const { url } = await startInProc(t);
  const ws = new WebSocket(url.replace('http', 'ws') + '/api/v1/ws');
  ws.binaryType = 'arraybuffer';
  const frames: ArrayBuffer[] = [];
  let wake: (() => void) | undefined;
  ws.addEventListener('message', (ev) => { frames.push(ev.data as ArrayBuffer); wake?.(); });
  await new Promise((resolve, reject) => { ws.addEventListener('open', resolve); ws.addEventListener('error', reject); });
  t.teardown(() => ws.close());
  const next = async () => {
    while (!frames.length) await new Promise<void>((r) => { wake = r; setTimeout(r, 5000); });
    return decodeResponse(new Uint8Array(frames.shift()!));
  };
  ws.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
  const bad = await next();
  t.equal(bad.batch_id, 0);
  t.same([bad.results.length, bad.results[0].status, bad.results[0].error], [1, 400, 'bad_request']);
  t.match(bad.results[0].message, /not a BatchRequest/);

  const many: Op[] = Array.from({ length: MAX_BATCH_OPS + 1 }, () => ({ kv_get: { namespace: 'a', key: 'k' } }));
  ws.send(encodeRequest({ batch_id: 7, ops: many }));
  const over = await next();
  t.equal(over.batch_id, 7);
  t.same([over.results.length, over.results[0].status, over.results[0].error], [1, 413, 'payload_too_large'], 'over the op limit: one error');

  const okFrame = await (async () => { ws.send(encodeRequest({ batch_id: 8, ops: [{ kv_put: { namespace: 'a', key: 'k', value: bytes('v') } }] })); return next(); })();
  t.same([okFrame.batch_id, okFrame.results[0].status], [8, 200], 'still usable');
});

t.test('many batches in flight on one socket correlate by batch_id', async (t) => {
  const { url } = await startInProc(t);
  const c = await BatchClient.connect(url);
  t.teardown(() => c.close());
  const N = 100;
  const answers = await Promise.all(Array.from({ length: N }, (_, i) => c.batch([
    { kv_put: { namespace: 'm', key: `k${i}`, value: bytes(`v${i}`) } },
    { kv_get: { namespace: 'm', key: `k${i}` } },
    ...(i % 3 === 0 ? [{ stream_append: { namespace: 'm', stream: 's', payloads: [bytes(`s${i}`)] } } as Op] : []),
  ])));
  let good = 0;
  for (let i = 0; i < N; i++) {
    const r = answers[i];
    if (r.length === (i % 3 === 0 ? 3 : 2) && r[0].status === 200 && str(r[1].kv_value?.value) === `v${i}`) good++;
  }
  t.equal(good, N, 'each batch got its own answer');
  t.equal(c.pending, 0);
  // A large batch of KV writes group-commits and stays ordered.
  const big = await c.batch(Array.from({ length: 5000 }, (_, i) => ({ kv_put: { namespace: 'm', key: `big${i % 100}`, value: bytes(`${i}`) } })));
  t.ok(big.every((x) => x.status === 200));
  t.same(big.slice(0, 100).map((x) => x.kv_version?.version), Array(100).fill(1));
  t.same(big.slice(4900).map((x) => x.kv_version?.version), Array(100).fill(50), 'writes to one key apply in batch order');
});

t.test('auth on upgrade applies to the batch client', async (t) => {
  const { url } = await startInProc(t, [], { API_KEY: 'sekret' });
  await t.rejects(BatchClient.connect(url), 'no token');
  const c = await BatchClient.connect(url, 'sekret');
  const r = await c.batch([{ kv_put: { namespace: 'x', key: 'k', value: bytes('v') } }]);
  t.equal(r[0].status, 200);
  await c.close();
});

t.test('acknowledged batches survive SIGKILL', async (t) => {
  const dataDir = tempDir(t);
  const d = await spawnDaemon(t, ['--data-dir', dataDir]);
  const c = await BatchClient.connect(d.url);
  const acked: number[] = [];
  await Promise.all(Array.from({ length: 20 }, async (_, b) => {
    const ops: Op[] = Array.from({ length: 200 }, (_, i) => ({ kv_put: { namespace: 'dur', key: `b${b}-${i}`, value: Buffer.from([b, i & 0xff, 0, 255]) } }));
    ops.push({ queue_enqueue: { namespace: 'dur', queue: 'q', payload: bytes(`q${b}`) } });
    ops.push({ stream_append: { namespace: 'dur', stream: 's', payloads: [bytes(`s${b}`)] } });
    const r = await c.batch(ops);
    if (r.every((x) => x.status === 200)) acked.push(b);
  }));
  t.equal(acked.length, 20, 'all batches acknowledged');
  d.proc.kill('SIGKILL');
  await d.exited;
  await c.close().catch(() => {});
  const d2 = await spawnDaemon(t, ['--data-dir', dataDir]);
  const c2 = await BatchClient.connect(d2.url);
  let missing = 0;
  for (const b of acked) {
    const r = await c2.batch(Array.from({ length: 200 }, (_, i) => ({ kv_get: { namespace: 'dur', key: `b${b}-${i}` } })));
    r.forEach((x, i) => { if (x.status !== 200 || !Buffer.from(x.kv_value!.value).equals(Buffer.from([b, i & 0xff, 0, 255]))) missing++; });
  }
  t.equal(missing, 0, 'every acknowledged KV write is there');
  const r = await c2.batch([{ queue_dequeue: { namespace: 'dur', queue: 'q', count: 100 } }, { stream_read: { namespace: 'dur', stream: 's', count: 100 } }]);
  t.equal(r[0].leased?.messages.length, 20, 'every acknowledged enqueue');
  t.equal(r[1].records?.records.length, 20, 'every acknowledged append');
  await c2.close();
  d2.proc.kill('SIGTERM');
  t.equal((await d2.exited).code, 0);
});
