// The data plane, opened and closed in one place: the namespace registry, the KV partitions and
// their writers, the TTL reaper, the worker pool, and the queue, stream and time-series stores.
// Everything that depends on an order (what opens first, what must close before what) is here.
import fs from 'node:fs';
import path from 'node:path';
import { CoreError } from './base/errors';
import { MetaStore, type Namespaces } from './base/namespaces';
import { openPartition, type PartitionHandles } from './base/partition';
import { openPool, type DataPool } from './base/pool';
import { Reaper } from './kv/reaper';
import { RenderCache } from './kv/render-cache';
import { KvStore } from './kv/store';
import { WRITE_MODES, type WriteContext, type WriteMode, type WriteModeName } from './kv/write-modes';
import { QueueStore, type QueueOptions } from './queue/store';
import { StreamStore, type Retention } from './stream/store';
import { TsStore, type TsQueryResult, type TsStoreOptions } from './ts/store';

export interface DataPlaneOptions {
  dataDir: string;
  /** KV partitions (one LMDB environment each); fixed when the data dir is created. */
  partitions: number;
  /** Threads of the worker pool. */
  workers: number;
  /** Where write groups commit: a mode the engine carries, or one of bench/ablation's. */
  writeMode: WriteModeName | WriteMode;
  maxInflight: number;
  maxBatch: number;
  maxValueBytes: number;
  autoCreateNamespaces: boolean;
  /** How often the TTL reaper runs (0 = never on its own). */
  reapIntervalMs: number;
  /** Bytes of rendered GET bodies kept in memory (0 = no cache). */
  readCacheBytes: number;
  queue: QueueOptions;
  stream: { retention: Retention; trimIntervalMs: number };
  ts: TsStoreOptions;
  /** Where a throwing KV change listener is reported (the write itself is committed). */
  onListenerError?: (err: unknown) => void;
}

export class DataPlane {
  /** This data dir's node id (created with it). */
  readonly nodeId: string;
  /** Name of the write mode in use. */
  readonly writeMode: string;
  private closing?: Promise<void>;
  private closed = false;

  /** Use openDataPlane(), which opens the parts in order. */
  constructor(
    readonly namespaces: Namespaces,
    readonly kv: KvStore,
    readonly reaper: Reaper,
    readonly queues: QueueStore,
    readonly streams: StreamStore,
    readonly ts: TsStore,
    private readonly meta: MetaStore,
    private readonly parts: readonly PartitionHandles[],
    private readonly pool: DataPool,
    mode: WriteMode,
  ) {
    this.nodeId = meta.nodeId();
    this.writeMode = mode.name;
  }

  /** Worker threads alive in the pool (0 once closed). */
  get poolThreads(): number { return this.pool.threads.length; }

  /** Runs a FloQL query in the worker pool (never on the HTTP thread). */
  async tsQuery(namespace: string, query: string, rollups = true): Promise<TsQueryResult> {
    if (this.closed) throw new CoreError('CORE_CLOSED');
    return (await this.pool.run({ type: 'ts-query', namespace, query, now: Date.now(), rollups })) as TsQueryResult;
  }

  /**
   * Waits (up to 10 s) for queued KV writes to commit, then closes everything; idempotent.
   * Call it once nothing serves requests any more: writes submitted after the drain get
   * CORE_CLOSED, reads would find the environments closed.
   */
  close(): Promise<void> {
    this.closing ??= this.closeInOrder();
    return this.closing;
  }

  private async closeInOrder(): Promise<void> {
    await this.queues.close();
    await this.streams.close();
    this.reaper.stop();
    const deadline = Date.now() + 10_000;
    await this.kv.drain(deadline);
    this.closed = true;
    await this.reaper.close(deadline);
    // The pool before the environments its workers write; ts.mdb last, workers read it too.
    await this.pool.destroy();
    for (const h of this.parts) await h.env.close();
    await this.meta.close();
    await this.ts.close();
  }
}

/** Opens the data plane on `opts.dataDir`; throws CORE_PARTITION_MISMATCH for a data dir made with another partition count. */
export async function openDataPlane(opts: DataPlaneOptions): Promise<DataPlane> {
  const mode = typeof opts.writeMode === 'string' ? WRITE_MODES[opts.writeMode] : opts.writeMode;
  if (!mode) throw new Error(`unknown write mode ${String(opts.writeMode)}`);
  fs.mkdirSync(path.join(opts.dataDir, 'kv'), { recursive: true, mode: 0o700 });
  const meta = new MetaStore(path.join(opts.dataDir, 'meta.mdb'), opts.autoCreateNamespaces);
  // What is open so far, closed in reverse if a later step fails.
  const opened: Array<() => Promise<unknown>> = [() => meta.close()];
  try {
    // Keys are placed by hash modulo the partition count, so the count is fixed at creation.
    const stored = meta.getOrInit('partitions', () => opts.partitions);
    if (stored !== opts.partitions) {
      throw new CoreError('CORE_PARTITION_MISMATCH',
        `data dir ${opts.dataDir} was created with ${stored} partitions but ${opts.partitions} are configured; ` +
        `set partitions = ${stored} (re-partitioning an existing store is not supported)`);
    }
    const paths = Array.from({ length: opts.partitions }, (_, i) => path.join(opts.dataDir, 'kv', `p${i}.mdb`));
    const parts = paths.map((p) => openPartition(p, mode.overlappingSync));
    opened.push(async () => { for (const h of parts) await h.env.close(); });
    const tsPath = path.join(opts.dataDir, 'ts.mdb');
    const pool = await openPool({ workers: opts.workers, hot: mode.poolCommits, partitionPaths: paths, tsPath });
    opened.push(() => pool.destroy());
    const ctx: WriteContext = { parts, pool };
    const kv = new KvStore(meta, parts, new RenderCache(opts.readCacheBytes), mode, ctx, {
      maxInflight: opts.maxInflight, maxBatch: opts.maxBatch, maxValueBytes: opts.maxValueBytes,
    });
    kv.onListenerError = opts.onListenerError;
    const streams = new StreamStore(path.join(opts.dataDir, 'stream.mdb'), opts.stream.retention, opts.stream.trimIntervalMs);
    opened.push(() => streams.close());
    const ts = new TsStore(tsPath, opts.ts);
    opened.push(() => ts.close());
    const queues = new QueueStore(path.join(opts.dataDir, 'queue.mdb'), opts.queue);
    const reaper = new Reaper(kv, mode, ctx, opts.reapIntervalMs);
    return new DataPlane(meta, kv, reaper, queues, streams, ts, meta, parts, pool, mode);
  } catch (err) {
    for (const close of opened.reverse()) await close().catch(() => undefined);
    throw err;
  }
}
