// The data-plane verbs: `outpost queue …`, `outpost stream …` (with `tail -f`) and
// `outpost ts write|query`, against a daemon's data plane (same URL, token and context rules as
// `kv`). Payloads are raw bytes in and out (base64 only on the wire); names are NS/NAME or NAME
// with -n NS, as for kv keys.
import fs from 'node:fs';
import { intOpt, type OptSpec, type Opts } from './args';
import type { Client } from './client';
import { makeClient, readAll, write, type CommandGroup, type Context } from './command';
import { CliError, UsageError } from './errors';
import { makeGroup, table, type Sub } from './group';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const NS_OPT: OptSpec = { name: 'namespace', short: 'n', value: true, arg: 'NS', doc: 'namespace (default "default"; or write NS/NAME)' };

/** `NS/NAME` or `NAME` (-n NS, default "default"); both checked like the server does. */
function target(arg: string, opts: Opts, what: string, u: string): { ns: string; name: string } {
  let ns = typeof opts.namespace === 'string' ? opts.namespace : 'default';
  let name = arg;
  const slash = arg.indexOf('/');
  if (slash >= 0 && typeof opts.namespace !== 'string') { ns = arg.slice(0, slash); name = arg.slice(slash + 1); }
  if (!NAME_RE.test(ns)) throw new UsageError(`invalid namespace ${JSON.stringify(ns)} (letters, digits, _ . -; up to 64)`, u);
  if (!NAME_RE.test(name)) throw new UsageError(`invalid ${what} name ${JSON.stringify(name)} (letters, digits, _ . -; up to 64)`, u);
  return { ns, name };
}

/** The payload: an argument, `-` (stdin) or --file. */
async function payload(ctx: Context, opts: Opts, arg: string | undefined, u: string): Promise<Buffer> {
  const file = opts.file as string | undefined;
  if (file !== undefined && arg !== undefined) throw new UsageError('give either PAYLOAD or --file, not both', u);
  if (file !== undefined) {
    try { return fs.readFileSync(file); } catch (err) { throw new CliError(`cannot read ${file}: ${(err as Error).message}`); }
  }
  if (arg === undefined) throw new UsageError('missing PAYLOAD (or - for stdin, or --file FILE)', u);
  return arg === '-' ? readAll(ctx.stdin) : Buffer.from(arg, 'utf8');
}

/** Printable payloads as text, others as base64:… (as `kv scan --values`). */
function show(b64: string): string {
  const buf = Buffer.from(b64, 'base64');
  const text = buf.toString('utf8');
  // eslint-disable-next-line no-control-regex
  return Buffer.from(text, 'utf8').equals(buf) && !/[\u0000-\u001f\u007f]/.test(text) && !text.startsWith('base64:') ? text : `base64:${b64}`;
}

function seqs(args: string[], u: string): number[] {
  return args.map((a) => {
    if (!/^\d+$/.test(a) || Number(a) < 1) throw new UsageError(`a sequence is a positive integer (got ${JSON.stringify(a)})`, u);
    return Number(a);
  });
}

const FILE_OPT: OptSpec = { name: 'file', short: 'f', value: true, arg: 'FILE', doc: 'read the payload from FILE' };
const q = (ns: string, name: string, ...rest: string[]) => ['api', 'v1', 'queue', ns, name, ...rest];

