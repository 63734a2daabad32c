// core's one entry point: openDataPlane() opens the stores, the pool and the writers in order,
// and close() drains queued writes before it closes them, once however often it is called.
import t from 'tap';
import { openDataPlane, isCoreError, type DataPlaneOptions, type WriteModeName } from '../core';
import { tempDir } from './helpers/daemon';

function options(dataDir: string, over: Partial<DataPlaneOptions> = {}): DataPlaneOptions {
  return {
    dataDir,
    partitions: 2,
    workers: 1,
    writeMode: 'main',
    maxInflight: 100_000,
    maxBatch: 64,
    maxValueBytes: 1 << 20,
    autoCreateNamespaces: true,
    reapIntervalMs: 0,
    readCacheBytes: 1 << 20,
    queue: { maxDeliveries: 5, dedupWindowMs: 60_000, sweepIntervalMs: 0 },
    stream: { retention: { max_records: 0, max_age_ms: 0 }, trimIntervalMs: 0 },
    ts: { trimIntervalMs: 0, rollupIntervalMs: 0 },
    ...over,
  };
}

for (const mode of ['main', 'batch'] as WriteModeName[]) {
  t.test(`close() with writes still queued: every write is acknowledged and on disk, the pool is gone (write mode ${mode})`, async (t) => {
    t.setTimeout(60_000);
    const dir = tempDir(t);
    const dp = await openDataPlane(options(dir, { writeMode: mode }));
    t.equal(dp.writeMode, mode);
    // Start a pool worker in either mode (main starts them on demand), so there is one to stop.
    await dp.tsQuery('m', 'cpu{host=a}[1h]').catch(() => undefined);
    t.ok(dp.poolThreads > 0, `${dp.poolThreads} pool worker(s) running`);

    const n = 2000;
    const writes = Array.from({ length: n }, (_, i) => dp.kv.put('app', `k${i}`, { value: Buffer.from(`v${i}`) }));
    t.equal(dp.kv.inflight, n, 'all writes queued, none committed yet');
    const first = dp.close();
    const second = dp.close();
    t.equal(second, first, 'a second close() is the same close');
    const outcomes = await Promise.all(writes);
    t.ok(outcomes.every((o) => o.ok && o.version === 1), 'every write queued before close() is acknowledged');
    await first;
    await dp.close();
    t.equal(dp.poolThreads, 0, 'the pool has no worker left');
    t.equal(dp.kv.inflight, 0);
    const late = await dp.kv.put('app', 'late', { value: Buffer.from('x') }).then(() => undefined, (e: unknown) => e);
    t.ok(isCoreError(late, 'CORE_CLOSED'), 'a write after close() is refused with CORE_CLOSED');
    const query = await dp.tsQuery('m', 'cpu{host=a}[1h]').then(() => undefined, (e: unknown) => e);
    t.ok(isCoreError(query, 'CORE_CLOSED'), 'so is a query');

    const again = await openDataPlane(options(dir, { writeMode: mode }));
    t.teardown(() => again.close());
    let found = 0;
    for (let i = 0; i < n; i++) if (again.kv.get('app', `k${i}`)?.value.toString() === `v${i}`) found++;
    t.equal(found, n, 'every acknowledged write is there after reopening');
    t.equal(again.nodeId, dp.nodeId, 'the node id lives in the data dir');
  });
}

t.test('a data dir made with another partition count is refused, and nothing stays open', async (t) => {
  t.setTimeout(60_000);
  const dir = tempDir(t);
  const dp = await openDataPlane(options(dir, { partitions: 1 }));
  await dp.kv.put('app', 'k', { value: Buffer.from('v') });
  await dp.close();
  const err = await openDataPlane(options(dir, { partitions: 2 })).then(() => undefined, (e: unknown) => e);
  t.ok(isCoreError(err, 'CORE_PARTITION_MISMATCH'), 'CORE_PARTITION_MISMATCH');
  t.match((err as Error).message, /created with 1 partitions but 2 are configured/);
  const ok = await openDataPlane(options(dir, { partitions: 1 }));
  t.equal(ok.kv.get('app', 'k')?.value.toString(), 'v', 'the data dir opens with its own count');
  await ok.close();
});

t.test('open and close a data plane whose reaper runs on a timer; close() stops it', async (t) => {
  t.setTimeout(60_000);
  const dir = tempDir(t);
  const dp = await openDataPlane(options(dir, { reapIntervalMs: 20 }));
  await dp.kv.put('app', 'short', { value: Buffer.from('v'), ttlSeconds: 1 });
  await dp.kv.put('app', 'long', { value: Buffer.from('v') });
  const deadline = Date.now() + 10_000;
  while (dp.kv.reaped < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.equal(dp.kv.reaped, 1, 'the expired key was reaped by the timer');
  await dp.close();
  t.equal(await dp.reaper.reapOnce(), 0, 'a closed reaper does nothing');
});
