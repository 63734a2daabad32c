// The write designs the ablation measures besides the engine's own two (core/kv/write-modes.ts:
// `main`, `batch`). They lost by measurement (README → Benchmarks → ablation), so the engine
// does not carry them; bench/ablation/outpostd.ts plugs them into a daemon through the same
// WriteMode interface.
import type { WriteMode } from '../../core';
import { applyOps, reapExpired } from '../../core/kv/ops';
import type { ReapResult, WriteResult } from '../../core/base/messages';

/** The main thread commits each turn's group itself with transactionSync, blocking on the fdatasync (no thread hand-offs). */
export const inlineWrites: WriteMode = {
  name: 'inline',
  overlappingSync: false,
  poolCommits: false,
  maxGroups: 1,
  async commit(ctx, p, ops) {
    const h = ctx.parts[p];
    const now = Date.now();
    return h.env.transactionSync(() => applyOps(h, ops, now));
  },
  async reap(ctx, p, now, limit) {
    const h = ctx.parts[p];
    return h.env.transaction(() => reapExpired(h, now, limit));
  },
};

/** One pool task (and one transaction, one fdatasync) per write. */
export const perOpWrites: WriteMode = {
  name: 'per-op',
  overlappingSync: false,
  poolCommits: true,
  maxGroups: 1,
  async commit(ctx, p, ops) {
    const out = await Promise.all(ops.map((op) => ctx.pool.run({ type: 'batch', partition: p, ops: [op] }) as Promise<WriteResult[]>));
    return out.map((r) => r[0]);
  },
  async reap(ctx, p, now, limit) {
    return (await ctx.pool.run({ type: 'reap', partition: p, now, limit })) as ReapResult;
  },
};

export const ABLATION_MODES: Record<string, WriteMode> = Object.assign(Object.create(null) as Record<string, WriteMode>, {
  inline: inlineWrites,
  'per-op': perOpWrites,
});
