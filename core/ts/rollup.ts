// Downsampled rollups of time-series points, so long ranges stay fast and outlive raw retention.
//
//   rollups  [ns, measurement, field, seriesKey, res, bucketStart] → Agg (64 bytes: sum, count,
//            min, max, first, last) of the raw points in [bucketStart, bucketStart + res)
//   rollmark [ns, measurement, field, seriesKey, res] → sealedUntil: every bucket ending at or
//            before it has been computed
//   rolldirty[ns, measurement, field, seriesKey, res, bucketStart] → 1: a point arrived late
//            (below sealedUntil); the bucket is recomputed from raw points on the next pass
//
// A bucket is always a pure function of the raw points, computed inside a write transaction
// callback, and write() marks late points dirty inside its own callback: callbacks run in
// order, so no point is ever missed or counted twice.
import type { Database } from 'lmdb';
import { addPoint, aggFromBuffer, aggToBuffer, newAgg, type Agg } from './aggregate';

/** Rollup resolutions, finest first: 1 minute and 1 hour. */
export const RESOLUTIONS = [60_000, 3_600_000] as const;
/** Raw points younger than this are not rolled up yet (late data still lands; it is marked dirty). */
export const SEAL_LAG_MS = 60_000;
/** Rollups are kept this many times longer than the namespace's raw retention. */
export const ROLLUP_KEEP_FACTOR: Record<number, number> = { 60_000: 10, 3_600_000: 100 };

export type PointKey = [string, string, string, string, number];
export type SeriesKey = [string, string, string, string];
export type BucketKey = [string, string, string, string, number, number];
export type MarkKey = [string, string, string, string, number];

export interface RollupDbs {
  points: Database<Buffer, PointKey>;
  rollups: Database<Buffer, BucketKey>;
  marks: Database<number, MarkKey>;
  dirty: Database<number, BucketKey>;
}

/** The coarsest resolution that divides a stage window (so each bucket lies in one window). */
export function pickResolution(windowMs: number): number | undefined {
  for (let i = RESOLUTIONS.length - 1; i >= 0; i--) if (windowMs >= RESOLUTIONS[i] && windowMs % RESOLUTIONS[i] === 0) return RESOLUTIONS[i];
  return undefined;
}

/**
 * Computes buckets of one series from its mark up to `target` (a multiple of res), reading at
 * most `budget` points. Must run inside a write transaction callback. Returns points read.
 */
export function sealSeries(db: RollupDbs, sk: SeriesKey, res: number, target: number, budget: number, firstPointAt: () => number | undefined): { read: number; mark: number } {
  const markKey: MarkKey = [sk[0], sk[1], sk[2], sk[3], res];
  let from = db.marks.get(markKey);
  if (from === undefined) {
    const first = firstPointAt();
    if (first === undefined) return { read: 0, mark: -Infinity };
    from = Math.floor(first / res) * res;
  }
  if (from >= target) return { read: 0, mark: from };
  let read = 0;
  let bucket = -Infinity;
  let agg: Agg | undefined;
  let sealed = from;
  const flush = () => {
    if (agg) db.rollups.putSync([sk[0], sk[1], sk[2], sk[3], res, bucket], aggToBuffer(agg));
    agg = undefined;
  };
  let complete = true;
  for (const { key, value } of db.points.getRange({ start: [sk[0], sk[1], sk[2], sk[3], from], end: [sk[0], sk[1], sk[2], sk[3], target] })) {
    const t = key[4];
    const b = Math.floor(t / res) * res;
    if (b !== bucket) {
      flush();
      sealed = b; // every bucket before this one is written
      if (read >= budget) { complete = false; break; }
      bucket = b;
      agg = newAgg();
    }
    addPoint(agg!, t, value.readDoubleLE(0));
    read++;
  }
  if (complete) {
    flush();
    sealed = target;
  }
  // When the budget ran out, `sealed` is the start of the first bucket not read yet.
  db.marks.putSync(markKey, sealed);
  return { read, mark: sealed };
}

/** Recomputes one dirty bucket from raw points (inside a write transaction callback). */
export function recomputeBucket(db: RollupDbs, key: BucketKey): number {
  const [ns, m, f, sk, res, start] = key;
  const agg = newAgg();
  let n = 0;
  for (const { key: pk, value } of db.points.getRange({ start: [ns, m, f, sk, start], end: [ns, m, f, sk, start + res] })) {
    addPoint(agg, pk[4], value.readDoubleLE(0));
    n++;
  }
  if (n) db.rollups.putSync(key, aggToBuffer(agg));
  else db.rollups.removeSync(key);
  db.dirty.removeSync(key);
  return n;
}

export function readBucket(b: Buffer): Agg {
  return aggFromBuffer(b);
}
