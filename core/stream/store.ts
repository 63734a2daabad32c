// Append-only streams on their own LMDB environment (data/stream.mdb). Offsets are dense and
// monotonic per stream, starting at 0. Appends (single or batched) are one transaction each,
// answered after the flush. Retention (max records / max age) trims from the front in the
// background, moving first_offset; consumer groups keep a committed offset (Kafka semantics:
// the next offset the group will read).
import type { Database, RootDatabase } from 'lmdb';
import { loadLmdb } from '../../native';

type RecKey = [string, string, number];

export interface Retention { max_records: number; max_age_ms: number }

interface StreamMeta {
  first_offset: number;
  next_offset: number;
  groups: Record<string, number>;
  retention: Retention;
}

export interface StreamRecord { offset: number; timestamp: number; payload: string }

export interface StreamInfo {
  name: string;
  first_offset: number;
  last_offset: number;
  record_count: number;
  consumer_groups: string[];
  retention: Retention;
}

export interface StreamError { code: 'group_exists' | 'group_not_found' | 'offset_out_of_range'; message: string }

export class StreamStore {
  readonly env: RootDatabase;
  private readonly recs: Database<Buffer, RecKey>;
  private readonly meta: Database<StreamMeta, [string, string]>;
  private trimTimer?: NodeJS.Timeout;
  /** Called after each committed append (live tails). */
  readonly appendListeners = new Set<(ns: string, stream: string, lastOffset: number) => void>();
  private trimming = false;
  trimmed = 0;

  constructor(path: string, private readonly defaults: Retention, trimIntervalMs: number) {
    const { lmdb } = loadLmdb();
    this.env = lmdb.open({ path, overlappingSync: true, compression: false, maxDbs: 4 }) as RootDatabase;
    this.recs = this.env.openDB({ name: 'records', encoding: 'binary' });
    this.meta = this.env.openDB({ name: 'meta', encoding: 'msgpack' });
    if (trimIntervalMs > 0) {
      this.trimTimer = setInterval(() => void this.trimAll(), trimIntervalMs);
      this.trimTimer.unref();
    }
  }

  private metaOf(ns: string, s: string): StreamMeta {
    return this.meta.get([ns, s]) ?? { first_offset: 0, next_offset: 0, groups: {}, retention: { ...this.defaults } };
  }

  exists(ns: string, s: string): boolean {
    return this.meta.get([ns, s]) !== undefined;
  }

  /** Appends payloads in order; returns the offset of the first. */
  async append(ns: string, s: string, payloads: Buffer[]): Promise<{ first_offset: number; last_offset: number; timestamp: number }> {
    const r = await this.env.transaction(() => {
      const m = this.metaOf(ns, s);
      const ts = Date.now();
      const first = m.next_offset;
      for (const p of payloads) {
        const rec = Buffer.allocUnsafe(8 + p.length);
        rec.writeDoubleLE(ts, 0);
        p.copy(rec, 8);
        this.recs.putSync([ns, s, m.next_offset++], rec);
      }
      this.meta.putSync([ns, s], m);
      return { first_offset: first, last_offset: m.next_offset - 1, timestamp: ts };
    });
    for (const l of this.appendListeners) l(ns, s, r.last_offset);
    return r;
  }

  /** Up to `count` records from `offset` (clamped to first_offset). */
  read(ns: string, s: string, offset: number, count: number): { records: StreamRecord[]; next_offset: number; first_offset: number } {
    const m = this.metaOf(ns, s);
    const start = Math.max(offset, m.first_offset);
    const records: StreamRecord[] = [];
    for (const { key, value } of this.recs.getRange({ start: [ns, s, start], end: [ns, s, m.next_offset], limit: count })) {
      records.push({ offset: key[2], timestamp: value.readDoubleLE(0), payload: value.toString('base64', 8) });
    }
    const next = records.length ? records[records.length - 1].offset + 1 : Math.min(start, m.next_offset);
    return { records, next_offset: next, first_offset: m.first_offset };
  }

  info(ns: string, s: string): StreamInfo {
    const m = this.metaOf(ns, s);
    return {
      name: s,
      first_offset: m.first_offset,
      last_offset: m.next_offset - 1,
      record_count: m.next_offset - m.first_offset,
      consumer_groups: Object.keys(m.groups).sort(),
      retention: m.retention,
    };
  }

