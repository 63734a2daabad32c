// The data engine as the main thread sees it: synchronous reads straight from LMDB (the
// cheapest place to read, measured in bench/), and writes grouped per partition and committed
// by the worker pool, one LMDB transaction (one fdatasync) per group.
import fs from 'node:fs';
import path from 'node:path';
import { Piscina } from 'piscina';
import { CoreError } from './errors';
import { MetaStore, NAMESPACE_RE, type NamespaceInfo } from './namespaces';
import { openPartition, type PartitionHandles } from './partition';
import { applyOps, reapExpired } from './kv/ops';
import { HEADER_BYTES, isExpired, namespacePrefix, partitionOf, recordExpiresAt, recordVersion, storageKey } from './kv/record';
import type { TsQueryResult } from './ts/store';
import { OpKind, ResultKind, type Task, type WriteOp, type WriteResult, type ReapResult } from './messages';

/**
 * How writes reach LMDB (the hot-path ablation, see bench/ablation):
 * - `batch`: every write that arrives in one event-loop turn for a partition travels to a pool
 *   worker as one task and commits in one transaction; the next group forms while it commits.
 * - `per-op`: one pool task (and one transaction) per write.
 * - `main`: lmdb-js asynchronous transactions on the main thread (its own write thread commits).
 * - `inline`: the main thread commits each turn's group itself with transactionSync, blocking
 *   for the fdatasync (no thread hand-offs at all).
 */
export type WriteMode = 'batch' | 'per-op' | 'main' | 'inline';

export interface EngineOptions {
  dataDir: string;
  partitions: number;
  workers: number;
  writeMode: WriteMode;
  maxInflight: number;
  maxBatch: number;
  maxValueBytes: number;
  autoCreateNamespaces: boolean;
  reapIntervalMs: number;
  /** Bytes of rendered GET bodies kept in memory (0 = no cache). */
  readCacheBytes: number;
}

export interface KvEntry { key: string; value: Buffer; version: number; expiresAt: number }

export interface PutRequest {
  value: Uint8Array;
  ttlSeconds?: number;
  ifNotExists?: boolean;
  casVersion?: number;
}

export type PutOutcome = { ok: true; version: number } | { ok: false; currentVersion: number };
export type DelOutcome = { ok: true; version: number } | { ok: false; notFound: true } | { ok: false; notFound: false; currentVersion: number };

export interface PartitionStats {
  id: number;
  reads: number;
  writes: number;
  batches: number;
  pending: number;
  inflight: number;
}

interface Waiter { resolve(r: WriteResult): void; reject(e: unknown): void }

class PartitionWriter {
  reads = 0;
  writes = 0;
  batches = 0;
  inflightOps = 0;
  private pending: WriteOp[] = [];
  private waiters: Waiter[] = [];
  private groupsInFlight = 0;
  private scheduled = false;

