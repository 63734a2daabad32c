// One partition = one LMDB environment (its own file, its own write lock and fsync), so
// partitions commit in parallel. The main thread and the workers open the same paths; lmdb-js
// shares one environment per path inside the process.
import { loadLmdb } from '../../native';
import type { Database, RootDatabase } from 'lmdb';

export interface PartitionHandles {
  env: RootDatabase;
  kv: Database<Buffer, string>;
  ttl: Database<Buffer, [number, string]>;
}

/**
 * `overlappingSync` (lmdb-js): the next transaction may commit while the previous one is still
 * being fdatasync'ed. Write promises still resolve only after the flush (we do not set
 * separateFlushed), so "acknowledged means on disk" holds; transactionSync always flushes before
 * returning whatever this flag says.
 */
export function openPartition(path: string, overlappingSync = false): PartitionHandles {
  const { lmdb } = loadLmdb();
  const env = lmdb.open({
    path,
    overlappingSync,
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
