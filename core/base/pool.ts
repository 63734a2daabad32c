// The piscina pool of data workers (worker.ts): write groups in the pool write modes, TTL reaps,
// FloQL queries. Opened and destroyed by the data plane (data-plane.ts).
import path from 'node:path';
import { Piscina } from 'piscina';
import type { ReapResult, Task, WriteResult } from './messages';
import type { TsQueryResult } from '../ts/store';

export type DataPool = Piscina<Task, WriteResult[] | ReapResult | TsQueryResult | string>;

export interface PoolOptions {
  workers: number;
  /**
   * Writes go through the pool: its workers start now, never idle out, and are checked before
   * we serve. Otherwise (writes on the main thread) they start on demand for queries and reaps,
   * so an idle daemon carries no worker isolates (~8.5 MiB each).
   */
  hot: boolean;
  partitionPaths: string[];
  tsPath: string;
}

export async function openPool(opts: PoolOptions): Promise<DataPool> {
  const pool: DataPool = new Piscina({
    filename: path.join(__dirname, '..', 'worker.js'),
    minThreads: opts.hot ? opts.workers : 0,
    maxThreads: opts.workers,
    idleTimeout: opts.hot ? Infinity : 30_000,
    // Workers block in a synchronous commit; sync atomics lets them pick up the next task
    // without a trip through their event loop.
    atomics: 'sync',
    workerData: { partitionPaths: opts.partitionPaths, tsPath: opts.tsPath },
  });
  // One startup handshake: every worker is up and can load the addons before we serve.
  if (opts.hot) {
    try {
      await Promise.all(Array.from({ length: opts.workers }, () => pool.run({ type: 'ping' })));
    } catch (err) {
      await pool.destroy().catch(() => undefined);
      throw err;
    }
  }
  return pool;
}