const QUEUE_SUBS: Sub[] = [
  {
    name: 'enqueue', synopsis: 'enqueue [NS/]QUEUE (PAYLOAD | - | --file FILE)', doc: 'add a message; prints its sequence', args: [1, 2],
    opts: [FILE_OPT,
      { name: 'priority', value: true, arg: 'N', doc: 'higher first (default 0)' },
      { name: 'delay-ms', value: true, arg: 'MS', doc: 'deliverable only after this long' },
      { name: 'dedup-key', value: true, arg: 'KEY', doc: 'a repeat inside the dedup window returns the first sequence' }],
    async run(ctx, opts, [t, arg], u) {
      const { ns, name } = target(t, opts, 'queue', u);
      const body: Record<string, unknown> = { payload: (await payload(ctx, opts, arg, u)).toString('base64') };
      if (typeof opts.priority === 'string') {
        if (!/^-?\d+$/.test(opts.priority)) throw new UsageError('--priority must be an integer', u);
        body.priority = Number(opts.priority);
      }
      const delay = intOpt(opts, 'delay-ms', 0, 31_536_000_000, u);
      if (delay !== undefined) body.delay_ms = delay;
      if (typeof opts['dedup-key'] === 'string') body.dedup_key = opts['dedup-key'];
      const r = await makeClient(opts, ctx.env, u).request<{ sequence: number; duplicate?: boolean }>('POST', q(ns, name, 'enqueue'), { body });
      await write(ctx.stdout, opts.json ? r.text + '\n' : `${r.json.sequence}${r.json.duplicate ? ' (duplicate)' : ''}\n`);
      return 0;
    },
  },
  {
    name: 'dequeue', synopsis: 'dequeue [NS/]QUEUE', doc: 'lease messages: SEQUENCE<TAB>DELIVERIES<TAB>PAYLOAD lines (ack or nack them)', args: [1, 1],
    opts: [
      { name: 'count', short: 'c', value: true, arg: 'N', doc: 'up to N messages (1..1000, default 1)' },
      { name: 'visibility-ms', value: true, arg: 'MS', doc: 'lease length (default 30000)' },
      { name: 'wait-ms', short: 'w', value: true, arg: 'MS', doc: 'long-poll up to this long for a message (0..60000, default 0)' },
      { name: 'raw', doc: 'print only the first message\'s payload, as raw bytes' },
    ],
    async run(ctx, opts, [t], u) {
      const { ns, name } = target(t, opts, 'queue', u);
      const body: Record<string, unknown> = {};
      const count = intOpt(opts, 'count', 1, 1000, u); if (count !== undefined) body.count = count;
      const vis = intOpt(opts, 'visibility-ms', 1, 43_200_000, u); if (vis !== undefined) body.visibility_timeout_ms = vis;
      const wait = intOpt(opts, 'wait-ms', 0, 60_000, u); if (wait !== undefined) body.wait_ms = wait;
      const c = makeClient({ ...opts, 'request-timeout': String(Math.ceil((wait ?? 0) / 1000) + 30) }, ctx.env, u);
      const r = await c.request<{ messages: Array<{ sequence: number; delivery_count: number; payload: string }> }>('POST', q(ns, name, 'dequeue'), { body });
      if (opts.json) { await write(ctx.stdout, r.text + '\n'); return 0; }
      if (!r.json.messages.length) { await write(ctx.stderr, 'no message\n'); return 1; }
      if (opts.raw) { await write(ctx.stdout, Buffer.from(r.json.messages[0].payload, 'base64')); return 0; }
      await write(ctx.stdout, r.json.messages.map((m) => `${m.sequence}\t${m.delivery_count}\t${show(m.payload)}\n`).join(''));
      return 0;
    },
  },
  {
    name: 'ack', synopsis: 'ack [NS/]QUEUE SEQ...', doc: 'acknowledge leased messages (exit 1 if one was not leased)', opts: [], args: [2, 10_000],
    async run(ctx, opts, [t, ...rest], u) {
      const { ns, name } = target(t, opts, 'queue', u);
      const r = await makeClient(opts, ctx.env, u).request<{ acked: number[]; not_found: number[] }>('POST', q(ns, name, 'ack'), { body: { sequences: seqs(rest, u) } });
      await write(ctx.stdout, opts.json ? r.text + '\n' : `acked ${r.json.acked.length}${r.json.not_found.length ? `; not leased: ${r.json.not_found.join(' ')}` : ''}\n`);
      return r.json.not_found.length ? 1 : 0;
    },
  },
  {
    name: 'nack', synopsis: 'nack [NS/]QUEUE SEQ...', doc: 'release leased messages (exit 1 if one was not leased)', args: [2, 10_000],
    opts: [{ name: 'delay-ms', value: true, arg: 'MS', doc: 'deliverable again only after this long' }],
    async run(ctx, opts, [t, ...rest], u) {
      const { ns, name } = target(t, opts, 'queue', u);
      const body: Record<string, unknown> = { sequences: seqs(rest, u) };
      const delay = intOpt(opts, 'delay-ms', 0, 31_536_000_000, u); if (delay !== undefined) body.delay_ms = delay;
      const r = await makeClient(opts, ctx.env, u).request<{ released: number[]; not_found: number[] }>('POST', q(ns, name, 'nack'), { body });
      await write(ctx.stdout, opts.json ? r.text + '\n' : `released ${r.json.released.length}${r.json.not_found.length ? `; not leased: ${r.json.not_found.join(' ')}` : ''}\n`);
      return r.json.not_found.length ? 1 : 0;
    },
  },
  {
    name: 'stats', synopsis: 'stats [NS/]QUEUE', doc: 'counts: ready, leased, delayed, dead letters', opts: [], args: [1, 1],
    async run(ctx, opts, [t], u) {
      const { ns, name } = target(t, opts, 'queue', u);
      const r = await makeClient(opts, ctx.env, u).request<Record<string, unknown>>('GET', q(ns, name, 'stats'));
      await write(ctx.stdout, opts.json ? r.text + '\n' : Object.entries(r.json).map(([k, v]) => `${k.padEnd(16)} ${String(v)}`).join('\n') + '\n');
      return 0;
    },
  },
];

interface StreamRecord { offset: number; timestamp: number; payload: string }
const s = (ns: string, name: string, ...rest: string[]) => ['api', 'v1', 'stream', ns, name, ...rest];

