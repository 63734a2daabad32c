// Group commit, one writer per partition: every write that arrives in one event-loop turn for a
// partition commits in one LMDB transaction (one fdatasync), handed to the write mode.
import { CoreError } from '../base/errors';
import type { WriteOp, WriteResult } from '../base/messages';
import type { KvStore } from './store';

interface Waiter { resolve(r: WriteResult): void; reject(e: unknown): void }

export class PartitionWriter {
  writes = 0;
  batches = 0;
  inflightOps = 0;
  private pending: WriteOp[] = [];
  private waiters: Waiter[] = [];
  private groupsInFlight = 0;
  private scheduled = false;

  /** @param maxGroups groups committing at once (the write mode's maxGroups). */
  constructor(
    readonly id: number,
    private readonly store: KvStore,
    private readonly maxGroups: number,
  ) {}

  get pendingOps(): number { return this.pending.length; }

  submit(op: WriteOp): Promise<WriteResult> {
    return new Promise((resolve, reject) => {
      this.pending.push(op);
      this.waiters.push({ resolve, reject });
      if (this.groupsInFlight < this.maxGroups && !this.scheduled) {
        this.scheduled = true;
        // setImmediate runs after the poll phase, i.e. after uWS has handed us every request
        // that arrived in this turn: the group is as large as the turn allows.
        setImmediate(this.flush);
      }
    });
  }

  private flush = (): void => {
    this.scheduled = false;
    if (this.groupsInFlight >= this.maxGroups || this.pending.length === 0) return;
    const max = this.store.opts.maxBatch;
    let ops = this.pending;
    let waiters = this.waiters;
    if (ops.length <= max) {
      this.pending = [];
      this.waiters = [];
    } else {
      ops = ops.slice(0, max);
      waiters = waiters.slice(0, max);
      this.pending = this.pending.slice(max);
      this.waiters = this.waiters.slice(max);
    }
    this.groupsInFlight++;
    this.inflightOps += ops.length;
    this.batches++;
    this.writes += ops.length;
    this.store.commit(this.id, ops).then(
      (results) => {
        if (this.store.listeners.size) this.store.emit(ops, results);
        // Drop cached renderings once the new values are visible and before anyone is told:
        // a reader can never be served a value older than a write it has seen acknowledged.
        this.store.cache.invalidate(ops);
        this.done(ops.length);
        for (let i = 0; i < waiters.length; i++) waiters[i].resolve(results[i]);
        this.next();
      },
      (err) => {
        this.store.cache.invalidate(ops);
        this.done(ops.length);
        const e = new CoreError('CORE_WORKER_FAILED', `commit failed on partition ${this.id}: ${(err as Error)?.message}`, undefined, { cause: err });
        for (const w of waiters) w.reject(e);
        this.next();
      },
    );
  };

  private done(n: number): void {
    this.groupsInFlight--;
    this.inflightOps -= n;
    this.store.afterCommit(this.id);
  }

  private next(): void {
    if (this.pending.length > 0 && !this.scheduled) { this.scheduled = true; setImmediate(this.flush); }
  }
}
