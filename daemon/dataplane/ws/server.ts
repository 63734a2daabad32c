// GET /api/v1/ws: live subscriptions over one WebSocket, JSON text frames.
//   → {"op":"subscribe","id":"s1","type":"stream","namespace":"app","stream":"events","offset":0}
//   → {"op":"subscribe","id":"s2","type":"kv","namespace":"app","prefix":"user:"}
//   → {"op":"subscribe","id":"s3","type":"queue","namespace":"app","queue":"jobs","credit":10,"visibility_timeout_ms":30000}
//   → {"op":"subscribe","id":"s4","type":"ts","namespace":"m","selector":"cpu{host=web-01}"}
//   → {"op":"subscribe","id":"s5","type":"command_output","execution_id":"…"}   (MASTER_KEY only; a feed: ./feeds.ts)
//   → {"op":"credit","id":"s3","n":5}   {"op":"ack","id":"s3","sequences":[1,2]}   {"op":"unsubscribe","id":"s1"}
//   ← {"type":"subscribed","id"} {"type":"record",…} {"type":"kv",…} {"type":"message",…} {"type":"point",…} {"type":"error",…}
//     {"type":"command_output","id","execution_id","data"} {"type":"command_status","id","execution_id","status","exit_code","final","execution"}
// Backpressure: stream tails pause above HIGH_WATER buffered bytes and resume on drain; queue
// pushes never exceed the credit the client granted; event feeds that cannot pause (kv, ts,
// command output) close the socket with 4008 "slow consumer" when a frame would take the
// buffered bytes past MAX_BACKPRESSURE. That limit is ours, checked before each send: uWS's own
// maxBackpressure sits well above it, because uWS drops every send over its limit — the close
// frame included — and the client then only ever sees 1006 (no close frame) once uWS times the
// socket out.
import type { WebSocket } from '@trufflesuite/uws-js-unofficial';
import { NAMESPACE_RE, type KvChange, type KvStore, type Namespaces } from '../../../core';
import type { QueueStore } from '../../../core/queue';
import type { StreamStore } from '../../../core/stream';
import { FloQLError, matches, parseFloQL, type FloQuery, type TsStore } from '../../../core/ts';
import type { Point } from '../../../core/ts/line-protocol';
import type { HttpServer, Scope } from '../../http';
import { err } from '../../http/error-body';
import type { Logger } from '../../base/log';
import { ProtocolError, type FeedSink, type WsFeed } from './feeds';

export const HIGH_WATER = 256 * 1024;
export const MAX_BACKPRESSURE = 4 * 1024 * 1024;
/** uWS's hard limit: room above ours for the frame that crosses it (sent when nothing is buffered) and the close frame. */
const UWS_MAX_BACKPRESSURE = 4 * MAX_BACKPRESSURE;
export const CLOSE_SLOW_CONSUMER = 4008;

type Sub =
  | { type: 'stream'; ns: string; stream: string; next: number; pumping: boolean; paused: boolean }
  | { type: 'kv'; ns: string; prefix: string }
  | { type: 'queue'; ns: string; queue: string; credit: number; vis: number; busy: boolean; ac: AbortController }
  | { type: 'ts'; ns: string; q: FloQuery }
  | { type: 'feed'; unsubscribe: () => void };

interface Conn { subs: Map<string, Sub>; open: boolean; ws?: WebSocket<Conn>; scope: Scope }

export interface WsDeps {
  http: HttpServer; kv: KvStore; namespaces: Namespaces; streams: StreamStore; queues: QueueStore; ts: TsStore; log: Logger;
  /** Subscription types served by other features (command output). */
  feeds?: WsFeed[];
}

const OWN_TYPES = ['stream', 'kv', 'queue', 'ts'];

export class WsHub {
  readonly conns = new Set<Conn>();
  private readonly feeds = new Map<string, WsFeed>();
  /** "stream, kv, queue, ts or command_output": the types this socket serves, for the error message. */
  private readonly typeList: string;

