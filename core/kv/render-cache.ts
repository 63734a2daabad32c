// The read cache: rendered GET bodies (and decoded entries for the binary protocol's kv_get)
// of keys without TTL, dropped when a write to the key commits.
import type { WriteOp } from '../base/messages';
import type { KvEntry } from './reads';

/**
 * Rendered GET bodies by storage key, bounded in bytes, oldest first out. Entries are dropped
 * when a write to their key commits (group-commit.ts), so a hit is always the committed value.
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