  /**
   * @param maxGroups groups committing at once. 1 for the pool modes: the next group forms while
   * one commits, and two groups of one partition would only queue on LMDB's write lock in two
   * workers. Unbounded for `main`: lmdb-js orders the transactions itself and, with
   * overlappingSync, commits the next one while the previous one is being fdatasync'ed.
   */
  constructor(
    readonly id: number,
    private readonly engine: Engine,
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
    const max = this.engine.opts.maxBatch;
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
    this.engine.commit(this.id, ops).then(
      (results) => {
        if (this.engine.kvListeners.size) this.engine.emitKv(ops, results);
        // Drop cached renderings once the new values are visible and before anyone is told:
        // a reader can never be served a value older than a write it has seen acknowledged.
        this.engine.cache.invalidate(ops);
        this.done(ops.length);
        for (let i = 0; i < waiters.length; i++) waiters[i].resolve(results[i]);
        this.next();
      },
      (err) => {
        this.engine.cache.invalidate(ops);
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
    this.engine.afterCommit(this.id);
  }

  private next(): void {
    if (this.pending.length > 0 && !this.scheduled) { this.scheduled = true; setImmediate(this.flush); }
  }
}

/**
 * Rendered GET bodies by storage key, bounded in bytes, oldest first out. Entries are dropped
 * when a write to their key commits (PartitionWriter), so a hit is always the committed value.
 * Measured: a hit skips the LMDB lookup and the base64/JSON rendering (README → Benchmarks).
 */
export class RenderCache {
  /** Rendered HTTP GET bodies, and decoded entries for the binary protocol's kv_get, by storage key. */
  private readonly map = new Map<string, string>();
  private readonly entries = new Map<string, KvEntry>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  get(k: string): string | undefined {
    const v = this.map.get(k);
    if (v === undefined) this.misses++;
    else this.hits++;
    return v;
  }

  getEntry(k: string): KvEntry | undefined {
    const v = this.entries.get(k);
    if (v === undefined) this.misses++;
    else this.hits++;
    return v;
  }

  set(k: string, v: string): void {
    this.put(this.map, k, v);
  }

  setEntry(k: string, e: KvEntry): void {
    this.put(this.entries, k, e);
  }

  /** Approximate memory of one cached item: UTF-16 strings, plus the entry's value bytes. */
  private static sizeOf(k: string, v: string | KvEntry): number {
    return typeof v === 'string' ? (k.length + v.length) * 2 + 64 : k.length * 4 + v.value.length + 128;
  }

  private put<V extends string | KvEntry>(m: Map<string, V>, k: string, v: V): void {
    const size = RenderCache.sizeOf(k, v);
    if (this.maxBytes === 0 || size > this.maxBytes / 16) return;
    this.drop(m, k);
    m.set(k, v);
    this.bytes += size;
    // Oldest first, the two maps in turn.
    while (this.bytes > this.maxBytes) {
      const from = this.map.size >= this.entries.size ? this.map : this.entries;
      this.drop<string | KvEntry>(from, from.keys().next().value as string);
    }
  }

  private drop<V extends string | KvEntry>(m: Map<string, V>, k: string): void {
    const v = m.get(k);
    if (v === undefined) return;
    m.delete(k);
    this.bytes -= RenderCache.sizeOf(k, v);
  }

  invalidate(ops: WriteOp[]): void {
    if (this.map.size === 0 && this.entries.size === 0) return;
    for (const op of ops) {
      this.drop(this.map, op.key);
      this.drop(this.entries, op.key);
    }
  }

  get size(): number { return this.map.size + this.entries.size; }
  get usedBytes(): number { return this.bytes; }
}

/** A committed KV change, as watchers see it. */
export interface KvChange { namespace: string; key: string; version: number; deleted: boolean; value?: Uint8Array; expiresAt: number }

export class Engine {
  readonly opts: EngineOptions;
  /** Called with every committed group's successful changes (WebSocket watchers). */
  readonly kvListeners = new Set<(changes: KvChange[]) => void>();
  readonly meta: MetaStore;
  readonly nodeId: string;
  private readonly parts: PartitionHandles[];
  private readonly writers: PartitionWriter[];
  private readonly pool: Piscina<Task, WriteResult[] | ReapResult | TsQueryResult | string>;
  readonly cache: RenderCache;
  private reapTimer?: NodeJS.Timeout;
  private reaping = false;
  private closed = false;
  reaped = 0;

  private constructor(opts: EngineOptions, meta: MetaStore, parts: PartitionHandles[], pool: Piscina) {
    this.opts = opts;
    this.meta = meta;
    this.nodeId = meta.nodeId();
    this.parts = parts;
    this.pool = pool;
    this.cache = new RenderCache(opts.readCacheBytes);
    this.writers = parts.map((_, i) => new PartitionWriter(i, this, opts.writeMode === 'main' ? Infinity : 1));
  }

  static async open(opts: EngineOptions): Promise<Engine> {
    fs.mkdirSync(path.join(opts.dataDir, 'kv'), { recursive: true, mode: 0o700 });
    const meta = new MetaStore(path.join(opts.dataDir, 'meta.mdb'));
    // Keys are placed by hash modulo the partition count, so the count is fixed at creation.
    const stored = meta.getOrInit('partitions', () => opts.partitions);
    if (stored !== opts.partitions) {
      await meta.close();
      throw new CoreError('CORE_PARTITION_MISMATCH',
        `data dir ${opts.dataDir} was created with ${stored} partitions but ${opts.partitions} are configured; ` +
        `set partitions = ${stored} (re-partitioning an existing store is not supported)`);
    }
    const paths = Array.from({ length: opts.partitions }, (_, i) => path.join(opts.dataDir, 'kv', `p${i}.mdb`));
    const parts = paths.map((p) => openPartition(p, opts.writeMode === 'main'));
    // In `main` mode no write goes through the pool, so its workers start on demand (later
    // issues run long queries there) and an idle daemon carries no worker isolates (~8.5 MiB
    // each). The pool modes keep their workers hot and check them at startup.
    const poolModes = opts.writeMode === 'batch' || opts.writeMode === 'per-op';
    const pool = new Piscina({
      filename: path.join(__dirname, 'worker.js'),
      minThreads: poolModes ? opts.workers : 0,
      maxThreads: opts.workers,
      idleTimeout: poolModes ? Infinity : 30_000,
      // Workers block in a synchronous commit; sync atomics lets them pick up the next task
      // without a trip through their event loop.
      atomics: 'sync',
      workerData: { partitionPaths: paths, tsPath: path.join(opts.dataDir, 'ts.mdb') },
    });
    // One startup handshake: every worker is up and can load the addons before we serve.
    if (poolModes) await Promise.all(Array.from({ length: opts.workers }, () => pool.run({ type: 'ping' })));
    const engine = new Engine(opts, meta, parts, pool);
    if (opts.reapIntervalMs > 0) {
      engine.reapTimer = setInterval(() => void engine.reapOnce(), opts.reapIntervalMs);
      engine.reapTimer.unref();
    }
    return engine;
  }

  get partitionCount(): number { return this.parts.length; }

  /** Ops queued or committing across all partitions. */
  get inflight(): number {
    let n = 0;
    for (const w of this.writers) n += w.pendingOps + w.inflightOps;
    return n;
  }

  // ---- namespaces -------------------------------------------------------------------------
  listNamespaces(): NamespaceInfo[] { return this.meta.list(); }
  createNamespace(name: string): NamespaceInfo { return this.meta.create(name, false); }

  /** Throws unless `ns` exists; a write may auto-create it (kv.auto_create_namespaces). */
  requireNamespace(ns: string, forWrite: boolean): void {
    if (this.meta.has(ns)) return;
    if (!NAMESPACE_RE.test(ns)) throw new CoreError('CORE_NAMESPACE_INVALID', undefined, { field: 'namespace', value: ns });
    if (forWrite && this.opts.autoCreateNamespaces) { this.meta.create(ns, true); return; }
    throw new CoreError('CORE_NAMESPACE_NOT_FOUND', `namespace '${ns}' does not exist`, { namespace: ns });
  }

  // ---- reads (main thread, synchronous) ---------------------------------------------------

  /**
   * Calls `fn` with the live record's bytes, or returns undefined. The buffer is only valid
   * during the call (getBinaryFast reuses it), which lets a GET encode straight from LMDB's map.
   */
  read<T>(ns: string, key: string, fn: (rec: Buffer, version: number, expiresAt: number) => T): T | undefined {
    if (!this.meta.has(ns)) this.requireNamespace(ns, false);
    const sk = storageKey(ns, key);
    const p = partitionOf(sk, this.parts.length);
    this.writers[p].reads++;
    const rec = this.parts[p].kv.getBinaryFast(sk);
    if (rec === undefined) return undefined;
    const expiresAt = recordExpiresAt(rec);
    if (expiresAt !== 0 && expiresAt <= Date.now()) return undefined;
    return fn(rec, recordVersion(rec), expiresAt);
  }

  get(ns: string, key: string): KvEntry | undefined {
    return this.read(ns, key, (rec, version, expiresAt) => ({ key, value: Buffer.from(rec.subarray(HEADER_BYTES)), version, expiresAt }));
  }

  /**
   * get() through the read cache (entries without TTL stay cached until a write to the key
   * commits, as readRendered's bodies do). The entry is shared: callers must not modify it.
   */
  getCached(ns: string, key: string): KvEntry | undefined {
    const sk = storageKey(ns, key);
    const hit = this.cache.getEntry(sk);
    if (hit !== undefined) {
      this.writers[partitionOf(sk, this.parts.length)].reads++;
      return hit;
    }
    const e = this.get(ns, key);
    if (e !== undefined && e.expiresAt === 0) this.cache.setEntry(sk, e);
    return e;
  }

  /**
   * Like read(), for a caller that turns the record into a string that depends on nothing but
   * the record (no TTL): such renderings are cached until a write to the key commits.
   */
  readRendered(ns: string, key: string, render: (rec: Buffer, version: number, expiresAt: number) => string): string | undefined {
    const sk = storageKey(ns, key);
    const hit = this.cache.get(sk);
    if (hit !== undefined) {
      this.writers[partitionOf(sk, this.parts.length)].reads++;
      return hit;
    }
    let cacheable = false;
    const body = this.read(ns, key, (rec, version, expiresAt) => {
      cacheable = expiresAt === 0;
      return render(rec, version, expiresAt);
    });
    if (body !== undefined && cacheable) this.cache.set(sk, body);
    return body;
  }

  /**
   * Keys of `ns` starting with `prefix`, in UTF-8 byte order, strictly after `after` when
   * given. Each partition is range-scanned and the sorted runs are merged. A page holds at most
   * `limit` keys and about `maxBytes` of values.
   */
  scan(ns: string, prefix: string, limit: number, after?: string, maxBytes = 4 << 20): { items: KvEntry[]; next: string | null } {
    this.requireNamespace(ns, false);
    const nsPrefix = namespacePrefix(ns);
    const base = nsPrefix + prefix;
    const start = after !== undefined && after > prefix ? nsPrefix + after : base;
    const now = Date.now();
    const runs: KvEntry[] = [];
    for (const part of this.parts) {
      let taken = 0;
      for (const { key, value } of part.kv.getRange({ start })) {
        if (!key.startsWith(base)) break;
        const userKey = key.slice(nsPrefix.length);
        if (after !== undefined && userKey === after) continue;
        if (isExpired(value, now)) continue;
        runs.push({ key: userKey, value: Buffer.from(value.subarray(HEADER_BYTES)), version: recordVersion(value), expiresAt: recordExpiresAt(value) });
        if (++taken > limit) break;
      }
    }
    runs.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
    // A page is a prefix of the merged order, cut at `limit` keys or once `maxBytes` of values
    // are in it (always at least one key), so pages of large values stay bounded in memory.
    let bytes = 0;
    let n = 0;
    while (n < runs.length && n < limit && (n === 0 || bytes + runs[n].value.length <= maxBytes)) bytes += runs[n++].value.length;
    const items = runs.slice(0, n);
    const next = runs.length > n ? items[items.length - 1].key : null;
    return { items, next };
  }

  // ---- writes -----------------------------------------------------------------------------

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
    this.requireNamespace(ns, true);
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
    this.requireNamespace(ns, false);
    const r = await this.submit({ kind: OpKind.Del, key: storageKey(ns, key), casVersion: casVersion ?? -1 });
    if (r.r === ResultKind.Ok) return { ok: true, version: r.version };
    if (r.r === ResultKind.NotFound) return { ok: false, notFound: true };
    return { ok: false, notFound: false, currentVersion: r.version };
  }

  emitKv(ops: WriteOp[], results: WriteResult[]): void {
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
    for (const l of this.kvListeners) {
      try { l(changes); } catch (err) { this.onListenerError?.(err); }
    }
  }

  /** Where a throwing KV change listener is reported (the daemon logs it). */
  onListenerError?: (err: unknown) => void;

  /** Runs a FloQL query in the worker pool (never on the HTTP thread). */
  async tsQuery(namespace: string, query: string, rollups = true): Promise<TsQueryResult> {
    if (this.closed) throw new CoreError('CORE_CLOSED');
    return (await this.pool.run({ type: 'ts-query', namespace, query, now: Date.now(), rollups })) as TsQueryResult;
  }

  /** Commits one group of ops for partition `p`; called by its writer, never concurrently for one partition. */
  async commit(p: number, ops: WriteOp[]): Promise<WriteResult[]> {
    switch (this.opts.writeMode) {
      case 'batch':
        return (await this.pool.run({ type: 'batch', partition: p, ops })) as WriteResult[];
      case 'per-op': {
        const out = await Promise.all(ops.map((op) => this.pool.run({ type: 'batch', partition: p, ops: [op] }) as Promise<WriteResult[]>));
        return out.map((r) => r[0]);
      }
      case 'main': {
        const h = this.parts[p];
        const now = Date.now();
        return h.env.transaction(() => applyOps(h, ops, now));
      }
      case 'inline': {
        const h = this.parts[p];
        const now = Date.now();
        return h.env.transactionSync(() => applyOps(h, ops, now));
      }
    }
  }

  /** A worker committed to partition `p`: make the main thread's next read see it. */
  afterCommit(p: number): void {
    if (this.opts.writeMode === 'batch' || this.opts.writeMode === 'per-op') this.parts[p].env.resetReadTxn();
  }

  /** One pass of the TTL reaper over every partition; returns how many records it removed. */
  async reapOnce(now = Date.now(), limit = 5000): Promise<number> {
    if (this.reaping || this.closed) return 0;
    this.reaping = true;
    let total = 0;
    try {
      for (let p = 0; p < this.parts.length; p++) {
        for (;;) {
          const r = this.opts.writeMode === 'main' || this.opts.writeMode === 'inline'
            ? await this.parts[p].env.transaction(() => reapExpired(this.parts[p], now, limit))
            : (await this.pool.run({ type: 'reap', partition: p, now, limit })) as ReapResult;
          total += r.removed;
          if (r.removed > 0) this.afterCommit(p);
          if (!r.more || this.closed) break;
        }
      }
    } finally {
      this.reaping = false;
    }
    this.reaped += total;
    return total;
  }

  stats(): PartitionStats[] {
    return this.writers.map((w) => ({ id: w.id, reads: w.reads, writes: w.writes, batches: w.batches, pending: w.pendingOps, inflight: w.inflightOps }));
  }

  /** Waits for queued writes to commit, then closes the pool and the environments. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.reapTimer) clearInterval(this.reapTimer);
    const deadline = Date.now() + 10_000;
    while (this.inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    while (this.reaping && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    await this.pool.destroy();
    for (const h of this.parts) await h.env.close();
    await this.meta.close();
  }
}