async function printRecords(ctx: Context, opts: Opts, recs: StreamRecord[]): Promise<void> {
  if (!recs.length) return;
  const text = recs.map((r) => (opts.json ? JSON.stringify(r) : opts.raw ? Buffer.from(r.payload, 'base64').toString('utf8').replace(/\n?$/, '\n') : `${r.offset}\t${new Date(r.timestamp).toISOString()}\t${show(r.payload)}`)).join(opts.raw ? '' : '\n');
  await write(ctx.stdout, opts.raw ? text : text + '\n');
}

/** Reads from `offset` on; with follow, polls for new records until interrupted. */
async function readLoop(ctx: Context, c: Client, ns: string, name: string, offset: number, opts: Opts, u: string): Promise<number> {
  const pollMs = intOpt(opts, 'poll-ms', 50, 60_000, u) ?? 500;
  let stop = false;
  const onSig = () => { stop = true; };
  if (opts.follow) process.once('SIGINT', onSig);
  try {
    for (;;) {
      const r = await c.request<{ records: StreamRecord[]; next_offset: number }>('GET', s(ns, name), { query: { offset, count: 1000 } });
      await printRecords(ctx, opts, r.json.records);
      offset = r.json.next_offset;
      if (r.json.records.length === 1000) continue;
      if (!opts.follow || stop) return 0;
      await new Promise((res) => setTimeout(res, pollMs));
      if (stop) return 0;
    }
  } finally {
    process.removeListener('SIGINT', onSig);
  }
}

const READ_OPTS: OptSpec[] = [
  { name: 'follow', short: 'F', doc: 'keep printing new records as they are appended (Ctrl-C stops)' },
  { name: 'raw', doc: 'print only the payloads (a newline added where missing)' },
  { name: 'poll-ms', value: true, arg: 'MS', doc: 'how often --follow asks for new records (default 500)' },
];

