// Load runner for bench/ws-batch.ts (spawned pinned to the client CPU) over the binary WebSocket
// batch protocol with BatchClient; prints one JSON line. Modes:
//   kv:     batched KV GET, then durable PUT (batch ops per frame, `inflight` frames in flight)
//   queue:  enqueue -> dequeue -> ack round trips, one op per frame (like the HTTP bench), and
//           batched (batch messages per frame for each step); one queue per worker
//   stream: appends of `batch` records per frame, then reads of pages of 1000 at random offsets
import { BatchClient, type Op } from '../daemon/dataplane/ws/client';

interface Spec { url: string; mode?: 'kv' | 'queue' | 'stream'; keys: number; valueBytes: number; seconds: number; batch: number; inflight: number; prefill: boolean; workers?: number }

async function timed(seconds: number, workers: number, step: () => Promise<number>): Promise<{ perSec: number; total: number }> {
  let total = 0;
  const end = Date.now() + seconds * 1000;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: workers }, async () => {
    while (Date.now() < end) {
      const n = await step(); // not `total += await step()`: that reads total before the await and loses the other workers' counts
      total += n;
    }
  }));
  return { perSec: Math.round(total / ((Date.now() - t0) / 1000)), total };
}

function check(results: Array<{ status: number; error?: string; message?: string }>, what: string): void {
  const bad = results.find((r) => r.status !== 200);
  if (bad) throw new Error(`${what}: ${bad.status} ${bad.error} ${bad.message}`);
}

async function kv(c: BatchClient, spec: Spec, out: Record<string, number>): Promise<void> {
  const value = Buffer.alloc(spec.valueBytes, 0x61);
  if (spec.prefill) {
    for (let i = 0; i < spec.keys; i += 1000) {
      await c.batch(Array.from({ length: Math.min(1000, spec.keys - i) }, (_, j): Op => ({ kv_put: { namespace: 'bench', key: `k${i + j}`, value } })));
    }
  }
  for (const kind of ['get', 'put'] as const) {
    let failed = 0;
    const r = await timed(spec.seconds, spec.inflight, async () => {
      const batch = Array.from({ length: spec.batch }, (): Op => {
        const key = `k${Math.floor(Math.random() * spec.keys)}`;
        return kind === 'get' ? { kv_get: { namespace: 'bench', key } } : { kv_put: { namespace: 'bench', key, value } };
      });
      const res = await c.batch(batch);
      failed += res.filter((x) => x.status !== 200).length;
      return res.length;
    });
    out[`${kind}_ops_per_sec`] = r.perSec;
    out[`${kind}_failed`] = failed;
  }
}

async function queue(c: BatchClient, spec: Spec, out: Record<string, number>): Promise<void> {
  const payload = Buffer.alloc(spec.valueBytes, 0x62);
  const workers = spec.workers ?? 16;
  let w = 0;
  // One op per frame: three round trips per message, `workers` messages in flight.
  const single = await timed(spec.seconds, workers, (() => {
    const q = `wq${w++}`;
    return async () => {
      const [e] = await c.batch([{ queue_enqueue: { namespace: 'bench', queue: q, payload } }]);
      check([e], 'enqueue');
      const [d] = await c.batch([{ queue_dequeue: { namespace: 'bench', queue: q, count: 1 } }]);
      check([d], 'dequeue');
      const [a] = await c.batch([{ queue_ack: { namespace: 'bench', queue: q, sequences: d.leased!.messages.map((m) => m.sequence) } }]);
      check([a], 'ack');
      return d.leased!.messages.length;
    };
  })() as () => Promise<number>);
  out.queue_single_round_trips_per_sec = single.perSec;
  // Batched: `batch` messages per frame for each of the three steps.
  const n = Math.min(spec.batch, 1000);
  let bw = 0;
  const batched = await timed(spec.seconds, Math.max(1, Math.min(workers, 4)), (() => {
    return async () => {
      const q = `bq${bw++ % 4}`;
      const enq = await c.batch(Array.from({ length: n }, (): Op => ({ queue_enqueue: { namespace: 'bench', queue: q, payload } })));
      check(enq, 'enqueue');
      const [d] = await c.batch([{ queue_dequeue: { namespace: 'bench', queue: q, count: n } }]);
      check([d], 'dequeue');
      const [a] = await c.batch([{ queue_ack: { namespace: 'bench', queue: q, sequences: d.leased!.messages.map((m) => m.sequence) } }]);
      check([a], 'ack');
      return d.leased!.messages.length;
    };
  })());
  out.queue_batched_round_trips_per_sec = batched.perSec;
  out.queue_batch = n;
}

async function stream(c: BatchClient, spec: Spec, out: Record<string, number>): Promise<void> {
  const payload = Buffer.alloc(100, 0x63);
  const per = Math.min(spec.batch, 10000);
  const payloads = Array.from({ length: per }, () => payload);
  const app = await timed(spec.seconds, spec.inflight, async () => {
    const [r] = await c.batch([{ stream_append: { namespace: 'bench', stream: 'ws', payloads } }]);
    check([r], 'append');
    return per;
  });
  out.stream_append_records_per_sec = app.perSec;
  out.stream_append_batch = per;
  const total = app.total;
  const page = 1000;
  const rd = await timed(spec.seconds, spec.inflight, async () => {
    const offset = Math.floor(Math.random() * Math.max(1, total - page));
    const [r] = await c.batch([{ stream_read: { namespace: 'bench', stream: 'ws', offset, count: page } }]);
    check([r], 'read');
    return r.records!.records.length;
  });
  out.stream_read_records_per_sec = rd.perSec;
  out.stream_read_page = page;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as Spec;
  const c = await BatchClient.connect(spec.url);
  const out: Record<string, number> = {};
  const mode = spec.mode ?? 'kv';
  if (mode === 'kv') await kv(c, spec, out);
  else if (mode === 'queue') await queue(c, spec, out);
  else await stream(c, spec, out);
  await c.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => { process.stderr.write(String(e?.stack ?? e) + '\n'); process.exit(1); });
