// The SSH audit log: append-only JSON lines in data_dir/agent/audit.log (0600), one line per
// login, failure, session, exec and forward. Each line is written with one write(2) to an
// O_APPEND descriptor, so a crash of the daemon never leaves a half-written buffer behind.
import fs from 'node:fs';
import path from 'node:path';

export type AuditEventName = 'login_ok' | 'login_failed' | 'login_refused' | 'session_start' | 'session_end' | 'exec' | 'subsystem' | 'forward' | 'forward_denied' | 'run_as_missing';
// The admin's SSH jump endpoint (daemon/admin/jump) writes the same events to its own log.

export interface AuditEvent {
  event: AuditEventName;
  user?: string;
  source_address?: string;
  source_port?: number;
  method?: string;
  key_fingerprint?: string;
  run_as?: string;
  command?: string;
  pty?: boolean;
  exit_status?: number | null;
  exit_signal?: string | null;
  recording_id?: string;
  target?: string;
  reason?: string;
  session_id?: string;
  [k: string]: unknown;
}

export class AuditLog {
  private fd: number | undefined;
  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.fd = fs.openSync(file, 'a', 0o600);
  }

  write(e: AuditEvent): void {
    if (this.fd === undefined) return;
    const line = JSON.stringify({ time: new Date().toISOString(), ...e }) + '\n';
    try { fs.writeSync(this.fd, line); } catch { /* a full disk must not take sessions down */ }
  }

  close(): void {
    if (this.fd !== undefined) { fs.closeSync(this.fd); this.fd = undefined; }
  }
}