const STREAM_SUBS: Sub[] = [
  {
    name: 'append', synopsis: 'append [NS/]STREAM (PAYLOAD | - | --file FILE)', doc: 'append a record (--lines: one per stdin line); prints the offset(s)', args: [1, 2],
    opts: [FILE_OPT, { name: 'lines', short: 'l', doc: 'each line of the input is one record (appended in order, in batches of 10000)' }],
    async run(ctx, opts, [t, arg], u) {
      const { ns, name } = target(t, opts, 'stream', u);
      const data = await payload(ctx, opts, arg, u);
      const c = makeClient(opts, ctx.env, u);
      if (!opts.lines) {
        const r = await c.request<{ offset: number }>('POST', s(ns, name, 'append'), { body: { payload: data.toString('base64') } });
        await write(ctx.stdout, opts.json ? r.text + '\n' : `${r.json.offset}\n`);
        return 0;
      }
      const lines = data.toString('utf8').split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      for (let i = 0; i < lines.length; i += 10_000) {
        const records = lines.slice(i, i + 10_000).map((l) => ({ payload: Buffer.from(l).toString('base64') }));
        const r = await c.request<{ first_offset: number; last_offset: number }>('POST', s(ns, name, 'append'), { body: { records } });
        await write(ctx.stdout, opts.json ? r.text + '\n' : `${r.json.first_offset}..${r.json.last_offset}\n`);
      }
      return 0;
    },
  },
  {
    name: 'read', synopsis: 'read [NS/]STREAM', doc: 'records from an offset: OFFSET<TAB>TIME<TAB>PAYLOAD lines', args: [1, 1],
    opts: [{ name: 'offset', short: 'o', value: true, arg: 'N', doc: 'first offset (default 0)' }, { name: 'count', short: 'c', value: true, arg: 'N', doc: 'at most N records (default: all there are)' }, ...READ_OPTS],
    async run(ctx, opts, [t], u) {
      const { ns, name } = target(t, opts, 'stream', u);
      const offset = intOpt(opts, 'offset', 0, Number.MAX_SAFE_INTEGER, u) ?? 0;
      const count = intOpt(opts, 'count', 1, 10_000, u);
      const c = makeClient(opts, ctx.env, u);
      if (count !== undefined && !opts.follow) {
        const r = await c.request<{ records: StreamRecord[] }>('GET', s(ns, name), { query: { offset, count } });
        await printRecords(ctx, opts, r.json.records);
        return 0;
      }
      return readLoop(ctx, c, ns, name, offset, opts, u);
    },
  },
  {
    name: 'tail', synopsis: 'tail [NS/]STREAM', doc: 'the last records (-l N, default 10); -F follows like tail -f', args: [1, 1],
    opts: [{ name: 'lines', short: 'l', value: true, arg: 'N', doc: 'start N records before the end (default 10)' }, ...READ_OPTS],
    async run(ctx, opts, [t], u) {
      const { ns, name } = target(t, opts, 'stream', u);
      const n = intOpt(opts, 'lines', 0, 1_000_000, u) ?? 10;
      const c = makeClient(opts, ctx.env, u);
      const info = await c.request<{ first_offset: number; last_offset: number }>('GET', s(ns, name, 'info'));
      const start = Math.max(info.json.first_offset, info.json.last_offset + 1 - n);
      return readLoop(ctx, c, ns, name, start, opts, u);
    },
  },
  {
    name: 'info', synopsis: 'info [NS/]STREAM', doc: 'offsets, record count, consumer groups, retention', opts: [], args: [1, 1],
    async run(ctx, opts, [t], u) {
      const { ns, name } = target(t, opts, 'stream', u);
      const r = await makeClient(opts, ctx.env, u).request<Record<string, unknown>>('GET', s(ns, name, 'info'));
      await write(ctx.stdout, opts.json ? r.text + '\n' : Object.entries(r.json).map(([k, v]) => `${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join('\n') + '\n');
      return 0;
    },
  },
];

interface Series { measurement: string; field: string; tags: Record<string, string>; points: Array<{ timestamp: number; value: number }> }

const TS_SUBS: Sub[] = [
  {
    name: 'write', synopsis: 'write NS (LINE... | - | --file FILE)', doc: 'write points in InfluxDB line protocol; prints how many values were stored', args: [1, 10_000],
    opts: [FILE_OPT, { name: 'precision', short: 'p', value: true, arg: 'ns|us|ms|s', doc: 'timestamp unit of the lines (default ns)' }],
    async run(ctx, opts, [ns, ...lines], u) {
      target(`${ns}/x`, {}, 'namespace', u);
      let text: string;
      if (typeof opts.file === 'string' || (lines.length === 1 && lines[0] === '-')) text = (await payload(ctx, opts, lines[0], u)).toString('utf8');
      else if (lines.length) text = lines.join('\n');
      else throw new UsageError('missing LINE (or - for stdin, or --file FILE)', u);
      const precision = opts.precision as string | undefined;
      if (precision !== undefined && !['ns', 'us', 'ms', 's'].includes(precision)) throw new UsageError('--precision is ns, us, ms or s', u);
      const r = await makeClient(opts, ctx.env, u).request<{ written: number }>('POST', ['api', 'v1', 'ts', ns, 'write'], { text, query: { precision } });
      await write(ctx.stdout, opts.json ? r.text + '\n' : `${r.json.written}\n`);
      return 0;
    },
  },
  {
    name: 'query', synopsis: "query NS 'FLOQL'", doc: 'run a FloQL query (docs/floql.md); one block per series: TIME<TAB>VALUE lines', args: [2, 2],
    opts: [{ name: 'no-rollups', doc: 'read raw points only' }, { name: 'csv', doc: 'one CSV table: series,time,value' }],
    async run(ctx, opts, [ns, query], u) {
      target(`${ns}/x`, {}, 'namespace', u);
      const body: Record<string, unknown> = { query };
      if (opts['no-rollups']) body.rollups = false;
      const r = await makeClient(opts, ctx.env, u).request<{ series: Series[] }>('POST', ['api', 'v1', 'ts', ns, 'query'], { body });
      if (opts.json) { await write(ctx.stdout, r.text + '\n'); return 0; }
      const label = (x: Series) => `${x.measurement}${Object.keys(x.tags ?? {}).length ? `{${Object.entries(x.tags).map(([k, v]) => `${k}=${v}`).join(',')}}` : ''}.${x.field}`;
      const when = (t: number) => new Date(t).toISOString();
      let out = '';
      if (opts.csv) {
        out = 'series,time,value\n' + r.json.series.flatMap((x) => x.points.map((p) => `"${label(x).replace(/"/g, '""')}",${when(p.timestamp)},${p.value}`)).join('\n') + '\n';
      } else {
        out = r.json.series.map((x) => `# ${label(x)}\n${table(x.points.map((p) => ({ t: when(p.timestamp), v: p.value })), [['TIME', (p) => p.t], ['VALUE', (p) => p.v]])}`).join('\n');
        if (!r.json.series.length) await write(ctx.stderr, 'no series\n');
      }
      await write(ctx.stdout, out);
      return 0;
    },
  },
];

export const queueCommand: CommandGroup = makeGroup({ name: 'queue', summary: 'enqueue, dequeue, ack, nack and stats of queues', subs: QUEUE_SUBS, groupOpts: [NS_OPT] });
export const streamCommand: CommandGroup = makeGroup({ name: 'stream', summary: 'append to, read and tail -f streams', subs: STREAM_SUBS, groupOpts: [NS_OPT] });
export const tsCommand: CommandGroup = makeGroup({ name: 'ts', summary: 'write points and run FloQL queries', subs: TS_SUBS });
