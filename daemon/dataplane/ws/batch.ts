// The binary batch protocol (daemon/dataplane/ws/batch.proto): one binary frame holds many KV / queue /
// stream operations; they run in order through the same engine and store methods as the HTTP
// routes, and one binary frame answers them all once every write of the batch is durable.
// Consecutive writes (KV, enqueue, ack, nack, append, group commit) are submitted together (not
// awaited one by one) so they group-commit; reads and dequeues first wait for the writes before
// them, so they see earlier writes of the same batch.
import type { KvStore, Namespaces } from '../../../core';
import type { QueueStore } from '../../../core/queue';
import type { StreamStore } from '../../../core/stream';
import { NAMESPACE_RE } from '../../../core';
import { isStreamError, type StreamError } from '../../../core/stream';
import { HttpError, toHttpError } from '../../base/errors';
import { checkKey, conflict, notFound, ttlRemaining } from '../kv-wire';
import type protobuf from 'protobufjs';
import { BatchRequestType, BatchResponseType, type Op, type Result } from './batch-schema';

export const MAX_BATCH_OPS = 10_000;
/** KV writes of one batch in flight at once (well under core.max_inflight, default 10,000). */
export const KV_WINDOW = 1000;
/**
 * Bytes of values/payloads one response may carry (under the socket's 4 MiB maxBackpressure);
 * reads past it are answered 413 so the client splits the batch.
 */
export const MAX_RESPONSE_BYTES = 3 << 20;

export interface BatchDeps { kv: KvStore; namespaces: Namespaces; queues: QueueStore; streams: StreamStore }

// Results are encoded straight from these plain objects (no fromObject pass); empty strings are
// left out, as proto3 would not send them anyway.
const ok = (body: Omit<Result, 'status' | 'error' | 'message'>): Result => ({ status: 200, ...body });

function fail(e: unknown): Result {
  const h = toHttpError(e);
  const r: Result = { status: h.status, error: h.code, message: h.message };
  if (h.extra && typeof h.extra.current_version === 'number') r.current_version = h.extra.current_version;
  return r;
}

const bad = (message: string) => new HttpError('bad_request', message);

function checkName(field: string, v: string): void {
  if (!NAMESPACE_RE.test(v)) throw bad(`${field} must match ${NAMESPACE_RE.source}`);
}

function intIn(field: string, v: number, min: number, max: number): number {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw bad(`${field} must be an integer ${min}..${max}`);
  return v;
}

function response(batchId: number, results: Result[]): Uint8Array {
  // Plain objects with the schema's JS types (numbers, Uint8Array) encode directly.
  return BatchResponseType.encode({ batch_id: batchId, results } as unknown as protobuf.Message).finish();
}

/** kv_get, synchronous: reads never wait for anything but the KV writes before them. */
function kvGet(kv: KvStore, o: { namespace: string; key: string }, now: number): Result {
  checkKey(o.key, 'key');
  const e = kv.getCached(o.namespace, o.key);
  if (!e) throw notFound(o.namespace, o.key);
  return { status: 200, kv_value: { value: e.value, version: e.version, ttl_remaining: ttlRemaining(e.expiresAt, now) ?? 0 } };
}

/** The answer to a frame that is not a BatchRequest. */
export function badFrame(message: string): Uint8Array {
  return response(0, [{ status: 400, error: 'bad_request', message }]);
}

/**
 * Decodes a BatchRequest frame, runs its ops in order and encodes the BatchResponse. Resolves
 * only after every write of the batch is durable. Never rejects: failures become results.
 * `frame` must stay valid until the promise settles (copy uWS's ArrayBuffer first).
 */
