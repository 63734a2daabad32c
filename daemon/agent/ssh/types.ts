// Shapes shared by the SSH server's parts: the per-connection state, the service context the
// parts are handed, the forwarding policy interface and the counters behind stats().
import type { Connection } from 'ssh2';
import type { Logger } from '../../base/log';
import type { RunAs } from '../host/run-as';
import type { SshUserStore } from '../ssh-users/store';
import type { AuditLog } from '../../security/audit';
import type { RecordingStore } from './recording';

/**
 * Where `ssh -L` may connect. EgressPolicy.checkTarget (daemon/net/egress.ts) has this
 * signature: resolve `host`, apply the egress rules, and answer the address to dial.
 */
export type CheckTarget = (host: string, port: number) => Promise<{ ok: true; address: string; family: 4 | 6 } | { ok: false; reason: string }>;

export interface SshCounters {
  connections_total: number;
  authentications_total: number;
  failures_total: number;
  refused_total: number;
  sessions_total: number;
  forwards_total: number;
  forwards_denied_total: number;
}

export interface ConnState {
  id: number;
  client: Connection;
  ip: string;
  port: number;
  localIp: string;
  localPort: number;
  user?: string;
  runAs?: RunAs;
  runAsError?: string;
  startedAt: number;
  lastActivity: number;
  /** A rejected attempt not yet charged to the source address's failure budget. */
  unchargedFailure: boolean;
  closers: Set<() => void>;
}

export interface SshContext {
  log: Logger;
  store: SshUserStore;
  audit: AuditLog;
  recordings: RecordingStore;
  counters: SshCounters;
  runAsName: string;
  checkTarget: CheckTarget;
  activeSessions: { n: number };
  /** A successful login (after the audit line): the agent reports edge.ssh_username.verified. */
  onLogin?: (e: LoginEvent) => void;
}

export interface LoginEvent { username: string; method: string; key_fingerprint: string | null; source_address: string; verified_at: string }

export function touch(conn: ConnState): void { conn.lastActivity = Date.now(); }

export function source(conn: ConnState): { user?: string; source_address: string; source_port: number } {
  return { user: conn.user, source_address: conn.ip, source_port: conn.port };
}
