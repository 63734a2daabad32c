// Load generator for the queue-stream-ts section, one run per process (pinned with taskset
// like wrk). argv[2] is a JSON QsSpec; prints one JSON line (QsResult). wrk cannot chain
// requests (enqueue -> dequeue -> ack), so the chained and batched workloads live here:
// HTTP through an undici Pool, the Redis anchor through a minimal RESP client on net.Socket.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';

export type QsMode = 'queue-http' | 'queue-redis' | 'stream-append-batch' | 'stream-read' | 'ts-write' | 'ts-query';

export interface QsSpec {
  mode: QsMode;
  host: string;
  port: number;
  /** Concurrent workers (one connection each). */
  workers: number;
  /** Measured seconds (loop modes); unmeasured warmup seconds run first. */
  duration: number;
  warmup: number;
  namespace: string;
  /** 100-byte payload: base64 for HTTP, the raw bytes (latin1) for Redis. */
  payloadB64: string;
  /** stream-append-batch: records per request; stream-read: records per page. */
  batch?: number;
  stream?: string;
  /** stream-read: the highest start offset to pick (pages start uniformly in [0, readMax]). */
  readMax?: number;
  /** ts-write: points, lines per request, last timestamp (ms) and spacing (ms). */
  points?: number;
  linesPerBatch?: number;
  endMs?: number;
  stepMs?: number;
  /** ts-query: false reads raw points only */
  rollups?: boolean;
  /** ts-query */
  query?: string;
  repeats?: number;
}

export interface QsResult {
  /** Completed operations (round trips, requests) in the measured window. */
  ops: number;
  /** Records (stream) or points (ts) moved in the measured window. */
  records: number;
  seconds: number;
  opsPerSec: number;
  recordsPerSec: number;
  /** Latency of one operation, ms. */
  p50: number;
  p99: number;
  min: number;
  errors: number;
  /** ts-query: every latency (ms) and the number of points the query returned. */
  samples?: number[];
  pointsReturned?: number;
  firstError?: string;
}

function pct(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

// ---- HTTP ----

let pool: Pool;
async function post(path: string, body: string, contentType = 'application/json'): Promise<{ status: number; text: string }> {
  const r = await pool.request({ path, method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: r.statusCode, text: await r.body.text() };
}
async function get(path: string): Promise<{ status: number; text: string }> {
  const r = await pool.request({ path, method: 'GET' });
  return { status: r.statusCode, text: await r.body.text() };
}

// ---- RESP (Redis) ----

type Resp = string | number | null | Resp[] | Error;

/** Parses one RESP reply from buf at pos; undefined if incomplete. */
function parseResp(buf: Buffer, pos: number): [Resp, number] | undefined {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return undefined;
  const t = String.fromCharCode(buf[pos]);
  const line = buf.toString('latin1', pos + 1, eol);
  const next = eol + 2;
  switch (t) {
    case '+': return [line, next];
    case '-': return [new Error(line), next];
    case ':': return [Number(line), next];
    case '$': {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return undefined;
      return [buf.toString('latin1', next, next + n), next + n + 2];
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return [null, next];
      const arr: Resp[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseResp(buf, p);
        if (!r) return undefined;
        arr.push(r[0]);
        p = r[1];
      }
      return [arr, p];
    }
    default: throw new Error(`bad RESP type byte ${t}`);
  }
}

class RespConn {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: Array<(r: Resp) => void> = [];
  constructor(private sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      for (;;) {
        const r = this.buf.length ? parseResp(this.buf, 0) : undefined;
        if (!r) break;
        this.buf = this.buf.subarray(r[1]);
        this.waiting.shift()?.(r[0]);
      }
    });
  }
  static open(host: string, port: number): Promise<RespConn> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host);
      s.once('connect', () => resolve(new RespConn(s)));
      s.once('error', reject);
    });
  }
  cmd(...args: string[]): Promise<Resp> {
    let out = `*${args.length}\r\n`;
    for (const a of args) out += `$${Buffer.byteLength(a, 'latin1')}\r\n${a}\r\n`;
    return new Promise((resolve) => { this.waiting.push(resolve); this.sock.write(Buffer.from(out, 'latin1')); });
  }
  close(): void { this.sock.destroy(); }
}

