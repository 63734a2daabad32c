// The agent's durable tunnel state (data_dir/agent/tunnel.mdb, LMDB):
// - outbox: numbered frames (results, events) not yet acked by the admin, keyed by seq; the
//   sequence keeps growing across restarts, so what queued while offline or before a crash is
//   re-sent in order once the admin is reachable;
// - deliveries: the admin's execution ids this agent has taken, with the local execution they
//   became, so a re-sent CommandDeliver is recognised and never runs twice.
// Every write resolves only once its transaction is on disk. (test/helpers/memory-tunnel-store.ts
// has the same behaviour without disk, for simulated agents in tests and the benchmark.)
import fs from 'node:fs';
import path from 'node:path';
import type { Database, RootDatabase } from 'lmdb';
import { loadLmdb } from '../../../native';
import { encodeEnvelope, type ReliableBody } from '../../tunnel/schema';

export interface DeliveryRecord {
  /** What the delivery became locally (the command runner's execution id), if anything. */
  ref: string | null;
  /** The result is in the outbox: nothing more to report. */
  done: boolean;
  at: number;
}

export interface TunnelStore {
  /** Frames waiting for an ack. */
  readonly pending: number;
  /** Appends a numbered frame; resolves with its encoded bytes once durable. */
  append(body: ReliableBody): Promise<{ seq: number; frame: Uint8Array }>;
  /** Unacked frames in seq order. */
  unacked(): Iterable<{ seq: number; frame: Uint8Array }>;
  /** Drops every frame up to `seq` (cumulative ack). */
  ackUpTo(seq: number): Promise<void>;
  delivery(executionId: string): DeliveryRecord | undefined;
  putDelivery(executionId: string, r: DeliveryRecord): Promise<void>;
  deliveries(): Iterable<{ id: string; rec: DeliveryRecord }>;
  close(): Promise<void>;
}

/** Delivery records older than this are forgotten at open (the admin expires executions long before). */
const DELIVERY_KEEP_MS = 7 * 24 * 3600_000;

export class LmdbTunnelStore implements TunnelStore {
  private readonly env: RootDatabase;
  private readonly outbox: Database<Buffer, number>;
  private readonly deliv: Database<DeliveryRecord, string>;
  private readonly meta: Database<number, string>;
  private lastSeq = 0;
  pending = 0;

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    const { lmdb } = loadLmdb();
    this.env = lmdb.open({ path: file, overlappingSync: true, compression: false, maxDbs: 4 }) as RootDatabase;
    this.outbox = this.env.openDB({ name: 'outbox', encoding: 'binary' });
    this.deliv = this.env.openDB({ name: 'deliveries', encoding: 'msgpack' });
    this.meta = this.env.openDB<number, string>({ name: 'meta', encoding: 'msgpack' });
    for (const k of this.outbox.getKeys({ reverse: true, limit: 1 })) this.lastSeq = k;
    // The last seq is kept apart too: an empty outbox must not restart numbering at 1.
    this.lastSeq = Math.max(this.lastSeq, this.meta.get('last_seq') ?? 0);
    this.pending = this.outbox.getCount();
    const old = Date.now() - DELIVERY_KEEP_MS;
    const stale: string[] = [];
    for (const { key, value } of this.deliv.getRange()) if (value.done && value.at < old) stale.push(key);
    if (stale.length) void this.env.transaction(() => { for (const k of stale) this.deliv.removeSync(k); });
  }

  async append(body: ReliableBody): Promise<{ seq: number; frame: Uint8Array }> {
    const seq = ++this.lastSeq;
    const frame = encodeEnvelope({ ...body, seq });
    await this.env.transaction(() => {
      this.outbox.putSync(seq, Buffer.from(frame));
      this.meta.putSync('last_seq', seq);
    });
    this.pending++;
    return { seq, frame };
  }

  *unacked(): Iterable<{ seq: number; frame: Uint8Array }> {
    for (const { key, value } of this.outbox.getRange()) yield { seq: key, frame: value };
  }

  async ackUpTo(seq: number): Promise<void> {
    const keys = [...this.outbox.getKeys({ end: seq + 1 })];
    if (!keys.length) return;
    const removed = await this.env.transaction(() => {
      let n = 0;
      for (const k of keys) if (this.outbox.removeSync(k)) n++;
      return n;
    });
    this.pending -= removed;
  }

  delivery(id: string): DeliveryRecord | undefined { return this.deliv.get(id); }

  async putDelivery(id: string, r: DeliveryRecord): Promise<void> { await this.deliv.put(id, r); }

  *deliveries(): Iterable<{ id: string; rec: DeliveryRecord }> {
    for (const { key, value } of this.deliv.getRange()) yield { id: key, rec: value };
  }

  async close(): Promise<void> { await this.env.close(); }
}
