// The write path of KV, run inside one LMDB write transaction per batch. Pure over the
// handles it is given, so the same code runs in a pool worker (transactionSync) or on the
// main thread (lmdb-js async transaction), whichever the write mode (write-modes.ts).
import type { PartitionHandles } from '../base/partition';
import { OpKind, ResultKind, type WriteOp, type WriteResult, type ReapResult } from '../base/messages';
import { encodeRecord, isExpired, recordExpiresAt, recordVersion } from './record';

const EMPTY = Buffer.alloc(0);

/** Applies `ops` in order; must be called inside a write transaction on `h.env`. */
export function applyOps(h: PartitionHandles, ops: WriteOp[], now: number): WriteResult[] {
  const out: WriteResult[] = new Array(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const cur = h.kv.getBinary(op.key);
    const live = cur !== undefined && !isExpired(cur, now);
    const curVersion = live ? recordVersion(cur!) : 0;
    if (op.kind === OpKind.Put) {
      if ((op.ifNotExists && live) || (op.casVersion >= 0 && op.casVersion !== curVersion)) {
        out[i] = { r: ResultKind.Conflict, version: curVersion };
        continue;
      }
      if (cur !== undefined) dropTtlEntry(h, op.key, cur);
      const version = curVersion + 1;
      h.kv.putSync(op.key, encodeRecord(version, op.expiresAt, op.value));
      if (op.expiresAt !== 0) h.ttl.putSync([op.expiresAt, op.key], EMPTY);
      out[i] = { r: ResultKind.Ok, version };
    } else {
      if (!live) {
        out[i] = op.casVersion > 0 ? { r: ResultKind.Conflict, version: 0 } : { r: ResultKind.NotFound, version: 0 };
        continue;
      }
      if (op.casVersion >= 0 && op.casVersion !== curVersion) {
        out[i] = { r: ResultKind.Conflict, version: curVersion };
        continue;
      }
      dropTtlEntry(h, op.key, cur!);
      h.kv.removeSync(op.key);
      out[i] = { r: ResultKind.Ok, version: curVersion };
    }
  }
  return out;
}

function dropTtlEntry(h: PartitionHandles, key: string, rec: Uint8Array): void {
  const e = recordExpiresAt(rec);
  if (e !== 0) h.ttl.removeSync([e, key]);
}

/** Deletes up to `limit` records whose TTL passed; must run inside a write transaction. */
export function reapExpired(h: PartitionHandles, now: number, limit: number): ReapResult {
  let removed = 0;
  let more = false;
  const due: Array<[number, string]> = [];
  for (const k of h.ttl.getKeys({ end: [now, '\uffff'] })) {
    if (due.length >= limit) { more = true; break; }
    due.push(k as [number, string]);
  }
  for (const [expiresAt, key] of due) {
    h.ttl.removeSync([expiresAt, key]);
    const rec = h.kv.getBinary(key);
    // Only remove the record if it is still the one this index entry was written for.
    if (rec !== undefined && recordExpiresAt(rec) === expiresAt && expiresAt <= now) {
      h.kv.removeSync(key);
      removed++;
    }
  }
  return { removed, more };
}