// ---- loop modes ----

/** One operation; returns records moved (0 = failed). */
type Op = () => Promise<number>;

async function loop(spec: QsSpec, makeOp: (worker: number) => Promise<Op>): Promise<QsResult> {
  const ops = await Promise.all(Array.from({ length: spec.workers }, (_, i) => makeOp(i)));
  const lat: number[] = [];
  let done = 0;
  let records = 0;
  let errors = 0;
  let firstError: string | undefined;
  let measuring = false;
  const warmEnd = performance.now() + spec.warmup * 1000;
  let t0 = warmEnd;
  const end = warmEnd + spec.duration * 1000;
  let lastFinish = end;
  await Promise.all(ops.map(async (op) => {
    for (;;) {
      const s = performance.now();
      if (s >= end) break;
      if (!measuring && s >= warmEnd) { measuring = true; t0 = s; }
      let n = 0;
      try { n = await op(); } catch (err) { firstError ??= (err as Error).message; }
      const e = performance.now();
      if (s >= warmEnd) {
        if (n > 0) { lat.push(e - s); done++; records += n; } else errors++;
        if (e > lastFinish) lastFinish = e;
      }
    }
  }));
  lat.sort((a, b) => a - b);
  const seconds = (Math.max(lastFinish, end) - t0) / 1000;
  return { ops: done, records, seconds, opsPerSec: done / seconds, recordsPerSec: records / seconds, p50: pct(lat, 50), p99: pct(lat, 99), min: lat[0] ?? NaN, errors, firstError };
}

const fail = (what: string, r: { status: number; text: string }): never => { throw new Error(`${what} -> ${r.status} ${r.text.slice(0, 200)}`); };

async function queueHttp(spec: QsSpec): Promise<QsResult> {
  const enq = JSON.stringify({ payload: spec.payloadB64 });
  const deq = JSON.stringify({ count: 1, visibility_timeout_ms: 30_000, wait_ms: 1000 });
  return loop(spec, async (w) => {
    const base = `/api/v1/queue/${spec.namespace}/q${w}`;
    return async () => {
      const e = await post(`${base}/enqueue`, enq);
      if (e.status !== 200) fail('enqueue', e);
      const d = await post(`${base}/dequeue`, deq);
      if (d.status !== 200) fail('dequeue', d);
      const seqs = (JSON.parse(d.text) as { messages: Array<{ sequence: number }> }).messages.map((m) => m.sequence);
      if (!seqs.length) throw new Error('dequeue returned no message');
      const a = await post(`${base}/ack`, JSON.stringify({ sequences: seqs }));
      if (a.status !== 200) fail('ack', a);
      return 1;
    };
  });
}

async function queueRedis(spec: QsSpec): Promise<QsResult> {
  const payload = Buffer.from(spec.payloadB64, 'base64').toString('latin1');
  const conns: RespConn[] = [];
  try {
    return await loop(spec, async (w) => {
      const c = await RespConn.open(spec.host, spec.port);
      conns.push(c);
      const key = `q${w}`;
      return async () => {
        const l = await c.cmd('LPUSH', key, payload);
        if (typeof l !== 'number') throw new Error(`LPUSH -> ${String(l)}`);
        const b = await c.cmd('BRPOP', key, '1');
        if (!Array.isArray(b) || b[1] !== payload) throw new Error(`BRPOP -> ${String(b)}`);
        return 1;
      };
    });
  } finally { for (const c of conns) c.close(); }
}

async function streamAppendBatch(spec: QsSpec): Promise<QsResult> {
  const n = spec.batch ?? 100;
  const body = JSON.stringify({ records: Array.from({ length: n }, () => ({ payload: spec.payloadB64 })) });
  const path = `/api/v1/stream/${spec.namespace}/${spec.stream}/append`;
  return loop(spec, async () => async () => {
    const r = await post(path, body);
    if (r.status !== 200) fail('append batch', r);
    return (JSON.parse(r.text) as { count: number }).count;
  });
}

