// On-disk layout of one KV record, kept binary so a GET is a single LMDB read with no decode step:
//   [0..8)   version     float64 LE (1, 2, 3 … per key; integers well inside 2^53)
//   [8..16)  expires_at  float64 LE, milliseconds since the epoch, 0 = never
//   [16..)   value bytes
export const HEADER_BYTES = 16;

export function encodeRecord(version: number, expiresAt: number, value: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + value.length);
  buf.writeDoubleLE(version, 0);
  buf.writeDoubleLE(expiresAt, 8);
  buf.set(value, HEADER_BYTES);
  return buf;
}

export function recordVersion(buf: Uint8Array): number {
  return (buf as Buffer).readDoubleLE(0);
}

export function recordExpiresAt(buf: Uint8Array): number {
  return (buf as Buffer).readDoubleLE(8);
}

export function isExpired(buf: Uint8Array, now: number): boolean {
  const e = recordExpiresAt(buf);
  return e !== 0 && e <= now;
}

const SEP = ':';
/** Storage key of `key` in `namespace`. Namespace names cannot contain ':', so the first ':' splits. */
export function storageKey(namespace: string, key: string): string {
  return namespace + SEP + key;
}
export function namespacePrefix(namespace: string): string {
  return namespace + SEP;
}

/** FNV-1a over UTF-16 code units: cheap, stable across restarts, spreads short keys well. */
export function partitionOf(storage: string, partitions: number): number {
  if (partitions === 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < storage.length; i++) {
    h ^= storage.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