export async function handleBatch(frame: Uint8Array, deps: BatchDeps): Promise<Uint8Array> {
  let req: { batch_id: number; ops: Op[] };
  try {
    // Read straight from the decoded message (64-bit ints are numbers, see daemon/base/proto.ts);
    // unset fields read as their proto3 defaults from its prototype, an unset `optional` as null.
    req = BatchRequestType.decode(frame) as unknown as typeof req;
  } catch (e) {
    return badFrame(`binary frame is not a BatchRequest: ${(e as Error).message}`);
  }
  const id = req.batch_id;
  if (req.ops.length > MAX_BATCH_OPS) {
    return response(id, [{ status: 413, error: 'payload_too_large', message: `a batch holds at most ${MAX_BATCH_OPS} ops; this one has ${req.ops.length}` }]);
  }
  const { kv } = deps;
  const results: Result[] = new Array(req.ops.length);
  let pending: Array<Promise<void>> = [];
  let bytes = 0;
  const settle = async (): Promise<void> => {
    if (!pending.length) return;
    const p = pending;
    pending = [];
    await Promise.all(p);
  };

  for (let i = 0; i < req.ops.length; i++) {
    const op = req.ops[i] as Partial<Record<string, any>>;
    try {
      if (op.kv_get && !pending.length) {
        // The hot read path: no await, no allocation beyond the result.
        if (bytes > MAX_RESPONSE_BYTES) throw tooBig();
        const r = kvGet(kv, op.kv_get, Date.now());
        const n = r.kv_value!.value.length;
        if (bytes + n > MAX_RESPONSE_BYTES) throw tooBig();
        bytes += n;
        results[i] = r;
        continue;
      }
      if (op.kv_put) {
        const o = op.kv_put;
        checkKey(o.key, 'key');
        const ttl = intIn('ttl_seconds', o.ttl_seconds, 0, 315360000);
        if (o.cas_version !== undefined && o.cas_version !== null) intIn('cas_version', o.cas_version, 0, Number.MAX_SAFE_INTEGER);
        if (pending.length >= KV_WINDOW) await settle();
        pending.push(kv.put(o.namespace, o.key, {
          value: o.value, ttlSeconds: ttl || undefined, ifNotExists: o.if_not_exists, casVersion: o.cas_version ?? undefined,
        }).then(
          (out) => { results[i] = out.ok ? ok({ kv_version: { version: out.version } }) : fail(conflict(o.namespace, o.key, out.currentVersion)); },
          (e) => { results[i] = fail(e); },
        ));
        continue;
      }
      if (op.kv_del) {
        const o = op.kv_del;
        checkKey(o.key, 'key');
        if (o.cas_version !== undefined && o.cas_version !== null) intIn('cas_version', o.cas_version, 0, Number.MAX_SAFE_INTEGER);
        if (pending.length >= KV_WINDOW) await settle();
        pending.push(kv.del(o.namespace, o.key, o.cas_version ?? undefined).then(
          (out) => {
            results[i] = out.ok ? ok({ kv_version: { version: out.version } })
              : fail(out.notFound ? notFound(o.namespace, o.key) : conflict(o.namespace, o.key, out.currentVersion));
          },
          (e) => { results[i] = fail(e); },
        ));
        continue;
      }
      if (op.queue_enqueue || op.stream_append || op.queue_ack || op.queue_nack || op.stream_group_commit) {
        // Writes are submitted without waiting for the previous one: their transactions run in
        // submission order and commit together, instead of one fsync each.
        if (pending.length >= KV_WINDOW) await settle();
        pending.push(runOther(op, deps).then((r) => { results[i] = r; }, (e) => { results[i] = fail(e); }));
        continue;
      }
      // Reads (and dequeue) run after the writes before them have committed.
      await settle();
      const isRead = Boolean(op.kv_get || op.stream_read || op.queue_dequeue || op.kv_scan || op.stream_group_read);
      if (isRead && bytes > MAX_RESPONSE_BYTES) throw tooBig();
      const r = await runOther(op, deps);
      const n = payloadBytes(r);
      // Pure reads past the budget are refused; a dequeue has leased already, so it is sent.
      if (n && bytes + n > MAX_RESPONSE_BYTES && !op.queue_dequeue) throw tooBig();
      bytes += n;
      results[i] = r;
    } catch (e) {
      results[i] = fail(e);
    }
  }
  await settle();
  return response(id, results);
}