  constructor(private readonly d: WsDeps) {
    for (const f of d.feeds ?? []) {
      if (OWN_TYPES.includes(f.type) || this.feeds.has(f.type)) throw new Error(`websocket feed type ${f.type} is already served`);
      this.feeds.set(f.type, f);
    }
    const types = [...OWN_TYPES, ...this.feeds.keys()];
    this.typeList = `${types.slice(0, -1).join(', ')} or ${types[types.length - 1]}`;
    d.kv.listeners.add((changes) => this.onKv(changes));
    d.streams.appendListeners.add((ns, s) => this.onAppend(ns, s));
    d.ts.writeListeners.add((ns, points) => this.onPoints(ns, points));
    d.http.ws<Conn>({
      path: '/api/v1/ws', auth: 'api', queryToken: true, tags: ['websocket'], operationId: 'openWebSocket',
      summary: 'Upgrade to a WebSocket for live subscriptions (stream tail, KV watch, queue push with credits, time-series points, command output); JSON text frames, see docs/ws.md',
      query: { type: 'object', properties: { token: { type: 'string', description: 'bearer token for clients that cannot set headers' } } },
      responses: { 101: { description: 'switching protocols' }, 401: err('missing or invalid bearer token'), 503: { description: 'not serving' } },
      maxPayloadLength: 1 << 20,
      maxBackpressure: UWS_MAX_BACKPRESSURE,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      // Without keys every local client has every scope, as over HTTP.
      upgrade: (req): Conn => ({ subs: new Map(), open: true, scope: req.scope === 'none' ? 'master' : req.scope }),
      open: (ws) => { const c = ws.getUserData(); c.ws = ws; this.conns.add(c); },
      message: (ws, msg, isBinary) => this.onMessage(ws.getUserData(), msg, isBinary),
      drain: (ws) => this.onDrain(ws.getUserData()),
      close: (ws) => this.onClose(ws.getUserData()),
    });
  }

  private send(c: Conn, obj: unknown): boolean {
    if (!c.open || !c.ws) return false;
    const frame = JSON.stringify(obj);
    if (!this.fits(c, frame.length)) return false;
    // 0 = buffered (backpressure), 1 = sent, 2 = dropped (over uWS's maxBackpressure).
    const r = c.ws.send(frame, false);
    if (r === 2) { this.kick(c); return false; }
    return true;
  }

  /**
   * False (and the socket closed with 4008) when a frame of about `bytes` would take a consumer
   * that is already behind past MAX_BACKPRESSURE. A frame sent with nothing buffered always goes.
   */
  private fits(c: Conn, bytes: number): boolean {
    const buffered = c.ws!.getBufferedAmount();
    if (buffered === 0 || buffered + bytes <= MAX_BACKPRESSURE) return true;
    this.kick(c);
    return false;
  }

  private sendBinary(c: Conn, buf: Uint8Array): void {
    if (!c.open || !c.ws) return; // closed while the batch ran: its writes stand, the answer is dropped
    if (!this.fits(c, buf.byteLength)) return;
    // Outside a uWS callback: cork so the frame goes out in one write.
    let status = 0;
    c.ws.cork(() => { status = c.ws!.send(buf, true); });
    if (status === 2) this.kick(c);
  }

  private kick(c: Conn): void {
    if (!c.open || !c.ws) return;
    this.d.log.warn({ buffered: c.ws.getBufferedAmount() }, 'websocket consumer too slow: closing');
    // The close frame is queued behind the unread data (below uWS's limit, so it is not dropped):
    // a client that reads again gets everything sent so far, then 4008.
    c.ws.end(CLOSE_SLOW_CONSUMER, 'slow consumer: more than 4 MiB unread');
  }

