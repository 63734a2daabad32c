// The KV store as the data-plane routes see it: the reads (reads.ts) plus writes, which queue
// per partition (group-commit.ts) and commit where the write mode says (write-modes.ts).
// A write is acknowledged only once its transaction is on disk.
import { CoreError } from '../base/errors';
import type { MetaStore } from '../base/namespaces';
import type { PartitionHandles } from '../base/partition';
import { OpKind, ResultKind, type WriteOp, type WriteResult } from '../base/messages';
import { PartitionWriter } from './group-commit';
import { KvReader } from './reads';
import { partitionOf, storageKey } from './record';
import type { RenderCache } from './render-cache';
import type { WriteContext, WriteMode } from './write-modes';

export interface KvOptions {
  /** Writes queued or committing across all partitions before new ones get CORE_OVERLOADED. */
  maxInflight: number;
  /** Writes per transaction at most. */
  maxBatch: number;
  maxValueBytes: number;
}

export interface PutRequest {
  value: Uint8Array;
  ttlSeconds?: number;
  ifNotExists?: boolean;
  casVersion?: number;
}

export type PutOutcome = { ok: true; version: number } | { ok: false; currentVersion: number };
export type DelOutcome = { ok: true; version: number } | { ok: false; notFound: true } | { ok: false; notFound: false; currentVersion: number };

/** A committed KV change, as watchers see it. */
export interface KvChange { namespace: string; key: string; version: number; deleted: boolean; value?: Uint8Array; expiresAt: number }

export interface PartitionStats {
  id: number;
  reads: number;
  writes: number;
  batches: number;
  pending: number;
  inflight: number;
}

export class KvStore extends KvReader {
  /** Called with every committed group's successful changes (WebSocket watchers). */
  readonly listeners = new Set<(changes: KvChange[]) => void>();
  /** Where a throwing change listener is reported (the daemon logs it). */
  onListenerError?: (err: unknown) => void;
  /** Expired records removed by the reaper (reaper.ts). */
  reaped = 0;
  private readonly writers: PartitionWriter[];
  private closed = false;

  constructor(
    namespaces: MetaStore,
    parts: readonly PartitionHandles[],
    cache: RenderCache,
    private readonly mode: WriteMode,
    private readonly ctx: WriteContext,
    readonly opts: KvOptions,
  ) {
    super(namespaces, parts, cache);
    this.writers = parts.map((_, i) => new PartitionWriter(i, this, mode.maxGroups));
  }

  /** Ops queued or committing across all partitions. */
  get inflight(): number {
    let n = 0;
    for (const w of this.writers) n += w.pendingOps + w.inflightOps;
    return n;
  }

  private submit(op: WriteOp): Promise<WriteResult> {
    if (this.closed) return Promise.reject(new CoreError('CORE_CLOSED'));
    if (this.inflight >= this.opts.maxInflight) {
      return Promise.reject(new CoreError('CORE_OVERLOADED', `more than ${this.opts.maxInflight} writes in flight`, { max_inflight: this.opts.maxInflight }));
    }
    const p = partitionOf(op.key, this.parts.length);
    return this.writers[p].submit(op);
  }

  async put(ns: string, key: string, req: PutRequest): Promise<PutOutcome> {
    if (req.value.length > this.opts.maxValueBytes) {
      throw new CoreError('CORE_VALUE_TOO_LARGE', `value is ${req.value.length} bytes; the limit is ${this.opts.maxValueBytes}`, { field: 'value', max_bytes: this.opts.maxValueBytes });
    }
    // Only now may a namespace be auto-created: a rejected request leaves nothing behind.
    this.namespaces.require(ns, true);
    const sk = storageKey(ns, key);
    const ttl = req.ttlSeconds ?? 0;
    const r = await this.submit({
      kind: OpKind.Put,
      key: sk,
      value: req.value,
      expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : 0,
      ifNotExists: req.ifNotExists === true,
      casVersion: req.casVersion ?? -1,
    });
    return r.r === ResultKind.Ok ? { ok: true, version: r.version } : { ok: false, currentVersion: r.version };
  }

  async del(ns: string, key: string, casVersion?: number): Promise<DelOutcome> {
    this.namespaces.require(ns, false);
    const r = await this.submit({ kind: OpKind.Del, key: storageKey(ns, key), casVersion: casVersion ?? -1 });
    if (r.r === ResultKind.Ok) return { ok: true, version: r.version };
    if (r.r === ResultKind.NotFound) return { ok: false, notFound: true };
    return { ok: false, notFound: false, currentVersion: r.version };
  }

  /** Commits one group of partition `p` (called by its writer). */
  commit(p: number, ops: WriteOp[]): Promise<WriteResult[]> {
    return this.mode.commit(this.ctx, p, ops);
  }

  /** A commit (or reap) of partition `p` is on disk: make the main thread's next read see it. */
  afterCommit(p: number): void {
    if (this.mode.poolCommits) this.parts[p].env.resetReadTxn();
  }

  /** Tells the listeners about a committed group's successful changes. */
  emit(ops: WriteOp[], results: WriteResult[]): void {
    const changes: KvChange[] = [];
    for (let i = 0; i < ops.length; i++) {
      if (results[i].r !== ResultKind.Ok) continue;
      const op = ops[i];
      const sep = op.key.indexOf(':');
      const namespace = op.key.slice(0, sep);
      const key = op.key.slice(sep + 1);
      if (op.kind === OpKind.Put) changes.push({ namespace, key, version: results[i].version, deleted: false, value: op.value, expiresAt: op.expiresAt });
      else changes.push({ namespace, key, version: results[i].version, deleted: true, expiresAt: 0 });
    }
    if (!changes.length) return;
    // A listener (e.g. a WebSocket subscription) that throws must not hold up the writes that
    // are already committed: it is reported and the others still run.
    for (const l of this.listeners) {
      try { l(changes); } catch (err) { this.onListenerError?.(err); }
    }
  }

  stats(): PartitionStats[] {
    return this.writers.map((w) => ({ id: w.id, reads: this.reads[w.id], writes: w.writes, batches: w.batches, pending: w.pendingOps, inflight: w.inflightOps }));
  }

  /**
   * Waits (until `deadline`) for queued writes to commit, then refuses new ones with
   * CORE_CLOSED. The partitions stay open: the data plane closes them after the pool.
   */
  async drain(deadline: number): Promise<void> {
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
  }
}
