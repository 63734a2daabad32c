// Time-series storage on its own LMDB environment (data/ts.mdb).
//   points  [ns, measurement, field, seriesKey, timestamp] → float64 (booleans as 0/1)
//   strings [ns, measurement, field, seriesKey, timestamp] → UTF-8 (stored, not yet queryable)
//   series  [ns, measurement, field, seriesKey] → tags
// A write batch is one transaction, answered after the flush; queries read a snapshot and can
// run in a pool worker (core/worker.ts opens the same environment).
import type { Database, RootDatabase } from 'lmdb';
import { loadLmdb } from '../../native';
import { evaluate, type FloQuery, type Series } from './floql';
import type { Point } from './line-protocol';

type PointKey = [string, string, string, string, number];
type SeriesKey = [string, string, string, string];

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
  private trimTimer?: NodeJS.Timeout;
  private trimming = false;
  trimmed = 0;
  private readonly known = new Set<string>();
  /** Called after each committed write batch (WebSocket subscribers). */
  readonly writeListeners = new Set<(ns: string, points: Point[]) => void>();

  constructor(path: string, trimIntervalMs = 0) {
    const { lmdb } = loadLmdb();
    // The main thread (writes) and pool workers (queries) share this environment in-process;
    // both must open it with the same flags.
    this.env = lmdb.open({ path, overlappingSync: true, compression: false, maxDbs: 5 }) as RootDatabase;
    this.points = this.env.openDB({ name: 'points', encoding: 'binary' });
    this.strings = this.env.openDB({ name: 'strings', encoding: 'string' });
    this.series = this.env.openDB({ name: 'series', encoding: 'msgpack' });
    this.retention = this.env.openDB({ name: 'retention', encoding: 'msgpack' });
    if (trimIntervalMs > 0) {
      this.trimTimer = setInterval(() => void this.trimAll(), trimIntervalMs);
      this.trimTimer.unref();
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
          }
          n++;
        }
      }
      return n;
    });
    for (const l of this.writeListeners) l(ns, pts);
    return written;
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
  query(ns: string, q: FloQuery, now: number): TsQueryResult {
    const fields = this.fields(ns, q.measurement);
    let field = q.field;
    if (field === undefined) {
      if (fields.includes('value')) field = 'value';
      else if (fields.length === 1) field = fields[0];
      else if (fields.length === 0) return { error: 'unknown_measurement', fields, message: `no data for measurement '${q.measurement}'` };
      else return { error: 'no_field', fields, message: `measurement '${q.measurement}' has several fields; name one (${q.measurement}.<field>): ${fields.join(', ')}` };
    }
    const from = q.rangeMs === undefined ? -Infinity : now - q.rangeMs;
    const input: Series[] = [];
    for (const { key, value: tags } of this.series.getRange({ start: [ns, q.measurement, field], end: [ns, q.measurement, field, '\uffff'] })) {
      const sk = key[3];
      const pts: Array<{ timestamp: number; value: number }> = [];
      const start: PointKey = [ns, q.measurement, field, sk, from === -Infinity ? -Number.MAX_VALUE : from];
      for (const { key: pk, value } of this.points.getRange({ start, end: [ns, q.measurement, field, sk, now + 1e-3] })) {
        pts.push({ timestamp: pk[4], value: value.readDoubleLE(0) });
      }
      input.push({ tags, points: pts });
    }
    const out = evaluate(q, input, now);
    return { series: out.map((s) => ({ measurement: q.measurement, field: field!, tags: s.tags, points: s.points })) };
  }

  async close(): Promise<void> {
    if (this.trimTimer) clearInterval(this.trimTimer);
    await this.env.close();
  }
}
