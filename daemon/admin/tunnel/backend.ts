// What the admin side of the tunnel needs from the control-plane store, as one small interface
// (TunnelBackend). The tunnel never touches the store directly: an adapter implements this
// interface over it. The enrollment wire shapes and the key blob both ends speak live on the
// floor, in daemon/tunnel/enrollment.ts.
//
// Rules every implementation follows:
// - every method is safe to call again with the same input (the tunnel re-sends after a
//   reconnect): results are idempotent by execution_id, events by id, acks by (kind, id);
// - a promise resolves only once the write is committed (the tunnel acks the agent after it);
// - batch methods get arrays so one transaction can hold them (1,000 results → one commit).
import type { CommandDeliver, Heartbeat, NodeFacts } from '../../tunnel/schema';
import type { CredentialSet, EnrollRequest, EnrollResult } from '../../tunnel/enrollment';

/** The node behind a token. */
export interface TunnelNode { node_id: string; cluster_name: string }

/** What the hub learns from Hello and hands to tunnelUp. */
export interface TunnelInfo { agent_version: string; host_name: string; capabilities: string[]; remote_address: string; credentials_version: number; facts?: NodeFacts }

/** Everything the node is owed when its tunnel comes up. */
export interface ResumeSet {
  /** Executions still `pending` for this node (never acked by the agent), oldest first. */
  deliveries: CommandDeliver[];
  /** Executions whose cancel was requested while `sent` and not yet acked by the agent. */
  cancels: string[];
  /** The node's current credential set, or null when the store has none for it. */
  credentials: CredentialSet | null;
}

/** Full SSH credential set of a node; version grows on every change that touches the node. */

export interface HeartbeatRecord extends Heartbeat { node_id: string; received_at: number }

export type NodeStatus = 'healthy' | 'unhealthy' | 'unreachable';
export interface StatusChange { node_id: string; status: NodeStatus; at: number; reason: string }

/** The agent has durably taken something the admin sent. */
export type DeliveryAck =
  | { node_id: string; kind: 'command'; execution_id: string; at: number } // pending → sent (sent_at = at)
  | { node_id: string; kind: 'cancel'; execution_id: string; at: number }
  | { node_id: string; kind: 'credentials'; version: number; at: number };

/** A command's outcome as the agent reports it (the CommandExecutionResponse fields). */
export interface CommandResultRecord {
  node_id: string;
  execution_id: string;
  status: 'completed' | 'cancelled' | 'expired';
  exit_code: number | null;
  output: string;
  output_truncated: boolean;
  output_dropped_bytes: number;
  /** Why the agent could not run it to its own end; null when it did. */
  error: string | null;
  started_at: number | null;
  completed_at: number | null;
  cancelled_at: number | null;
}

export interface AgentEventRecord { node_id: string; id: string; type: string; time: number; data: unknown }

export interface TunnelBackend {
  /**
   * Consumes one use of the key atomically and registers the node. A node id already enrolled is
   * re-registered only with its current token (node_token) and a key of its own cluster; else a
   * new node with a new id is registered in the key's cluster. Throws EnrollError.
   */
  enroll(req: EnrollRequest): Promise<EnrollResult>;
  /** The node a token belongs to, or null (unknown, or the node was deleted). */
  authenticate(apiToken: string): Promise<TunnelNode | null>;
  /** The node's tunnel is up (status → healthy, last_seen_at, version). Returns what it is owed. */
  tunnelUp(node: TunnelNode, info: TunnelInfo, at: number): Promise<ResumeSet>;
  /** The node's tunnel is down (status → unreachable) unless a newer tunnel of the same node is up. */
  tunnelDown(nodeId: string, at: number, reason: string): Promise<void>;
  /** Batched heartbeats (one per node per flush, the latest): last_seen_at and brief metrics. */
  recordHeartbeats(beats: HeartbeatRecord[]): Promise<void>;
  /** Status changes decided by the hub from heartbeats (healthy ↔ unhealthy); emit status_changed on a real change. */
  setStatus(changes: StatusChange[]): Promise<void>;
  /** Things the agents acknowledged (deliveries, cancels, credential versions). */
  delivered(acks: DeliveryAck[]): Promise<void>;
  /** Command outcomes; a repeat of an execution already terminal is ignored. */
  recordResults(results: CommandResultRecord[]): Promise<void>;
  /** Agent events; a repeat of an id is ignored. */
  recordEvents(events: AgentEventRecord[]): Promise<void>;
  /** The node's current credential set (for a sync after a change). */
  credentials(nodeId: string): Promise<CredentialSet | null>;
}

// ---------------------------------------------------------------------------------------------
// Enrollment-key blob: base64 (standard or url-safe) of the JSON {"v":1,"urls":[...],"secret":"..."}.
