// Where a group of KV writes commits (core.write_mode). The engine carries the two modes worth
// running, chosen by measurement (README → Benchmarks → ablation):
// - `main` (default): lmdb-js asynchronous transactions from the main thread; its native write
//   thread commits them, with overlappingSync the next one while the previous one is fdatasync'ed.
// - `batch`: the group travels to a pool worker as one task and commits there with
//   transactionSync; the next group forms while it commits.
// The ablation's other designs (one pool task per write, main-thread transactionSync) live in
// bench/ablation/ and plug in through the same interface.
import type { PartitionHandles } from '../base/partition';
import type { DataPool } from '../base/pool';
import type { ReapResult, WriteOp, WriteResult } from '../base/messages';
import { applyOps, reapExpired } from './ops';

export interface WriteContext {
  readonly parts: readonly PartitionHandles[];
  readonly pool: DataPool;
}

export interface WriteMode {
  readonly name: string;
  /** Partitions open with lmdb-js's overlappingSync (see partition.ts). */
  readonly overlappingSync: boolean;
  /**
   * Commits run in pool workers: the pool is kept hot, and after each commit the main thread
   * renews its read snapshot so that its next read sees the worker's transaction.
   */
  readonly poolCommits: boolean;
  /**
   * Groups of one partition committing at once. 1 when a group blocks a worker: two groups of
   * one partition would only queue on LMDB's write lock in two workers. Unbounded for `main`:
   * lmdb-js orders the transactions itself and overlaps their syncs.
   */
  readonly maxGroups: number;
  /** Commits one group of partition `p`; never called concurrently beyond maxGroups. */
  commit(ctx: WriteContext, p: number, ops: WriteOp[]): Promise<WriteResult[]>;
  /** Removes up to `limit` records of partition `p` whose TTL passed, in one transaction. */
  reap(ctx: WriteContext, p: number, now: number, limit: number): Promise<ReapResult>;
}

export const mainWrites: WriteMode = {
  name: 'main',
  overlappingSync: true,
  poolCommits: false,
  maxGroups: Infinity,
  async commit(ctx, p, ops) {
    const h = ctx.parts[p];
    const now = Date.now();
    return h.env.transaction(() => applyOps(h, ops, now));
  },
  async reap(ctx, p, now, limit) {
    const h = ctx.parts[p];
    return h.env.transaction(() => reapExpired(h, now, limit));
  },
};

export const batchWrites: WriteMode = {
  name: 'batch',
  overlappingSync: false,
  poolCommits: true,
  maxGroups: 1,
  async commit(ctx, p, ops) {
    return (await ctx.pool.run({ type: 'batch', partition: p, ops })) as WriteResult[];
  },
  async reap(ctx, p, now, limit) {
    return (await ctx.pool.run({ type: 'reap', partition: p, now, limit })) as ReapResult;
  },
};

export const WRITE_MODES = { main: mainWrites, batch: batchWrites } as const;
export type WriteModeName = keyof typeof WRITE_MODES;