  private onMessage(c: Conn, msg: ArrayBuffer, isBinary: boolean): void {
    if (isBinary) {
      // The protobuf batch protocol (batch.proto). uWS reuses `msg` after this call: copy it.
      const frame = Buffer.from(new Uint8Array(msg));
      // Loaded on the first binary frame: protobufjs and the schema cost ~2 MB that an idle
      // daemon (or one that only speaks JSON) does not need.
      const { handleBatch, badFrame } = require('./batch') as typeof import('./batch');
      void handleBatch(frame, this.d).then(
        (out) => this.sendBinary(c, out),
        (e) => { this.d.log.error({ err: e }, 'websocket batch failed'); this.sendBinary(c, badFrame(`batch failed: ${(e as Error).message}`)); },
      ).catch((e) => this.d.log.error({ err: e }, 'websocket batch answer failed'));
      return;
    }
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(Buffer.from(msg).toString('utf8')) as Record<string, unknown>;
      if (!m || typeof m !== 'object') throw new Error('not an object');
    } catch (e) {
      this.send(c, { type: 'error', error: 'bad_request', message: `frame is not a JSON object: ${(e as Error).message}` });
      return;
    }
    const id = typeof m.id === 'string' ? m.id : undefined;
    try {
      if (!id) throw new ProtocolError('bad_request', 'field id (string) is required');
      switch (m.op) {
        case 'subscribe': this.subscribe(c, id, m); break;
        case 'unsubscribe': this.drop(c, id); this.send(c, { type: 'unsubscribed', id }); break;
        case 'credit': this.credit(c, id, m); break;
        case 'ack': this.ack(c, id, m).catch((e) => this.send(c, { type: 'error', id, error: 'internal', message: (e as Error).message })); break;
        default: throw new ProtocolError('bad_request', 'field op must be subscribe, unsubscribe, credit or ack');
      }
    } catch (e) {
      const pe = e instanceof ProtocolError ? e : new ProtocolError(((e as { code?: string }).code?.startsWith('CORE_NAMESPACE_NOT_FOUND') ? 'not_found' : 'bad_request'), (e as Error).message);
      this.send(c, { type: 'error', id, error: pe.code, message: pe.message });
    }
  }

  private name(m: Record<string, unknown>, field: string): string {
    const v = m[field];
    if (typeof v !== 'string' || !NAMESPACE_RE.test(v)) throw new ProtocolError('bad_request', `field ${field} must match ${NAMESPACE_RE.source}`);
    return v;
  }

  private subscribe(c: Conn, id: string, m: Record<string, unknown>): void {
    if (c.subs.has(id)) throw new ProtocolError('conflict', `subscription ${id} already exists`);
    const feed = typeof m.type === 'string' ? this.feeds.get(m.type) : undefined;
    if (feed) { this.subscribeFeed(c, id, m, feed); return; }
    const ns = this.name(m, 'namespace');
    this.d.namespaces.require(ns, false);
    switch (m.type) {
      case 'stream': {
        const stream = this.name(m, 'stream');
        const offset = m.offset === undefined ? this.d.streams.info(ns, stream).last_offset + 1 : Number(m.offset);
        if (!Number.isInteger(offset) || offset < 0) throw new ProtocolError('bad_request', 'field offset must be a non-negative integer (omit it to start at the end)');
        const sub: Sub = { type: 'stream', ns, stream, next: offset, pumping: false, paused: false };
        c.subs.set(id, sub);
        this.send(c, { type: 'subscribed', id });
        this.pumpStream(c, id, sub);
        return;
      }
      case 'kv': {
        const prefix = m.prefix === undefined ? '' : m.prefix;
        if (typeof prefix !== 'string') throw new ProtocolError('bad_request', 'field prefix must be a string');
        c.subs.set(id, { type: 'kv', ns, prefix });
        this.send(c, { type: 'subscribed', id });
        return;
      }
      case 'queue': {
        const queue = this.name(m, 'queue');
        const credit = m.credit === undefined ? 1 : Number(m.credit);
        const vis = m.visibility_timeout_ms === undefined ? 30000 : Number(m.visibility_timeout_ms);
        if (!Number.isInteger(credit) || credit < 0 || credit > 1000) throw new ProtocolError('bad_request', 'field credit must be an integer 0..1000');
        if (!Number.isInteger(vis) || vis < 1) throw new ProtocolError('bad_request', 'field visibility_timeout_ms must be a positive integer');
        const sub: Sub = { type: 'queue', ns, queue, credit, vis, busy: false, ac: new AbortController() };
        c.subs.set(id, sub);
        this.send(c, { type: 'subscribed', id });
        void this.pumpQueue(c, id, sub);
        return;
      }
      case 'ts': {
        if (typeof m.selector !== 'string') throw new ProtocolError('bad_request', 'field selector must be a FloQL selector such as cpu{host=web-01}');
        let q: FloQuery;
        try { q = parseFloQL(m.selector); } catch (e) {
          if (e instanceof FloQLError) throw new ProtocolError('bad_request', `selector ${e.message}`);
          throw e;
        }
        c.subs.set(id, { type: 'ts', ns, q });
        this.send(c, { type: 'subscribed', id });
        return;
      }
      default:
        throw new ProtocolError('bad_request', `field type must be ${this.typeList}`);
    }
  }

  /** A subscription served by a feed (command output); it may end on its own (final frame). */
  private subscribeFeed(c: Conn, id: string, m: Record<string, unknown>, feed: WsFeed): void {
    // A feed may deliver frames synchronously inside subscribe() (the output so far, the current
    // state): hold those until `subscribed` is sent (a refused subscription gets only the error).
    const sub: Sub = { type: 'feed', unsubscribe: () => {} };
    let early: object[] | undefined = [];
    let ended = false;
    const sink: FeedSink = {
      id,
      scope: c.scope,
      send: (f) => {
        if (early) early.push(f);
        else if (c.subs.get(id) === sub) this.send(c, f);
      },
      end: () => {
        ended = true;
        if (!early && c.subs.get(id) === sub) c.subs.delete(id);
      },
    };
    sub.unsubscribe = feed.subscribe(m, sink);
    c.subs.set(id, sub);
    this.send(c, { type: 'subscribed', id });
    const frames = early;
    early = undefined;
    for (const f of frames) this.send(c, f);
    if (ended) c.subs.delete(id);
  }

  private drop(c: Conn, id: string): void {
    const s = c.subs.get(id);
    if (s?.type === 'queue') s.ac.abort();
    if (s?.type === 'feed') s.unsubscribe();
    c.subs.delete(id);
  }

  private credit(c: Conn, id: string, m: Record<string, unknown>): void {
    const s = c.subs.get(id);
    if (!s || s.type !== 'queue') throw new ProtocolError('not_found', `no queue subscription ${id}`);
    const n = Number(m.n);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new ProtocolError('bad_request', 'field n must be an integer 1..1000');
    s.credit = Math.min(10000, s.credit + n);
    void this.pumpQueue(c, id, s);
  }

  private async ack(c: Conn, id: string, m: Record<string, unknown>): Promise<void> {
    const s = c.subs.get(id);
    if (!s || s.type !== 'queue') { this.send(c, { type: 'error', id, error: 'not_found', message: `no queue subscription ${id}` }); return; }
    const seqs = m.sequences;
    if (!Array.isArray(seqs) || !seqs.length || !seqs.every((x) => Number.isInteger(x) && x > 0)) {
      this.send(c, { type: 'error', id, error: 'bad_request', message: 'field sequences must be a non-empty array of positive integers' });
      return;
    }
    const r = await this.d.queues.ack(s.ns, s.queue, seqs as number[]);
    this.send(c, { type: 'acked', id, ...r });
  }

  /** Sends stored records from sub.next until caught up or the socket's buffer is high. */
  private pumpStream(c: Conn, id: string, sub: Extract<Sub, { type: 'stream' }>): void {
    if (sub.pumping || !c.open) return;
    sub.pumping = true;
    try {
      for (;;) {
        if (c.subs.get(id) !== sub || !c.open) return;
        if (c.ws!.getBufferedAmount() > HIGH_WATER) { sub.paused = true; return; }
        const r = this.d.streams.read(sub.ns, sub.stream, sub.next, 256);
        if (!r.records.length) return;
        // Stop inside the page too once the socket is behind: 256 big records would otherwise
        // run past MAX_BACKPRESSURE and close a tail that is supposed to pause.
        let next = r.next_offset;
        c.ws!.cork(() => {
          for (const rec of r.records) {
            if (c.ws!.getBufferedAmount() > HIGH_WATER) { next = rec.offset; break; }
            this.send(c, { type: 'record', id, offset: rec.offset, timestamp: rec.timestamp, payload: rec.payload });
          }
        });
        sub.next = next;
      }
    } finally {
      sub.pumping = false;
    }
  }

  private async pumpQueue(c: Conn, id: string, sub: Extract<Sub, { type: 'queue' }>): Promise<void> {
    if (sub.busy) return;
    sub.busy = true;
    try {
      while (c.open && c.subs.get(id) === sub && sub.credit > 0) {
        const got = await this.d.queues.dequeue(sub.ns, sub.queue, sub.credit, sub.vis, 20_000, sub.ac.signal);
        if (!c.open || c.subs.get(id) !== sub) return; // leases expire and the messages return
        sub.credit -= got.length;
        for (const m of got) this.send(c, { type: 'message', id, sequence: m.seq, payload: m.payload, priority: m.priority, delivery_count: m.delivery_count, lease_deadline: m.lease_deadline });
      }
    } catch (e) {
      this.send(c, { type: 'error', id, error: 'internal', message: (e as Error).message });
    } finally {
      sub.busy = false;
    }
  }

  private onAppend(ns: string, stream: string): void {
    for (const c of this.conns) for (const [id, s] of c.subs) {
      if (s.type === 'stream' && !s.paused && s.ns === ns && s.stream === stream) this.pumpStream(c, id, s);
    }
  }

  private onKv(changes: KvChange[]): void {
    for (const c of this.conns) for (const [id, s] of c.subs) {
      if (s.type !== 'kv') continue;
      for (const ch of changes) {
        if (ch.namespace !== s.ns || !ch.key.startsWith(s.prefix)) continue;
        this.send(c, { type: 'kv', id, key: ch.key, version: ch.version, deleted: ch.deleted, ...(ch.deleted ? {} : { value: Buffer.from(ch.value!).toString('base64') }) });
      }
    }
  }

  private onPoints(ns: string, points: Point[]): void {
    for (const c of this.conns) for (const [id, s] of c.subs) {
      if (s.type !== 'ts' || s.ns !== ns) continue;
      for (const p of points) {
        if (p.measurement !== s.q.measurement) continue;
        if (!s.q.matchers.every((m) => matches(m, p.tags))) continue;
        const fields = s.q.field === undefined ? p.fields : (Object.hasOwn(p.fields, s.q.field) ? { [s.q.field]: p.fields[s.q.field] } : undefined);
        if (fields) this.send(c, { type: 'point', id, measurement: p.measurement, tags: p.tags, fields, timestamp: p.timestamp });
      }
    }
  }

  private onDrain(c: Conn): void {
    if (!c.ws || c.ws.getBufferedAmount() > HIGH_WATER) return;
    // Pump on the next turn, not inside uWS's writable callback: frames written from inside it
    // that do not fit the socket were left buffered with no further writable (drain) event, and
    // the tail stalled for good (seen with 512 KiB records: test/ws.test.ts).
    for (const [id, s] of c.subs) {
      if (s.type === 'stream' && s.paused) { s.paused = false; setImmediate(() => this.pumpStream(c, id, s)); }
    }
  }

  private onClose(c: Conn): void {
    c.open = false;
    for (const id of [...c.subs.keys()]) this.drop(c, id);
    this.conns.delete(c);
  }

  /** Closes every socket (draining). */
  closeAll(): void {
    for (const c of [...this.conns]) c.ws?.end(1001, 'server shutting down');
  }
}
