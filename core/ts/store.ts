// Time-series storage on its own LMDB environment (data/ts.mdb).
//   points  [ns, measurement, field, seriesKey, timestamp] → float64 (booleans as 0/1)
//   strings [ns, measurement, field, seriesKey, timestamp] → UTF-8 (stored, not yet queryable)
//   series  [ns, measurement, field, seriesKey] → tags
//   rollups / rollmark / rolldirty: downsampled buckets (see rollup.ts)
// A write batch is one transaction, answered after the flush; queries read a snapshot and can
// run in a pool worker (core/worker.ts opens the same environment).
import type { Database, RootDatabase } from 'lmdb';
import { loadLmdb } from '../../native';
import { WindowFolder } from './aggregate';
import { evaluate, groupOf, matches, type FloQuery, type Series } from './floql';
import type { Point } from './line-protocol';
import { RESOLUTIONS, ROLLUP_KEEP_FACTOR, SEAL_LAG_MS, pickResolution, readBucket, recomputeBucket, sealSeries, type BucketKey, type MarkKey, type PointKey, type RollupDbs, type SeriesKey } from './rollup';

export interface TsStoreOptions {
  /** How often retention deletes old points (0 = never). */
  trimIntervalMs?: number;
  /** How often rollups are brought up to date (0 = never; queries then read raw points only). */
  rollupIntervalMs?: number;
}

export interface QueryOptions {
  /** Use rollup buckets where they cover whole windows (default true; results are the same). */
  rollups?: boolean;
}

export interface TsSeriesOut { measurement: string; field: string; tags: Record<string, string>; points: Array<{ timestamp: number; value: number }> }

export type TsQueryResult = { series: TsSeriesOut[] } | { error: 'no_field' | 'unknown_measurement'; fields: string[]; message: string };

export function seriesKeyOf(tags: Record<string, string>): string {
  return Object.keys(tags).sort().map((k) => `${k}=${tags[k]}`).join(',');
}

export class TsStore {
  readonly env: RootDatabase;
  private readonly points: Database<Buffer, PointKey>;
  private readonly strings: Database<string, PointKey>;
  private readonly series: Database<Record<string, string>, SeriesKey>;
  private readonly retention: Database<number, string>;
  private readonly roll: RollupDbs;
  private trimTimer?: NodeJS.Timeout;
  private rollTimer?: NodeJS.Timeout;
  private trimming = false;
  private rolling = false;
  trimmed = 0;
  /** Raw points folded into rollups so far, and late buckets recomputed (for metrics and tests). */
  rolledPoints = 0;
  rolledDirty = 0;
  /** sealedUntil per series and resolution, as of the last transaction callback that set it. */
  private readonly marks = new Map<string, number>();
  private readonly known = new Set<string>();
  /** Called after each committed write batch (WebSocket subscribers). */
  readonly writeListeners = new Set<(ns: string, points: Point[]) => void>();

  constructor(path: string, opts: TsStoreOptions = {}) {
    const trimIntervalMs = opts.trimIntervalMs ?? 0;
    const { lmdb } = loadLmdb();
    // The main thread (writes) and pool workers (queries) share this environment in-process;
    // both must open it with the same flags.
    this.env = lmdb.open({ path, overlappingSync: true, compression: false, maxDbs: 12 }) as RootDatabase;
    this.points = this.env.openDB({ name: 'points', encoding: 'binary' });
    this.strings = this.env.openDB({ name: 'strings', encoding: 'string' });
    this.series = this.env.openDB({ name: 'series', encoding: 'msgpack' });
    this.retention = this.env.openDB({ name: 'retention', encoding: 'msgpack' });
    this.roll = {
      points: this.points,
      rollups: this.env.openDB({ name: 'rollups', encoding: 'binary' }),
      marks: this.env.openDB({ name: 'rollmark', encoding: 'msgpack' }),
      dirty: this.env.openDB({ name: 'rolldirty', encoding: 'msgpack' }),
    };
    if (trimIntervalMs > 0) {
      this.trimTimer = setInterval(() => void this.trimAll(), trimIntervalMs);
      this.trimTimer.unref();
    }
    if ((opts.rollupIntervalMs ?? 0) > 0) {
      this.rollTimer = setInterval(() => void this.rollupAll(), opts.rollupIntervalMs);
      this.rollTimer.unref();
    }
  }

  /** Points older than `maxAgeMs` in this namespace are deleted in the background (0 = keep all). */
  async setRetention(ns: string, maxAgeMs: number): Promise<number> {
    await this.env.transaction(() => {
      if (maxAgeMs > 0) this.retention.putSync(ns, maxAgeMs);
      else this.retention.removeSync(ns);
    });
    return maxAgeMs;
  }

  getRetention(ns: string): number {
    return this.retention.get(ns) ?? 0;
  }

