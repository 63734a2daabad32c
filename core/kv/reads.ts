// KV reads, on the main thread and synchronous: straight from LMDB's memory map (the cheapest
// place to read, measured in bench/), through the render cache for keys without TTL.
import type { MetaStore } from '../base/namespaces';
import type { PartitionHandles } from '../base/partition';
import { HEADER_BYTES, isExpired, namespacePrefix, partitionOf, recordExpiresAt, recordVersion, storageKey } from './record';
import type { RenderCache } from './render-cache';

export interface KvEntry { key: string; value: Buffer; version: number; expiresAt: number }

export class KvReader {
  /** Reads served, per partition (metrics). */
  protected readonly reads: number[];

  constructor(
    protected readonly namespaces: MetaStore,
    protected readonly parts: readonly PartitionHandles[],
    readonly cache: RenderCache,
  ) {
    this.reads = parts.map(() => 0);
  }

  get partitionCount(): number { return this.parts.length; }

  /**
   * Calls `fn` with the live record's bytes, or returns undefined. The buffer is only valid
   * during the call (getBinaryFast reuses it), which lets a GET encode straight from LMDB's map.
   */
  read<T>(ns: string, key: string, fn: (rec: Buffer, version: number, expiresAt: number) => T): T | undefined {
    if (!this.namespaces.has(ns)) this.namespaces.require(ns, false);
    const sk = storageKey(ns, key);
    const p = partitionOf(sk, this.parts.length);
    this.reads[p]++;
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
      this.reads[partitionOf(sk, this.parts.length)]++;
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
      this.reads[partitionOf(sk, this.parts.length)]++;
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
    this.namespaces.require(ns, false);
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
}
