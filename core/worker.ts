// Piscina worker entry: owns write transactions for the partitions it is handed. Kept small;
// message shapes live in messages.ts.
import { workerData } from 'node:worker_threads';
import { openPartition, type PartitionHandles } from './base/partition';
import { applyOps, reapExpired } from './kv/ops';
import type { Task, WorkerData, WriteResult, ReapResult } from './base/messages';
import { TsStore, type TsQueryResult } from './ts/store';
import { parseFloQL } from './ts/floql';

const data = workerData as WorkerData;
const handles: PartitionHandles[] = [];
let ts: TsStore | undefined;

function partition(i: number): PartitionHandles {
  let h = handles[i];
  if (!h) {
    const p = data.partitionPaths[i];
    if (p === undefined) throw Object.assign(new Error(`no partition ${i}`), { code: 'CORE_WORKER_FAILED' });
    h = handles[i] = openPartition(p);
  }
  return h;
}

export default function run(task: Task): WriteResult[] | ReapResult | TsQueryResult | string {
  switch (task.type) {
    case 'batch': {
      const h = partition(task.partition);
      const now = Date.now();
      // transactionSync commits (with fdatasync) before returning, so the results we hand back
      // describe writes that are on disk.
      return h.env.transactionSync(() => applyOps(h, task.ops, now));
    }
    case 'reap': {
      const h = partition(task.partition);
      return h.env.transactionSync(() => reapExpired(h, task.now, task.limit));
    }
    case 'ping':
      return 'pong';
    case 'ts-query': {
      ts ??= new TsStore(data.tsPath);
      // This thread may not have turned its event loop since the last task (sync atomics), so
      // lmdb-js's per-turn read snapshot could be stale: take a fresh one.
      ts.env.resetReadTxn();
      return ts.query(task.namespace, parseFloQL(task.query), task.now, { rollups: task.rollups });
    }
  }
}