  /** One retention pass over every namespace that has one; at most `limit` deletions. */
  async trimAll(now = Date.now(), limit = 100_000): Promise<number> {
    if (this.trimming) return 0;
    this.trimming = true;
    let total = 0;
    try {
      for (const { key: ns, value: maxAge } of this.retention.getRange({})) {
        const cutoff = now - maxAge;
        total += await this.env.transaction(() => {
          let n = 0;
          for (const sk of this.series.getKeys({ start: [ns], end: [ns, '\uffff'] })) {
            for (const db of [this.points, this.strings] as Array<Database<unknown, PointKey>>) {
              for (const pk of db.getKeys({ start: [sk[0], sk[1], sk[2], sk[3], -Number.MAX_VALUE], end: [sk[0], sk[1], sk[2], sk[3], cutoff] })) {
                if (n >= limit) return n;
                db.removeSync(pk);
                n++;
              }
            }
            for (const res of RESOLUTIONS) {
              const keep = now - maxAge * ROLLUP_KEEP_FACTOR[res];
              for (const db of [this.roll.rollups, this.roll.dirty] as Array<Database<unknown, BucketKey>>) {
                for (const bk of db.getKeys({ start: [sk[0], sk[1], sk[2], sk[3], res, -Number.MAX_VALUE], end: [sk[0], sk[1], sk[2], sk[3], res, db === this.roll.dirty ? cutoff : keep - res] })) {
                  if (n >= limit) return n;
                  db.removeSync(bk);
                  n++;
                }
              }
            }
          }
          return n;
        });
        if (total >= limit) break;
      }
    } finally {
      this.trimming = false;
    }
    this.trimmed += total;
    return total;
  }

  /** Writes every point of a parsed batch in one transaction. */
  async write(ns: string, pts: Point[]): Promise<number> {
    const written = await this.env.transaction(() => {
      let n = 0;
      for (const p of pts) {
        const sk = seriesKeyOf(p.tags);
        for (const [field, v] of Object.entries(p.fields)) {
          const idx = `${ns}\u0000${p.measurement}\u0000${field}\u0000${sk}`;
          if (!this.known.has(idx)) {
            if (this.series.get([ns, p.measurement, field, sk]) === undefined) this.series.putSync([ns, p.measurement, field, sk], p.tags);
            this.known.add(idx);
          }
          const key: PointKey = [ns, p.measurement, field, sk, p.timestamp];
          if (typeof v === 'string') this.strings.putSync(key, v);
          else {
            const b = Buffer.allocUnsafe(8);
            b.writeDoubleLE(typeof v === 'boolean' ? (v ? 1 : 0) : v, 0);
            this.points.putSync(key, b);
            for (const res of RESOLUTIONS) {
              if (p.timestamp < this.mark(idx, [ns, p.measurement, field, sk, res])) this.roll.dirty.putSync([ns, p.measurement, field, sk, res, Math.floor(p.timestamp / res) * res], 1);
            }
          }
          n++;
        }
      }
      return n;
    });
    for (const l of this.writeListeners) l(ns, pts);
    return written;
  }

  private mark(idx: string, mk: MarkKey): number {
    const k = `${idx}\u0000${mk[4]}`;
    let m = this.marks.get(k);
    if (m === undefined) this.marks.set(k, (m = this.roll.marks.get(mk) ?? -Infinity));
    return m;
  }

  /**
   * One rollup pass: seals buckets older than SEAL_LAG_MS in every series and recomputes
   * buckets that got late points. Work is cut into transactions of about `budget` points so
   * the main thread never stalls for long. Returns raw points read.
   */
  async rollupAll(now = Date.now(), budget = 20_000): Promise<number> {
    if (this.rolling) return 0;
    this.rolling = true;
    let total = 0;
    try {
      const series = [...this.series.getKeys({})];
      for (const res of RESOLUTIONS) {
        const target = Math.floor((now - SEAL_LAG_MS) / res) * res;
        for (const sk of series) {
          for (;;) {
            const r = await this.env.transaction(() => {
              const out = sealSeries(this.roll, sk, res, target, budget, () => {
                for (const k of this.points.getKeys({ start: [sk[0], sk[1], sk[2], sk[3], -Number.MAX_VALUE], end: [sk[0], sk[1], sk[2], sk[3], Infinity], limit: 1 })) return k[4];
                return undefined;
              });
              // Later write callbacks must mark points below the new mark dirty.
              this.marks.set(`${sk[0]}\u0000${sk[1]}\u0000${sk[2]}\u0000${sk[3]}\u0000${res}`, out.mark);
              return out;
            });
            total += r.read;
            if (r.mark >= target || r.read === 0) break;
          }
        }
      }
      // Late points: recompute their buckets from raw points.
      for (;;) {
        const n = await this.env.transaction(() => {
          let read = 0;
          let buckets = 0;
          for (const key of this.roll.dirty.getKeys({})) {
            if (read >= budget) break;
            read += recomputeBucket(this.roll, key);
            buckets++;
          }
          this.rolledDirty += buckets;
          return buckets;
        });
        if (n === 0) break;
      }
    } finally {
      this.rolling = false;
    }
    this.rolledPoints += total;
    return total;
  }

