// Namespace registry and node identity, kept in a small LMDB environment of their own.
import { randomUUID } from 'node:crypto';
import { loadLmdb } from '../../native';
import type { RootDatabase, Database } from 'lmdb';
import { CoreError } from './errors';

export const NAMESPACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export interface NamespaceInfo { name: string; created_at: string }

/** What the data-plane routes use of the registry. */
export type Namespaces = Pick<MetaStore, 'has' | 'get' | 'list' | 'create' | 'require'>;

export class MetaStore {
  readonly env: RootDatabase;
  private readonly ns: Database<NamespaceInfo, string>;
  private readonly settings: Database<unknown, string>;
  private readonly cache = new Map<string, NamespaceInfo>();

  /** @param autoCreate a write to a missing namespace creates it (kv.auto_create_namespaces). */
  constructor(path: string, private readonly autoCreate = false) {
    const { lmdb } = loadLmdb();
    this.env = lmdb.open({ path, overlappingSync: false, compression: false, maxDbs: 4 }) as RootDatabase;
    this.ns = this.env.openDB<NamespaceInfo, string>({ name: 'namespaces', encoding: 'msgpack' });
    this.settings = this.env.openDB<unknown, string>({ name: 'settings', encoding: 'msgpack' });
    for (const { key, value } of this.ns.getRange({})) this.cache.set(key, value);
  }

  /** A setting that is written once and then only read (node id, partition count). */
  getOrInit<T>(key: string, init: () => T): T {
    const cur = this.settings.get(key) as T | undefined;
    if (cur !== undefined) return cur;
    const v = init();
    this.env.transactionSync(() => this.settings.putSync(key, v));
    return v;
  }

  nodeId(): string {
    return this.getOrInit('node_id', () => randomUUID());
  }

  has(name: string): boolean {
    return this.cache.has(name);
  }

  get(name: string): NamespaceInfo | undefined {
    return this.cache.get(name);
  }

  list(): NamespaceInfo[] {
    return [...this.cache.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Throws unless `ns` exists; a write may auto-create it. */
  require(ns: string, forWrite: boolean): void {
    if (this.cache.has(ns)) return;
    if (!NAMESPACE_RE.test(ns)) throw new CoreError('CORE_NAMESPACE_INVALID', undefined, { field: 'namespace', value: ns });
    if (forWrite && this.autoCreate) { this.create(ns, true); return; }
    throw new CoreError('CORE_NAMESPACE_NOT_FOUND', `namespace '${ns}' does not exist`, { namespace: ns });
  }

  /** Creates a namespace durably. `existsOk` makes it idempotent (auto-create on first write). */
  create(name: string, existsOk: boolean): NamespaceInfo {
    if (!NAMESPACE_RE.test(name)) throw new CoreError('CORE_NAMESPACE_INVALID', undefined, { field: 'name', value: name });
    const cur = this.cache.get(name);
    if (cur) {
      if (existsOk) return cur;
      throw new CoreError('CORE_NAMESPACE_EXISTS', `namespace '${name}' already exists`, { name });
    }
    const info: NamespaceInfo = { name, created_at: new Date().toISOString() };
    this.env.transactionSync(() => this.ns.putSync(name, info));
    this.cache.set(name, info);
    return info;
  }

  close(): Promise<void> {
    return this.env.close();
  }
}