const tooBig = () => new HttpError('payload_too_large', `the response would carry more than ${MAX_RESPONSE_BYTES} bytes of values; split the batch`);

function payloadBytes(r: Result): number {
  if (r.kv_value) return r.kv_value.value.length;
  let n = 0;
  if (r.kv_scan_page) for (const x of r.kv_scan_page.keys) n += x.value.length + x.key.length;
  if (r.records) for (const x of r.records.records) n += x.payload.length;
  if (r.leased) for (const x of r.leased.messages) n += x.payload.length;
  return n;
}

async function runOther(op: Partial<Record<string, any>>, { kv, namespaces, queues, streams }: BatchDeps): Promise<Result> {
  if (op.kv_get) return kvGet(kv, op.kv_get, Date.now());
  if (op.queue_enqueue) {
    const o = op.queue_enqueue;
    checkName('queue', o.queue);
    const priority = intIn('priority', o.priority, -1000000, 1000000);
    const delayMs = intIn('delay_ms', o.delay_ms, 0, 31536000000);
    if (o.dedup_key.length > 256) throw bad('dedup_key must be at most 256 characters');
    namespaces.require(o.namespace, true);
    const r = await queues.enqueue(o.namespace, o.queue, { payload: Buffer.from(o.payload), priority, delayMs, dedupKey: o.dedup_key || undefined });
    return ok({ enqueued: { sequence: r.seq, duplicate: r.duplicate } });
  }
  if (op.queue_dequeue) {
    const o = op.queue_dequeue;
    checkName('queue', o.queue);
    const count = intIn('count', o.count || 1, 1, 1000);
    const vis = intIn('visibility_timeout_ms', o.visibility_timeout_ms || 30000, 1, 43200000);
    namespaces.require(o.namespace, false);
    const waitMs = intIn('wait_ms', o.wait_ms, 0, 60000);
    const got = await queues.dequeue(o.namespace, o.queue, count, vis, waitMs);
    return ok({
      leased: {
        messages: got.map((m) => ({
          sequence: m.seq, payload: Buffer.from(m.payload, 'base64'), priority: m.priority,
          delivery_count: m.delivery_count, lease_deadline: m.lease_deadline, enqueued_at: m.enqueued_at,
        })),
      },
    });
  }
  if (op.queue_ack) {
    const o = op.queue_ack;
    checkName('queue', o.queue);
    const seqs = o.sequences as number[];
    if (!seqs.length || seqs.length > 10000 || !seqs.every((s) => Number.isSafeInteger(s) && s >= 1)) throw bad('sequences must hold 1..10000 sequences, each >= 1');
    namespaces.require(o.namespace, false);
    return ok({ acked: await queues.ack(o.namespace, o.queue, seqs) });
  }
  if (op.stream_append) {
    const o = op.stream_append;
    checkName('stream', o.stream);
    const payloads = o.payloads as Uint8Array[];
    if (!payloads.length || payloads.length > 10000) throw bad('payloads must hold 1..10000 records');
    namespaces.require(o.namespace, true);
    const r = await streams.append(o.namespace, o.stream, payloads.map((p) => Buffer.from(p)));
    return ok({ appended: { first_offset: r.first_offset, last_offset: r.last_offset, timestamp: r.timestamp } });
  }
  if (op.stream_read) {
    const o = op.stream_read;
    checkName('stream', o.stream);
    const count = intIn('count', o.count || 100, 1, 10000);
    const offset = intIn('offset', o.offset, 0, Number.MAX_SAFE_INTEGER);
    namespaces.require(o.namespace, false);
    if (!streams.exists(o.namespace, o.stream)) throw new HttpError('not_found', `stream '${o.stream}' does not exist in namespace '${o.namespace}'`, { namespace: o.namespace, stream: o.stream });
    const r = streams.read(o.namespace, o.stream, offset, count);
    return ok({
      records: {
        records: r.records.map((rec) => ({ offset: rec.offset, timestamp: rec.timestamp, payload: Buffer.from(rec.payload, 'base64') })),
        next_offset: r.next_offset, first_offset: r.first_offset,
      },
    });
  }
  if (op.queue_nack) {
    const o = op.queue_nack;
    checkName('queue', o.queue);
    const seqs = o.sequences as number[];
    if (!seqs.length || seqs.length > 10000 || !seqs.every((s) => Number.isSafeInteger(s) && s >= 1)) throw bad('sequences must hold 1..10000 sequences, each >= 1');
    const delayMs = intIn('delay_ms', o.delay_ms, 0, 31536000000);
    namespaces.require(o.namespace, false);
    return ok({ nacked: await queues.nack(o.namespace, o.queue, seqs, delayMs) });
  }
  if (op.kv_scan) {
    const o = op.kv_scan;
    const limit = intIn('limit', o.limit || 100, 1, 1000);
    if (Buffer.byteLength(o.prefix) > 1024) throw bad('prefix must be at most 1024 bytes');
    let after: string | undefined;
    if (o.cursor) {
      after = Buffer.from(o.cursor, 'base64url').toString('utf8');
      if (!after.startsWith(o.prefix)) throw bad('cursor does not belong to this prefix');
    }
    namespaces.require(o.namespace, false);
    const { items, next } = kv.scan(o.namespace, o.prefix, limit, after, o.values ? MAX_RESPONSE_BYTES : undefined);
    const now = Date.now();
    return ok({
      kv_scan_page: {
        keys: items.map((e) => ({ key: e.key, value: o.values ? e.value : new Uint8Array(0), version: e.version, ttl_remaining: ttlRemaining(e.expiresAt, now) ?? 0 })),
        next_cursor: next === null ? '' : Buffer.from(next).toString('base64url'),
      },
    });
  }
  if (op.stream_group_read) {
    const o = op.stream_group_read;
    checkName('stream', o.stream);
    checkName('group', o.group);
    const count = intIn('count', o.count || 100, 1, 10000);
    knownStream(namespaces, streams, o.namespace, o.stream);
    const r = groupResult(streams.readGroup(o.namespace, o.stream, o.group, count));
    return ok({
      records: {
        records: r.records.map((rec) => ({ offset: rec.offset, timestamp: rec.timestamp, payload: Buffer.from(rec.payload, 'base64') })),
        next_offset: r.next_offset, first_offset: streams.info(o.namespace, o.stream).first_offset, committed_offset: r.committed_offset,
      },
    });
  }
  if (op.stream_group_commit) {
    const o = op.stream_group_commit;
    checkName('stream', o.stream);
    checkName('group', o.group);
    const offset = intIn('offset', o.offset, 0, Number.MAX_SAFE_INTEGER);
    knownStream(namespaces, streams, o.namespace, o.stream);
    return ok({ group_offset: groupResult(await streams.commit(o.namespace, o.stream, o.group, offset)) });
  }
  throw bad('op has no operation set (kv_get, kv_put, kv_del, kv_scan, queue_enqueue, queue_dequeue, queue_ack, queue_nack, stream_append, stream_read, stream_group_read or stream_group_commit)');
}

function knownStream(namespaces: Namespaces, streams: StreamStore, ns: string, s: string): void {
  namespaces.require(ns, false);
  if (!streams.exists(ns, s)) throw new HttpError('not_found', `stream '${s}' does not exist in namespace '${ns}'`, { namespace: ns, stream: s });
}

function groupResult<T>(r: T | StreamError): T {
  if (!isStreamError(r)) return r;
  if (r.code === 'group_not_found') throw new HttpError('not_found', r.message, { code: r.code });
  if (r.code === 'group_exists') throw new HttpError('conflict', r.message, { code: r.code });
  throw bad(r.message);
}