  fields(ns: string, measurement: string): string[] {
    const out = new Set<string>();
    for (const k of this.series.getKeys({ start: [ns, measurement], end: [ns, measurement, '\uffff'] })) out.add(k[2]);
    return [...out].sort();
  }

  /**
   * Runs a parsed FloQL query. Without a field name it uses `value`, or the only field, or
   * reports the fields to choose from.
   */
  query(ns: string, q: FloQuery, now: number, opts: QueryOptions = {}): TsQueryResult {
    const fields = this.fields(ns, q.measurement);
    let field = q.field;
    if (field === undefined) {
      if (fields.includes('value')) field = 'value';
      else if (fields.length === 1) field = fields[0];
      else if (fields.length === 0) return { error: 'unknown_measurement', fields, message: `no data for measurement '${q.measurement}'` };
      else return { error: 'no_field', fields, message: `measurement '${q.measurement}' has several fields; name one (${q.measurement}.<field>): ${fields.join(', ')}` };
    }
    const lo = q.rangeMs === undefined ? -Number.MAX_VALUE : now - q.rangeMs;
    const hi = now;
    // Tag matchers first: only the selected series' points are read.
    const selected: Array<{ sk: string; tags: Record<string, string> }> = [];
    for (const { key, value: tags } of this.series.getRange({ start: [ns, q.measurement, field], end: [ns, q.measurement, field, '\uffff'] })) {
      if (q.matchers.every((m) => matches(m, tags))) selected.push({ sk: key[3], tags });
    }
    const m = q.measurement;
    const f = field;
    /** Points of one series with from < t < to, or from <= t when fromIncl, or t <= to when toIncl. */
    const scan = (sk: string, from: number, fromIncl: boolean, to: number, toIncl: boolean, each: (t: number, v: number) => void) => {
      for (const { key, value } of this.points.getRange({ start: [ns, m, f, sk, from], end: [ns, m, f, sk, toIncl ? to + 1e-3 : to] })) {
        const t = key[4];
        if ((t > from || (fromIncl && t === from)) && (t < to || (toIncl && t === to))) each(t, value.readDoubleLE(0));
      }
    };
    let out: Series[];
    if (!q.stages.length) {
      const input: Series[] = selected.map(({ sk, tags }) => {
        const pts: Array<{ timestamp: number; value: number }> = [];
        scan(sk, lo, false, hi, true, (timestamp, value) => pts.push({ timestamp, value }));
        return { tags, points: pts };
      });
      out = evaluate({ ...q, matchers: [] }, input, now);
    } else {
      // Fold points into the first stage's windows as they are read; whole rollup buckets stand
      // in for raw points where they cover sealed time inside the range.
      const folder = new WindowFolder(q.stages[0], q.stages.slice(1));
      const res = opts.rollups === false ? undefined : pickResolution(q.stages[0].windowMs);
      selected.forEach(({ sk, tags }, i) => {
        const g = groupOf(q.by, tags, String(i));
        const windows = folder.group(g.key, g.tags);
        const add = (t: number, v: number) => folder.point(windows, t, v);
        let a = hi;
        let b = hi;
        if (res !== undefined) {
          const sealed = this.roll.marks.get([ns, m, f, sk, res]) ?? -Infinity;
          a = Math.floor(lo / res) * res + res; // first bucket wholly after lo
          b = Math.min(Math.floor(hi / res) * res, sealed); // buckets must end by hi and be sealed
          if (a > b) { a = hi; b = hi; }
        }
        // (lo, a) raw, [a, b) rollup buckets, [b, hi] raw; without rollups a = b = hi.
        scan(sk, lo, false, a, false, add);
        if (a < b) {
          // A bucket that got a late point since it was folded is dirty until the next pass
          // recomputes it: read it from raw points, so a bucket always equals its raw points.
          // The dirty marks are written in the late point's own transaction, so this snapshot
          // sees a mark exactly when it sees the point. Usually empty: one index lookup.
          let dirty: Set<number> | undefined;
          for (const key of this.roll.dirty.getKeys({ start: [ns, m, f, sk, res!, a], end: [ns, m, f, sk, res!, b] })) (dirty ??= new Set()).add(key[5]);
          for (const { key, value } of this.roll.rollups.getRange({ start: [ns, m, f, sk, res!, a], end: [ns, m, f, sk, res!, b] })) {
            if (!dirty?.has(key[5])) folder.bucket(windows, key[5], readBucket(value));
          }
          if (dirty) for (const start of dirty) scan(sk, start, true, start + res!, false, add);
        }
        scan(sk, b, true, hi, true, add);
      });
      out = folder.result();
    }
    return { series: out.map((s) => ({ measurement: q.measurement, field: field!, tags: s.tags, points: s.points })) };
  }

  async close(): Promise<void> {
    if (this.trimTimer) clearInterval(this.trimTimer);
    if (this.rollTimer) clearInterval(this.rollTimer);
    await this.env.close();
  }
}