  async setRetention(ns: string, s: string, r: Partial<Retention>): Promise<Retention> {
    const out = await this.env.transaction(() => {
      const m = this.metaOf(ns, s);
      m.retention = { ...m.retention, ...r };
      this.meta.putSync([ns, s], m);
      return m.retention;
    });
    await this.trim(ns, s);
    return out;
  }

  async createGroup(ns: string, s: string, group: string, start: 'earliest' | 'latest' | number): Promise<{ group: string; committed_offset: number } | StreamError> {
    return this.env.transaction(() => {
      const m = this.metaOf(ns, s);
      if (Object.hasOwn(m.groups, group)) return { code: 'group_exists', message: `consumer group '${group}' already exists on stream '${s}'` } as StreamError;
      const at = start === 'earliest' ? m.first_offset : start === 'latest' ? m.next_offset : start;
      if (at < 0 || at > m.next_offset) return { code: 'offset_out_of_range', message: `start offset ${at} is outside 0..${m.next_offset}` } as StreamError;
      m.groups[group] = at;
      this.meta.putSync([ns, s], m);
      return { group, committed_offset: at };
    });
  }

  /** Reads from the group's committed offset; does not move it (commit does). */
  readGroup(ns: string, s: string, group: string, count: number): ({ records: StreamRecord[]; next_offset: number; committed_offset: number }) | StreamError {
    const m = this.metaOf(ns, s);
    // Group names are the client's ("constructor" is a valid one): own keys only.
    const at = Object.hasOwn(m.groups, group) ? m.groups[group] : undefined;
    if (at === undefined) return { code: 'group_not_found', message: `no consumer group '${group}' on stream '${s}'` };
    const r = this.read(ns, s, at, count);
    return { records: r.records, next_offset: r.next_offset, committed_offset: at };
  }

  async commit(ns: string, s: string, group: string, offset: number): Promise<{ group: string; committed_offset: number } | StreamError> {
    return this.env.transaction(() => {
      const m = this.metaOf(ns, s);
      if (!Object.hasOwn(m.groups, group)) return { code: 'group_not_found', message: `no consumer group '${group}' on stream '${s}'` } as StreamError;
      if (offset < 0 || offset > m.next_offset) return { code: 'offset_out_of_range', message: `offset ${offset} is outside 0..${m.next_offset}` } as StreamError;
      m.groups[group] = offset;
      this.meta.putSync([ns, s], m);
      return { group, committed_offset: offset };
    });
  }

  /** Applies one stream's retention: drops records past max_records or older than max_age_ms. */
  async trim(ns: string, s: string, now = Date.now()): Promise<number> {
    return this.env.transaction(() => {
      const m = this.meta.get([ns, s]);
      if (!m) return 0;
      const { max_records, max_age_ms } = m.retention;
      let cut = m.first_offset;
      if (max_records > 0) cut = Math.max(cut, m.next_offset - max_records);
      if (max_age_ms > 0) {
        for (const { key, value } of this.recs.getRange({ start: [ns, s, cut], end: [ns, s, m.next_offset] })) {
          if (value.readDoubleLE(0) > now - max_age_ms) break;
          cut = key[2] + 1;
        }
      }
      if (cut <= m.first_offset) return 0;
      for (let o = m.first_offset; o < cut; o++) this.recs.removeSync([ns, s, o]);
      const n = cut - m.first_offset;
      m.first_offset = cut;
      this.meta.putSync([ns, s], m);
      return n;
    });
  }

  async trimAll(): Promise<number> {
    if (this.trimming) return 0;
    this.trimming = true;
    let n = 0;
    try {
      for (const { key, value } of this.meta.getRange({})) {
        if (value.retention.max_records > 0 || value.retention.max_age_ms > 0) n += await this.trim(key[0], key[1]);
      }
    } finally {
      this.trimming = false;
    }
    this.trimmed += n;
    return n;
  }

  async close(): Promise<void> {
    if (this.trimTimer) clearInterval(this.trimTimer);
    await this.env.close();
  }
}

export function isStreamError(x: unknown): x is StreamError {
  return typeof x === 'object' && x !== null && 'code' in x && 'message' in x && !('records' in x);
}
