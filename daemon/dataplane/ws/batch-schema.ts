// The binary batch protocol's schema (daemon/dataplane/ws/batch.proto), loaded once with protobufjs, and
// the plain-object shapes of its messages as this codebase uses them (numbers for 64-bit ints,
// Uint8Array for bytes). Shared by the server (batch.ts) and the client (client/ws-batch-client.ts).
import path from 'node:path';
import type protobuf from 'protobufjs';
import { loadProto } from '../../base/proto';

/** The .proto stays in the source tree: from dist/daemon/dataplane/ws up to the repo root, then down. */
const schema = loadProto([path.join(__dirname, '..', '..', '..', '..', 'daemon', 'dataplane', 'ws', 'batch.proto'), path.join(__dirname, 'batch.proto')]);
export const PROTO_PATH = schema.file;
const root = schema.root;

export const BatchRequestType = root.lookupType('outpost.ws.v1.BatchRequest');
export const BatchResponseType = root.lookupType('outpost.ws.v1.BatchResponse');


export interface KvGet { namespace: string; key: string }
export interface KvPut { namespace: string; key: string; value?: Uint8Array; ttl_seconds?: number; if_not_exists?: boolean; cas_version?: number }
export interface KvDel { namespace: string; key: string; cas_version?: number }
export interface QueueEnqueue { namespace: string; queue: string; payload?: Uint8Array; priority?: number; delay_ms?: number; dedup_key?: string }
export interface QueueDequeue { namespace: string; queue: string; count?: number; visibility_timeout_ms?: number; wait_ms?: number }
export interface QueueNack { namespace: string; queue: string; sequences: number[]; delay_ms?: number }
export interface KvScan { namespace: string; prefix?: string; limit?: number; cursor?: string; values?: boolean }
export interface StreamGroupRead { namespace: string; stream: string; group: string; count?: number }
export interface StreamGroupCommit { namespace: string; stream: string; group: string; offset: number }
export interface QueueAck { namespace: string; queue: string; sequences: number[] }
export interface StreamAppend { namespace: string; stream: string; payloads: Uint8Array[] }
export interface StreamRead { namespace: string; stream: string; offset?: number; count?: number }

/** One operation: exactly one member set. */
export type Op =
  | { kv_get: KvGet } | { kv_put: KvPut } | { kv_del: KvDel }
  | { queue_enqueue: QueueEnqueue } | { queue_dequeue: QueueDequeue } | { queue_ack: QueueAck }
  | { stream_append: StreamAppend } | { stream_read: StreamRead }
  | { kv_scan: KvScan } | { queue_nack: QueueNack } | { stream_group_read: StreamGroupRead } | { stream_group_commit: StreamGroupCommit };

export interface LeasedMessage { sequence: number; payload: Uint8Array; priority: number; delivery_count: number; lease_deadline: number; enqueued_at: number }
export interface StreamRecordBin { offset: number; timestamp: number; payload: Uint8Array }

export interface Result {
  status: number;
  /** Empty (or absent before encoding) on success. */
  error?: string;
  message?: string;
  kv_value?: { value: Uint8Array; version: number; ttl_remaining: number };
  kv_version?: { version: number };
  current_version?: number;
  enqueued?: { sequence: number; duplicate: boolean };
  leased?: { messages: LeasedMessage[] };
  acked?: { acked: number[]; not_found: number[] };
  appended?: { first_offset: number; last_offset: number; timestamp: number };
  records?: { records: StreamRecordBin[]; next_offset: number; first_offset: number; committed_offset?: number };
  kv_scan_page?: { keys: Array<{ key: string; value: Uint8Array; version: number; ttl_remaining: number }>; next_cursor: string };
  nacked?: { released: number[]; not_found: number[] };
  group_offset?: { group: string; committed_offset: number };
}

export interface BatchRequest { batch_id: number; ops: Op[] }
export interface BatchResponse { batch_id: number; results: Result[] }

export function encodeRequest(req: BatchRequest): Uint8Array {
  return BatchRequestType.encode(req as unknown as protobuf.Message).finish();
}

/**
 * Decodes a BatchResponse without a toObject pass (2-3× faster on 1,000 results): fields that
 * were not sent read as their proto3 defaults from the message prototype ("" / 0 / []).
 */
export function decodeResponse(buf: Uint8Array): BatchResponse {
  return BatchResponseType.decode(buf) as unknown as BatchResponse;
}
