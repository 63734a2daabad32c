// The SSH audit log: append-only JSON lines in data_dir/agent/audit.log (0600), one line per
// login, failure, session, exec and forward. Each line is written with one write(2) to an
// O_APPEND descriptor, so a crash of the daemon never leaves a half-written buffer behind.
// Past `maxBytes` the file is rotated: audit.log → audit.log.1 → … → audit.log.<keep>, the
// oldest dropped (a line never straddles two files). maxBytes 0 leaves rotation to the operator.
import fs from 'node:fs';
import path from 'node:path';

export type AuditEventName = 'login_ok' | 'login_failed' | 'login_refused' | 'session_start' | 'session_end' | 'exec' | 'subsystem' | 'forward' | 'forward_denied' | 'run_as_missing' | 'preauth_timeout';
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

export const AUDIT_MAX_BYTES = 16 << 20;
export const AUDIT_KEEP = 5;

export class AuditLog {
  private fd: number | undefined;
  private size = 0;

  constructor(readonly file: string, private readonly maxBytes = AUDIT_MAX_BYTES, private readonly keep = AUDIT_KEEP) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.open();
  }

  private open(): void {
    this.fd = fs.openSync(this.file, 'a', 0o600);
    this.size = fs.fstatSync(this.fd).size;
  }

  write(e: AuditEvent): void {
    if (this.fd === undefined) return;
    const line = Buffer.from(JSON.stringify({ time: new Date().toISOString(), ...e }) + '\n');
    try {
      if (this.maxBytes > 0 && this.size > 0 && this.size + line.length > this.maxBytes) this.rotate(line.length);
      if (this.fd === undefined) return;
      fs.writeSync(this.fd, line);
      this.size += line.length;
    } catch { /* a full disk must not take sessions down */ }
  }

  private rotate(incoming: number): void {
    // Someone else (logrotate with copytruncate) may have emptied it meanwhile.
    this.size = fs.fstatSync(this.fd!).size;
    if (this.size === 0 || this.size + incoming <= this.maxBytes) return;
    fs.closeSync(this.fd!);
    this.fd = undefined;
    for (let i = this.keep - 1; i >= 1; i--) {
      try { fs.renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`); } catch { /* not there yet */ }
    }
    if (this.keep >= 1) fs.renameSync(this.file, `${this.file}.1`);
    else fs.rmSync(this.file, { force: true });
    this.open();
  }

  close(): void {
    if (this.fd !== undefined) { fs.closeSync(this.fd); this.fd = undefined; }
  }
}