async function streamRead(spec: QsSpec): Promise<QsResult> {
  const n = spec.batch ?? 1000;
  const max = spec.readMax ?? 0;
  const base = `/api/v1/stream/${spec.namespace}/${spec.stream}?count=${n}&offset=`;
  return loop(spec, async () => async () => {
    const r = await get(base + Math.floor(Math.random() * (max + 1)));
    if (r.status !== 200) fail('read', r);
    const got = (JSON.parse(r.text) as { records: unknown[] }).records.length;
    if (got !== n) throw new Error(`read returned ${got} records, expected ${n}`);
    return got;
  });
}

async function tsWrite(spec: QsSpec): Promise<QsResult> {
  const points = spec.points ?? 1_000_000;
  const per = spec.linesPerBatch ?? 10_000;
  const step = spec.stepMs ?? 1000;
  const end = spec.endMs ?? Date.now();
  const bodies: string[] = [];
  for (let i = 0; i < points; i += per) {
    const lines: string[] = [];
    for (let j = i; j < Math.min(points, i + per); j++) lines.push(`cpu,host=h1 value=${(j % 1000) / 10} ${end - (points - 1 - j) * step}`);
    bodies.push(lines.join('\n'));
  }
  const path = `/api/v1/ts/${spec.namespace}/write?precision=ms`;
  const lat: number[] = [];
  const t0 = performance.now();
  // One request in flight: the write rate of a single writer shipping 10k-line batches.
  for (const b of bodies) {
    const s = performance.now();
    const r = await post(path, b, 'text/plain');
    if (r.status !== 200) fail('ts write', r);
    lat.push(performance.now() - s);
  }
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { ops: bodies.length, records: points, seconds, opsPerSec: bodies.length / seconds, recordsPerSec: points / seconds, p50: pct(lat, 50), p99: pct(lat, 99), min: lat[0], errors: 0 };
}

async function tsQuery(spec: QsSpec): Promise<QsResult> {
  const path = `/api/v1/ts/${spec.namespace}/query`;
  const body = JSON.stringify({ query: spec.query, rollups: spec.rollups !== false });
  const samples: number[] = [];
  let pointsReturned = 0;
  for (let i = 0; i < (spec.repeats ?? 5); i++) {
    const s = performance.now();
    const r = await post(path, body);
    const ms = performance.now() - s;
    if (r.status !== 200) fail('ts query', r);
    pointsReturned = (JSON.parse(r.text) as { series: Array<{ points: unknown[] }> }).series.reduce((a, x) => a + x.points.length, 0);
    samples.push(ms);
  }
  const sorted = [...samples].sort((a, b) => a - b);
  const seconds = samples.reduce((a, x) => a + x, 0) / 1000;
  return { ops: samples.length, records: 0, seconds, opsPerSec: samples.length / seconds, recordsPerSec: NaN, p50: pct(sorted, 50), p99: pct(sorted, 99), min: sorted[0], errors: 0, samples, pointsReturned };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as QsSpec;
  pool = new Pool(`http://${spec.host}:${spec.port}`, { connections: spec.workers, pipelining: 1, headersTimeout: 300_000, bodyTimeout: 300_000 });
  const modes: Record<QsMode, (s: QsSpec) => Promise<QsResult>> = {
    'queue-http': queueHttp, 'queue-redis': queueRedis, 'stream-append-batch': streamAppendBatch,
    'stream-read': streamRead, 'ts-write': tsWrite, 'ts-query': tsQuery,
  };
  const res = await modes[spec.mode](spec);
  await pool.close();
  process.stdout.write(JSON.stringify(res) + '\n');
}

if (require.main === module) {
  main().catch((err) => { process.stderr.write(`queue-load: ${(err as Error).stack}\n`); process.exit(1); });
}
