// Durable queues over HTTP: leases, priorities, delays, dedup, ack/nack, DLQ and redrive,
// long polling, competing consumers with crashes, and SIGKILL durability.
import t from 'tap';
import { Pool, request } from 'undici';
import { b64, spawnDaemon, startInProc, tempDir } from './helpers/daemon';
import { sleep, until } from './helpers/wait';

async function post(url: string, path: string, body: unknown): Promise<{ status: number; json: any }> {
  const r = await request(url + path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  return { status: r.statusCode, json: await r.body.json() };
}
const Q = '/api/v1/queue/app/jobs';

t.test('enqueue, priorities, leases, ack, stats', async (t) => {
  const { url } = await startInProc(t);
  const seqs: number[] = [];
  for (const [i, priority] of [0, 10, 5, 10].entries()) seqs.push((await post(url, `${Q}/enqueue`, { payload: b64(`m${i}`), priority })).json.sequence);
  t.same(seqs, [1, 2, 3, 4], 'dense sequences');
  const d = await post(url, `${Q}/dequeue`, { count: 3, visibility_timeout_ms: 60000 });
  t.equal(d.status, 200);
  t.same(d.json.messages.map((m: any) => m.sequence), [2, 4, 3], 'higher priority first, FIFO within a priority');
  t.same(d.json.messages.map((m: any) => Buffer.from(m.payload, 'base64').toString()), ['m1', 'm3', 'm2']);
  for (const m of d.json.messages) {
    t.equal(m.delivery_count, 1);
    t.ok(m.lease_deadline > Date.now() + 50000, 'lease deadline in the future');
  }
  let s = (await request(`${url}${Q}/stats`).then((r) => r.body.json())) as any;
  t.same(s, { name: 'jobs', ready_count: 1, leased_count: 3, delayed_count: 0, dlq_count: 0, total_enqueued: 4, total_acked: 0 });
  const a = await post(url, `${Q}/ack`, { sequences: [2, 4, 999] });
  t.same(a.json, { acked: [2, 4], not_found: [999] }, 'unknown sequences are reported');
  t.same((await post(url, `${Q}/ack`, { sequences: [2] })).json, { acked: [], not_found: [2] }, 'a second ack is reported');
  s = (await request(`${url}${Q}/stats`).then((r) => r.body.json())) as any;
  t.equal(s.leased_count, 1);
  t.equal(s.total_acked, 2);
});

t.test('delay, dedup, visibility expiry, nack, DLQ and redrive', async (t) => {
  const { url } = await startInProc(t, [], { OUTPOST_QUEUE_MAX_DELIVERIES: '2' });
  const delayed = (await post(url, `${Q}/enqueue`, { payload: b64('later'), delay_ms: 300 })).json.sequence;
  t.same((await post(url, `${Q}/dequeue`, { count: 10 })).json.messages, [], 'a delayed message is not visible yet');
  await sleep(350); // on purpose: the 300 ms delay runs out
  const got = (await post(url, `${Q}/dequeue`, { count: 10, visibility_timeout_ms: 200 })).json.messages;
  t.same(got.map((m: any) => m.sequence), [delayed], 'visible after its delay');
  const first = await post(url, `${Q}/enqueue`, { payload: b64('once'), dedup_key: 'order-7' });
  const again = await post(url, `${Q}/enqueue`, { payload: b64('twice'), dedup_key: 'order-7' });
  t.equal(again.json.sequence, first.json.sequence, 'duplicate returns the original sequence');
  t.equal(again.json.duplicate, true);
  // The lease on `delayed` (200 ms) runs out: it comes back with delivery_count 2.
  await sleep(250); // on purpose: the 200 ms lease runs out
  const re = (await post(url, `${Q}/dequeue`, { count: 10, visibility_timeout_ms: 60000 })).json.messages;
  const back = re.find((m: any) => m.sequence === delayed);
  t.equal(back?.delivery_count, 2, 'redelivered after the lease expired');
  t.equal(re.length, 2, 'the deduplicated message exists once');
  // nack with delay: not visible until the delay passes... and it has hit max_deliveries (2) → DLQ.
  const n = await post(url, `${Q}/nack`, { sequences: [delayed, 12345] });
  t.same(n.json, { released: [delayed], not_found: [12345] });
  let s = (await request(`${url}${Q}/stats`).then((r) => r.body.json())) as any;
  t.equal(s.dlq_count, 1, 'past max_deliveries the message moved to the DLQ');
  const dlq = (await request(`${url}${Q}/dlq`).then((r) => r.body.json())) as any;
  t.same(dlq.messages.map((m: any) => [m.sequence, Buffer.from(m.payload, 'base64').toString()]), [[delayed, 'later']]);
  const other = re.find((m: any) => m.sequence !== delayed).sequence;
  t.same((await post(url, `${Q}/nack`, { sequences: [other], delay_ms: 300 })).json.released, [other]);
  t.same((await post(url, `${Q}/dequeue`, { count: 10 })).json.messages, [], 'nacked with a delay: not yet');
  t.same((await post(url, `${Q}/dlq/redrive`, {})).json, { redriven: [delayed] });
  const after = (await post(url, `${Q}/dequeue`, { count: 10, wait_ms: 1000 })).json.messages;
  t.same(after.map((m: any) => [m.sequence, m.delivery_count]), [[delayed, 1]], 'redriven with a fresh delivery count');
  s = (await request(`${url}${Q}/stats`).then((r) => r.body.json())) as any;
  t.equal(s.dlq_count, 0);
});

t.test('an expired lease is over for ack, nack and stats even when nobody dequeues', async (t) => {
  // No background sweep: each read must expire leases by itself.
  const { url } = await startInProc(t, [], { OUTPOST_QUEUE_LEASE_SWEEP_INTERVAL_MS: '0' });
  const qs = ['for-ack', 'for-nack', 'for-stats', 'for-dlq'];
  let deadline = 0;
  for (const q of qs) {
    await post(url, `/api/v1/queue/app/${q}/enqueue`, { payload: b64(q) });
    const m = (await post(url, `/api/v1/queue/app/${q}/dequeue`, { visibility_timeout_ms: 100 })).json.messages;
    t.equal(m.length, 1);
    deadline = Math.max(deadline, m[0].lease_deadline);
  }
  while (Date.now() <= deadline + 5) await sleep(deadline + 10 - Date.now()); // on purpose: past every lease deadline
  t.same((await post(url, '/api/v1/queue/app/for-ack/ack', { sequences: [1] })).json, { acked: [], not_found: [1] }, 'ack of an expired lease: not_found');
  t.same((await post(url, '/api/v1/queue/app/for-nack/nack', { sequences: [1] })).json, { released: [], not_found: [1] }, 'nack of an expired lease: not_found');
  const s = (await request(`${url}/api/v1/queue/app/for-stats/stats`).then((r) => r.body.json())) as any;
  t.match(s, { ready_count: 1, leased_count: 0, total_acked: 0 }, 'stats does not count an expired lease');
  const a = (await request(`${url}/api/v1/queue/app/for-ack/stats`).then((r) => r.body.json())) as any;
  t.match(a, { ready_count: 1, leased_count: 0, total_acked: 0 }, 'the late ack acknowledged nothing');
  const again = (await post(url, '/api/v1/queue/app/for-ack/dequeue', { visibility_timeout_ms: 60000 })).json.messages;
  t.same(again.map((m: any) => [m.sequence, m.delivery_count]), [[1, 2]], 'the message is delivered again');
  t.same((await post(url, '/api/v1/queue/app/for-ack/ack', { sequences: [1] })).json, { acked: [1], not_found: [] }, 'the new lease acks');
});

t.test('leases also expire in the background (queue.lease_sweep_interval_ms)', async (t) => {
  const { url, daemon } = await startInProc(t, [], { OUTPOST_QUEUE_LEASE_SWEEP_INTERVAL_MS: '50', OUTPOST_QUEUE_MAX_DELIVERIES: '1' });
  await post(url, `${Q}/enqueue`, { payload: b64('x') });
  t.equal((await post(url, `${Q}/dequeue`, { visibility_timeout_ms: 100 })).json.messages.length, 1);
  // Nobody touches the queue: the sweep alone must expire the lease (here into the DLQ).
  await until('the background sweep to expire the lease', () => daemon.queues.leasesExpired >= 1, 10_000);
  t.equal(daemon.queues.leasesExpired, 1, 'the background pass expired the lease');
  const s = (await request(`${url}${Q}/stats`).then((r) => r.body.json())) as any;
  t.match(s, { ready_count: 0, leased_count: 0, dlq_count: 1 });
});

t.test('long polling returns as soon as a message arrives', async (t) => {
  const { url } = await startInProc(t);
  t.equal((await post(url, '/api/v1/namespaces', { name: 'app' })).status, 201);
  const started = Date.now();
  // On purpose: the message comes 200 ms after the dequeue started, so the dequeue is parked by then.
  setTimeout(() => void post(url, `${Q}/enqueue`, { payload: b64('wake') }), 200);
  const r = await post(url, `${Q}/dequeue`, { wait_ms: 5000 });
  const took = Date.now() - started;
  t.equal(r.json.messages.length, 1);
  t.ok(took >= 150 && took < 2000, `answered after ${took} ms, not at the 5 s timeout`);
  const empty = Date.now();
  t.same((await post(url, `${Q}/dequeue`, { wait_ms: 300 })).json.messages, []);
  t.ok(Date.now() - empty >= 250, 'an empty long poll waits out its wait_ms');
});

t.test('bad input names the field', async (t) => {
  const { url } = await startInProc(t);
  for (const [path, body, field] of [
    ['enqueue', {}, 'body.payload'],
    ['enqueue', { payload: 'x!' }, 'body.payload'],
    ['enqueue', { payload: b64('x'), priority: 1.5 }, 'body.priority'],
    ['dequeue', { count: 0 }, 'body.count'],
    ['dequeue', { visibility_timeout_ms: -1 }, 'body.visibility_timeout_ms'],
    ['ack', { sequences: [] }, 'body.sequences'],
    ['ack', { sequences: ['a'] }, 'body.sequences.0'],
  ] as const) {
    const r = await post(url, `${Q}/${path}`, body);
    t.equal(r.status, 400, `${path} ${JSON.stringify(body)}`);
    t.ok(r.json.details.fields.some((f: any) => f.field === field), `names ${field}: ${JSON.stringify(r.json.details.fields)}`);
  }
  t.equal((await post(url, '/api/v1/queue/nosuch/jobs/dequeue', {})).status, 404, 'unknown namespace');
});

t.test('competing consumers with crashes and lease expiry: nothing lost, no double lease', async (t) => {
  const { url } = await startInProc(t);
  const pool = new Pool(url, { connections: 16 });
  t.teardown(() => pool.close());
  const call = async (path: string, body: unknown) => {
    const r = await pool.request({ method: 'POST', path, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return (await r.body.json()) as any;
  };
  const N = 300;
  await Promise.all(Array.from({ length: N }, (_, i) => call(`${Q}/enqueue`, { payload: b64(`job-${i}`) })));
  const VIS = 250;
  const deliveries = new Map<number, Array<{ consumer: number; start: number; deadline: number }>>();
  const ackedBy = new Map<number, number>();
  let crashes = 0;
  let lateDeliveries = 0;
  let rnd = 12345;
  const random = () => ((rnd = (rnd * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  const deadline = Date.now() + 20000;
  await Promise.all(Array.from({ length: 6 }, async (_, c) => {
    while (ackedBy.size < N && Date.now() < deadline) {
      const got = (await call(`${Q}/dequeue`, { count: 5, visibility_timeout_ms: VIS, wait_ms: 100 })).messages as any[];
      for (const m of got) {
        const list = deliveries.get(m.sequence) ?? [];
        list.push({ consumer: c, start: m.lease_deadline - VIS, deadline: m.lease_deadline });
        deliveries.set(m.sequence, list);
        if (ackedBy.has(m.sequence)) lateDeliveries++;
      }
      if (got.length && random() < 0.15) { crashes++; continue; } // "crash": leases abandoned
      if (!got.length) continue;
      const r = await call(`${Q}/ack`, { sequences: got.map((m) => m.sequence) });
      for (const s of r.acked) ackedBy.set(s, c);
    }
  }));
  t.equal(ackedBy.size, N, `all ${N} messages acknowledged`);
  t.ok(crashes > 0, `${crashes} consumer crashes with leases abandoned`);
  let overlaps = 0;
  let redelivered = 0;
  for (const list of deliveries.values()) {
    if (list.length > 1) redelivered++;
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++) if (list[i].start < list[i - 1].deadline) overlaps++;
  }
  t.ok(redelivered > 0, `${redelivered} messages redelivered after lease expiry`);
  t.equal(overlaps, 0, 'no message leased to two consumers while a lease was valid');
  t.equal(lateDeliveries, 0, 'no message delivered after its ack');
  const s = (await request(`${url}${Q}/stats`).then((r) => r.body.json())) as any;
  t.equal(s.ready_count + s.leased_count + s.delayed_count, 0, 'queue drained');
  t.equal(s.total_acked, N);
});

t.test('SIGKILL loses no acknowledged enqueue or ack', async (t) => {
  const dataDir = tempDir(t);
  const d = await spawnDaemon(t, ['--data-dir', dataDir]);
  const pool = new Pool(d.url, { connections: 32 });
  const call = async (path: string, body: unknown) => {
    const r = await pool.request({ method: 'POST', path, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    return (await r.body.json()) as any;
  };
  const enq = await Promise.all(Array.from({ length: 400 }, (_, i) => call(`${Q}/enqueue`, { payload: b64(`k${i}`) })));
  const leased = (await call(`${Q}/dequeue`, { count: 100, visibility_timeout_ms: 600000 })).messages.map((m: any) => m.sequence);
  const acked = (await call(`${Q}/ack`, { sequences: leased })).acked as number[];
  t.equal(acked.length, 100);
  d.proc.kill('SIGKILL');
  await d.exited;
  await pool.destroy();
  const d2 = await spawnDaemon(t, ['--data-dir', dataDir]);
  const s = (await request(`${d2.url}${Q}/stats`).then((r) => r.body.json())) as any;
  t.equal(s.total_enqueued, 400);
  t.equal(s.total_acked, 100);
  const rest = (await post(d2.url, `${Q}/dequeue`, { count: 1000 })).json.messages.map((m: any) => m.sequence).sort((a: number, b: number) => a - b);
  const want = enq.map((e: any) => e.sequence).filter((x: number) => !acked.includes(x)).sort((a: number, b: number) => a - b);
  t.same(rest, want, 'exactly the unacknowledged messages remain');
  d2.proc.kill('SIGTERM');
  t.equal((await d2.exited).code, 0);
});
