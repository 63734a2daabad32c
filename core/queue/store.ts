// Durable queues on their own LMDB environment (data/queue.mdb). Every operation that changes
// state runs in one lmdb-js transaction and resolves only after it is flushed to disk, so an
// acknowledged enqueue/ack/nack survives SIGKILL. Delivery is at-least-once: a leased message
// whose visibility timeout passes becomes ready again (with its delivery count kept).
// Expiry is applied by every operation that reads a queue's state (dequeue, ack, nack, stats,
// DLQ listing) before it looks, and by a background sweep, so an expired lease is never acked,
// nacked or counted as leased, whoever asks and whenever.
import type { Database, RootDatabase } from 'lmdb';
import { loadLmdb } from '../../native';

type Key = [string, string, ...Array<number | string>];

export interface QueueMessage {
  seq: number;
  payload: Buffer;
  priority: number;
  enqueued_at: number;
  deliveries: number;
  dedup_key?: string;
}

interface QueueMeta {
  next_seq: number;
  total_enqueued: number;
  total_acked: number;
  ready: number;
  leased: number;
  delayed: number;
  dlq: number;
}

export interface QueueStats {
  name: string;
  ready_count: number;
  leased_count: number;
  delayed_count: number;
  dlq_count: number;
  total_enqueued: number;
  total_acked: number;
}

export interface Leased { seq: number; payload: string; priority: number; delivery_count: number; lease_deadline: number; enqueued_at: number }

export interface QueueOptions {
  maxDeliveries: number;
  dedupWindowMs: number;
  /** How often a background pass expires leases and promotes due delayed messages (0 = only on reads). */
  sweepIntervalMs?: number;
}

const EMPTY = Buffer.alloc(0);

/** Ready-index rank: higher priority first. `0 - p`, never `-p`: -0 encodes apart from 0 in keys. */
const rank = (p: number): number => 0 - p;

export class QueueStore {
  readonly env: RootDatabase;
  private readonly msgs: Database<QueueMessage, Key>;
  /** [ns, q, rank(priority), seq]: ready now, best first. */
  private readonly ready: Database<Buffer, Key>;
  /** [ns, q, visibleAt, seq]: delayed or nacked with a delay. */
  private readonly delayed: Database<Buffer, Key>;
  /** [ns, q, seq] → lease deadline (ms). */
  private readonly leases: Database<number, Key>;
  /** [ns, q, deadline, seq]: leases by deadline, for expiry. */
  private readonly leaseIdx: Database<Buffer, Key>;
  private readonly dedup: Database<{ seq: number; until: number }, Key>;
  private readonly dlq: Database<QueueMessage, Key>;
  private readonly meta: Database<QueueMeta, [string, string]>;
  private readonly waiters = new Map<string, Set<() => void>>();
  private stopping = false;
  private sweeping = false;
  private sweepTimer?: NodeJS.Timeout;
  /** Leases that ran out (released to ready, delayed or the DLQ), for metrics and tests. */
  leasesExpired = 0;

