// One partition = one LMDB environment (its own file, its own write lock and fsync), so
// partitions commit in parallel. The main thread and the workers open the same paths; lmdb-js
// shares one environment per path inside the process.
import { loadLmdb } from '../native';
import type { Database, RootDatabase } from 'lmdb';

export interface PartitionHandles {
  env: RootDatabase;
  kv: Database<Buffer, string>;
  ttl: Database<Buffer, [number, string]>;
}

export function openPartition(path: string): PartitionHandles {
  const { lmdb } = loadLmdb();
  const env = lmdb.open({
    path,
    // Durability rule: a commit returns only after fdatasync. overlappingSync would let a
    // commit resolve before its flush, which breaks "acknowledged means on disk".
    overlappingSync: false,
    noSync: false,
    compression: false,
    encoding: 'binary',
    maxDbs: 8,
    noMemInit: true,
  }) as RootDatabase;
  const kv = env.openDB<Buffer, string>({ name: 'kv', encoding: 'binary' });
  const ttl = env.openDB<Buffer, [number, string]>({ name: 'ttl', encoding: 'binary' });
  return { env, kv, ttl };
}
