// The tunnel's wire schema (tunnel.proto next to this file), loaded once with protobufjs, and
// the plain-object shapes of its messages (numbers for 64-bit ints, Uint8Array for bytes).
// Shared by the admin hub and the agent client.
import path from 'node:path';
import type protobuf from 'protobufjs';
import { loadProto } from '../base/proto';

/** The .proto stays in the source tree: from dist/daemon/admin/tunnel up to the repo root, then down. */
const schema = loadProto([path.join(__dirname, '..', '..', '..', 'daemon', 'tunnel', 'tunnel.proto'), path.join(__dirname, 'tunnel.proto')]);
export const PROTO_PATH = schema.file;
const root = schema.root;

export const EnvelopeType = root.lookupType('outpost.tunnel.v1.Envelope');

const TO_OBJECT: protobuf.IConversionOptions = { longs: Number, defaults: false, arrays: true, oneofs: false };

export interface Hello { node_id: string; api_token?: string; agent_version?: string; host_name?: string; capabilities?: string[]; last_acked_seq?: number; credentials_version?: number; outbox_pending?: number; facts?: NodeFacts }
/** Ports (0 = not running) and the proxy password of user `_`, reported in every Hello. */
export interface NodeFacts { http_port?: number; ssh_port?: number; http_proxy_port?: number; socks5_proxy_port?: number; host_metrics_port?: number; proxy_password?: string }
export interface HelloOk { node_id: string; cluster_name?: string; heartbeat_interval_ms?: number; server_time?: number }
export interface HelloError { code: string; message: string; retry?: boolean }
export interface Heartbeat { time: number; load_1m?: number; mem_used_bytes?: number; mem_total_bytes?: number; commands_running?: number; commands_queued?: number; outbox_pending?: number; uptime_s?: number }
export interface HeartbeatAck { time: number }
export type MetricsKind = 'host' | 'agent' | 'unified';
export interface MetricsRequest { request_id: number; kind: MetricsKind }
export interface MetricsResponse { request_id: number; ok?: boolean; json?: Uint8Array; error?: string }
export interface CommandDeliver { execution_id: string; command_id?: string; command_text: string; timeout_ms?: number; expired_at?: number }
export interface CommandCancel { execution_id: string }
export type ResultStatus = 'completed' | 'cancelled' | 'expired';
export interface CommandResult {
  execution_id: string; status: ResultStatus; exit_code?: number; output?: string; output_truncated?: boolean; output_dropped_bytes?: number;
  error?: string; started_at?: number; completed_at?: number; cancelled_at?: number;
}
export interface CommandOutput { execution_id: string; offset?: number; data?: string }
export interface SshUser { username: string; password_hash?: string; public_keys?: Array<{ id?: string; public_key: string; key_name?: string; fingerprint?: string }> }
export interface CredentialSync { version: number; users?: SshUser[] }
export interface CredentialAck { version: number }
export interface StreamOpen { stream_id: number; target: string }
export interface StreamOpened { stream_id: number; ok?: boolean; error?: string }
export interface StreamData { stream_id: number; data?: Uint8Array; window?: number }
export interface StreamClose { stream_id: number; reason?: string }
export interface TunnelEvent { id: string; type: string; time: number; json?: Uint8Array }

/** One frame: at most one body member set (none = an ack alone). */
export interface Envelope {
  seq?: number;
  ack?: number;
  hello?: Hello; hello_ok?: HelloOk; hello_error?: HelloError;
  heartbeat?: Heartbeat; heartbeat_ack?: HeartbeatAck;
  metrics_request?: MetricsRequest; metrics_response?: MetricsResponse;
  command_deliver?: CommandDeliver; command_cancel?: CommandCancel; command_result?: CommandResult; command_output?: CommandOutput;
  credential_sync?: CredentialSync; credential_ack?: CredentialAck;
  event?: TunnelEvent;
  stream_open?: StreamOpen; stream_opened?: StreamOpened; stream_data?: StreamData; stream_close?: StreamClose;
}

/** Body members that are re-sent until acked. */
export type ReliableBody = Pick<Envelope, 'command_deliver' | 'command_cancel' | 'credential_sync' | 'command_result' | 'event'>;

export function encodeEnvelope(e: Envelope): Uint8Array {
  return EnvelopeType.encode(e as unknown as protobuf.Message).finish();
}

/** Throws on a frame that is not an Envelope. */
export function decodeEnvelope(buf: Uint8Array): Envelope {
  return EnvelopeType.toObject(EnvelopeType.decode(buf), TO_OBJECT) as Envelope;
}

const utf8 = new TextEncoder();
export function jsonBytes(v: unknown): Uint8Array { return utf8.encode(JSON.stringify(v)); }
export function parseJsonBytes(b: Uint8Array | undefined): unknown {
  if (!b || !b.length) return null;
  return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'));
}