  constructor(path: string, readonly opts: QueueOptions) {
    const { lmdb } = loadLmdb();
    this.env = lmdb.open({ path, overlappingSync: true, compression: false, maxDbs: 12 }) as RootDatabase;
    this.msgs = this.env.openDB({ name: 'msgs', encoding: 'msgpack' });
    this.ready = this.env.openDB({ name: 'ready', encoding: 'binary' });
    this.delayed = this.env.openDB({ name: 'delayed', encoding: 'binary' });
    this.leases = this.env.openDB({ name: 'leases', encoding: 'msgpack' });
    this.leaseIdx = this.env.openDB({ name: 'lease_idx', encoding: 'binary' });
    this.dedup = this.env.openDB({ name: 'dedup', encoding: 'msgpack' });
    this.dlq = this.env.openDB({ name: 'dlq', encoding: 'msgpack' });
    this.meta = this.env.openDB({ name: 'meta', encoding: 'msgpack' });
    if ((opts.sweepIntervalMs ?? 0) > 0) {
      this.sweepTimer = setInterval(() => void this.sweep().catch(() => {}), opts.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  private metaOf(ns: string, q: string): QueueMeta {
    return this.meta.get([ns, q]) ?? { next_seq: 1, total_enqueued: 0, total_acked: 0, ready: 0, leased: 0, delayed: 0, dlq: 0 };
  }

  /** Enqueue; a dedup_key seen within the dedup window returns the original sequence. */
  async enqueue(ns: string, q: string, m: { payload: Buffer; priority?: number; delayMs?: number; dedupKey?: string }): Promise<{ seq: number; duplicate: boolean }> {
    const out = await this.env.transaction(() => {
      const now = Date.now();
      if (m.dedupKey !== undefined) {
        const d = this.dedup.get([ns, q, m.dedupKey]);
        if (d && d.until > now) return { seq: d.seq, duplicate: true };
      }
      const meta = this.metaOf(ns, q);
      const seq = meta.next_seq++;
      const priority = m.priority ?? 0;
      this.msgs.putSync([ns, q, seq], { seq, payload: m.payload, priority, enqueued_at: now, deliveries: 0, dedup_key: m.dedupKey });
      if (m.delayMs && m.delayMs > 0) { this.delayed.putSync([ns, q, now + m.delayMs, seq], EMPTY); meta.delayed++; }
      else { this.ready.putSync([ns, q, rank(priority), seq], EMPTY); meta.ready++; }
      if (m.dedupKey !== undefined) this.dedup.putSync([ns, q, m.dedupKey], { seq, until: now + this.opts.dedupWindowMs });
      meta.total_enqueued++;
      this.meta.putSync([ns, q], meta);
      return { seq, duplicate: false };
    });
    if (!out.duplicate) this.wake(ns, q);
    return out;
  }

  /** Moves due delayed messages and expired leases back to ready; inside a write transaction. Returns how many moved. */
  private promote(ns: string, q: string, meta: QueueMeta, now: number): number {
    let moved = 0;
    for (const k of this.delayed.getKeys({ start: [ns, q], end: [ns, q, now, Number.MAX_SAFE_INTEGER] })) {
      const seq = k[3] as number;
      this.delayed.removeSync(k);
      const msg = this.msgs.get([ns, q, seq]);
      meta.delayed--;
      moved++;
      if (!msg) continue;
      this.ready.putSync([ns, q, rank(msg.priority), seq], EMPTY);
      meta.ready++;
    }
    for (const k of this.leaseIdx.getKeys({ start: [ns, q], end: [ns, q, now, Number.MAX_SAFE_INTEGER] })) {
      const seq = k[3] as number;
      this.leaseIdx.removeSync(k);
      this.leases.removeSync([ns, q, seq]);
      meta.leased--;
      this.leasesExpired++;
      moved++;
      this.release(ns, q, seq, meta, now, 0);
    }
    return moved;
  }

  /** Earliest time (ms) a delayed message or a lease of this queue comes due; Infinity when none. */
  private nextDue(ns: string, q: string): number {
    let due = Infinity;
    for (const k of this.delayed.getKeys({ start: [ns, q], end: [ns, q, Number.MAX_SAFE_INTEGER], limit: 1 })) due = Math.min(due, k[2] as number);
    for (const k of this.leaseIdx.getKeys({ start: [ns, q], end: [ns, q, Number.MAX_SAFE_INTEGER], limit: 1 })) due = Math.min(due, k[2] as number);
    return due;
  }

  /**
   * Applies expiry to one queue before a read: when a lease or delayed message is due, one
   * transaction releases it (and wakes long polls). Nothing due costs two index lookups and no write.
   */
  async expire(ns: string, q: string): Promise<number> {
    if (this.nextDue(ns, q) > Date.now()) return 0;
    const moved = await this.env.transaction(() => {
      const meta = this.metaOf(ns, q);
      const n = this.promote(ns, q, meta, Date.now());
      if (n) this.meta.putSync([ns, q], meta);
      return n;
    });
    if (moved) this.wake(ns, q);
    return moved;
  }

  /** One background pass over every queue (queue.lease_sweep_interval_ms). Returns entries moved. */
  async sweep(): Promise<number> {
    if (this.sweeping || this.stopping) return 0;
    this.sweeping = true;
    let total = 0;
    try {
      // Keys first: no read cursor is held across the awaits below.
      for (const [ns, q] of [...this.meta.getKeys({})]) {
        if (this.stopping) break;
        total += await this.expire(ns, q);
      }
    } finally {
      this.sweeping = false;
    }
    return total;
  }

  /** A leased message goes back to ready (or delayed), or to the DLQ past max deliveries. */
  private release(ns: string, q: string, seq: number, meta: QueueMeta, now: number, delayMs: number): void {
    const msg = this.msgs.get([ns, q, seq]);
    if (!msg) return;
    if (msg.deliveries >= this.opts.maxDeliveries) {
      this.msgs.removeSync([ns, q, seq]);
      this.dlq.putSync([ns, q, seq], msg);
      meta.dlq++;
      return;
    }
    if (delayMs > 0) { this.delayed.putSync([ns, q, now + delayMs, seq], EMPTY); meta.delayed++; }
    else { this.ready.putSync([ns, q, rank(msg.priority), seq], EMPTY); meta.ready++; }
  }

  /** Leases up to `count` messages for `visibilityMs`; waits up to `waitMs` for the first one. */
  async dequeue(ns: string, q: string, count: number, visibilityMs: number, waitMs = 0, signal?: AbortSignal): Promise<Leased[]> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const got = await this.env.transaction(() => {
        const now = Date.now();
        const meta = this.metaOf(ns, q);
        this.promote(ns, q, meta, now);
        const out: Leased[] = [];
        for (const k of this.ready.getKeys({ start: [ns, q], end: [ns, q, Number.MAX_SAFE_INTEGER] })) {
          if (out.length >= count) break;
          const seq = k[3] as number;
          this.ready.removeSync(k);
          meta.ready--;
          const msg = this.msgs.get([ns, q, seq]);
          if (!msg) continue;
          msg.deliveries++;
          const until = now + visibilityMs;
          this.msgs.putSync([ns, q, seq], msg);
          this.leases.putSync([ns, q, seq], until);
          this.leaseIdx.putSync([ns, q, until, seq], EMPTY);
          meta.leased++;
          out.push({ seq, payload: msg.payload.toString('base64'), priority: msg.priority, delivery_count: msg.deliveries, lease_deadline: until, enqueued_at: msg.enqueued_at });
        }
        this.meta.putSync([ns, q], meta);
        return out;
      });
      if (got.length > 0 || Date.now() >= deadline || signal?.aborted || this.stopping) return got;
      await this.waitFor(ns, q, Math.min(deadline - Date.now(), this.nextDueIn(ns, q)), signal);
    }
  }

  /** Milliseconds until the next delayed message or lease comes due (capped). */
  private nextDueIn(ns: string, q: string): number {
    return Math.max(1, Math.min(1000, this.nextDue(ns, q) - Date.now()));
  }

  private waitFor(ns: string, q: string, ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const key = `${ns}\u0000${q}`;
      let set = this.waiters.get(key);
      if (!set) this.waiters.set(key, (set = new Set()));
      const done = () => { clearTimeout(timer); set!.delete(done); signal?.removeEventListener('abort', done); resolve(); };
      const timer = setTimeout(done, Math.max(1, ms));
      set.add(done);
      signal?.addEventListener('abort', done);
    });
  }

  private wake(ns: string, q: string): void {
    const set = this.waiters.get(`${ns}\u0000${q}`);
    if (set) for (const w of [...set]) w();
  }

  /** Ends the leases of `seqs` inside a write transaction, calling `then` for each leased one. */
  private endLeases(ns: string, q: string, seqs: number[], meta: QueueMeta, then: (seq: number) => void): { done: number[]; notFound: number[] } {
    const done: number[] = [];
    const notFound: number[] = [];
    for (const seq of seqs) {
      const until = this.leases.get([ns, q, seq]);
      if (until === undefined) { notFound.push(seq); continue; }
      this.leases.removeSync([ns, q, seq]);
      this.leaseIdx.removeSync([ns, q, until, seq]);
      meta.leased--;
      then(seq);
      done.push(seq);
    }
    return { done, notFound };
  }

  /**
   * Acks leased sequences; unknown or not-leased ones are reported, not ignored. A lease that
   * ran out is expired first, so its sequence is not_found (it went back to the queue).
   */
  async ack(ns: string, q: string, seqs: number[]): Promise<{ acked: number[]; not_found: number[] }> {
    let moved = 0;
    const out = await this.env.transaction(() => {
      const meta = this.metaOf(ns, q);
      moved = this.promote(ns, q, meta, Date.now());
      const r = this.endLeases(ns, q, seqs, meta, (seq) => {
        this.msgs.removeSync([ns, q, seq]);
        meta.total_acked++;
      });
      this.meta.putSync([ns, q], meta);
      return { acked: r.done, not_found: r.notFound };
    });
    if (moved) this.wake(ns, q);
    return out;
  }

  /** Releases leased sequences now (or after `delayMs`); expired leases are not_found, as for ack. */
  async nack(ns: string, q: string, seqs: number[], delayMs = 0): Promise<{ released: number[]; not_found: number[] }> {
    let moved = 0;
    const out = await this.env.transaction(() => {
      const now = Date.now();
      const meta = this.metaOf(ns, q);
      moved = this.promote(ns, q, meta, now);
      const r = this.endLeases(ns, q, seqs, meta, (seq) => this.release(ns, q, seq, meta, now, delayMs));
      this.meta.putSync([ns, q], meta);
      return { released: r.done, not_found: r.notFound };
    });
    if (out.released.length || moved) this.wake(ns, q);
    return out;
  }

  async stats(ns: string, q: string): Promise<QueueStats> {
    await this.expire(ns, q);
    const m = this.metaOf(ns, q);
    return { name: q, ready_count: m.ready, leased_count: m.leased, delayed_count: m.delayed, dlq_count: m.dlq, total_enqueued: m.total_enqueued, total_acked: m.total_acked };
  }

  async listDlq(ns: string, q: string, limit: number): Promise<Array<{ seq: number; payload: string; priority: number; delivery_count: number; enqueued_at: number }>> {
    await this.expire(ns, q); // an expired lease past max deliveries belongs in the list
    const out = [];
    for (const { value } of this.dlq.getRange({ start: [ns, q], end: [ns, q, Number.MAX_SAFE_INTEGER], limit })) {
      out.push({ seq: value.seq, payload: value.payload.toString('base64'), priority: value.priority, delivery_count: value.deliveries, enqueued_at: value.enqueued_at });
    }
    return out;
  }

  /** Moves DLQ messages (all, or the given sequences) back to the queue with fresh delivery counts. */
  async redrive(ns: string, q: string, seqs?: number[]): Promise<{ redriven: number[] }> {
    const out = await this.env.transaction(() => {
      const meta = this.metaOf(ns, q);
      this.promote(ns, q, meta, Date.now()); // expired leases past max deliveries are dead letters now
      const keys: Key[] = seqs ? seqs.map((s) => [ns, q, s] as Key) : [...this.dlq.getKeys({ start: [ns, q], end: [ns, q, Number.MAX_SAFE_INTEGER] })];
      const redriven: number[] = [];
      for (const k of keys) {
        const msg = this.dlq.get(k);
        if (!msg) continue;
        this.dlq.removeSync(k);
        meta.dlq--;
        msg.deliveries = 0;
        this.msgs.putSync(k, msg);
        this.ready.putSync([ns, q, rank(msg.priority), msg.seq], EMPTY);
        meta.ready++;
        redriven.push(msg.seq);
      }
      this.meta.putSync([ns, q], meta);
      return { redriven };
    });
    if (out.redriven.length) this.wake(ns, q);
    return out;
  }

  /** Ends every long poll now (they answer with what they have): called when draining. */
  interrupt(): void {
    this.stopping = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const set of this.waiters.values()) for (const w of [...set]) w();
  }

  async close(): Promise<void> {
    this.interrupt();
    await this.env.close();
  }
}
