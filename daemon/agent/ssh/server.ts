// The agent's SSH server (ssh2): accepts TCP connections itself (TCP_NODELAY on each, refusal
// of addresses over their failure budget, login grace and idle timeouts), hands them to ssh2,
// resolves the run-as account at login and dispatches sessions and direct-tcpip channels.
import net from 'node:net';
import path from 'node:path';
import { Server, type Connection } from 'ssh2';
import type { Logger } from '../../base/log';
import { resolveRunAsFast } from './run-as-lookup';
import type { SshUserStore } from '../ssh-users/store';
import { AuditLog } from '../../security/audit';
import { Authenticator } from './auth';
import { handleDirectTcpip } from './forward';
import { loadHostKeys, type HostKey } from '../../security/host-keys';
import { RecordingStore } from './recording';
import { handleSession } from './session';
import { source, type CheckTarget, type ConnState, type SshContext, type SshCounters } from './types';
import { listenOn } from '../../net';

export interface SshOptions {
  /** data_dir/agent */
  dir: string;
  store: SshUserStore;
  recordings: RecordingStore;
  log: Logger;
  runAs: string;
  idleTimeoutMs: number;
  /**
   * A connection that has not started authentication this long after connecting (no version
   * banner, or no key exchange) is closed (default 10 s). ssh2 reports a connection only after
   * the client's banner, so without this a silent socket was never swept.
   */
  preauthTimeoutMs?: number;
  keepaliveIntervalMs: number;
  authFailuresPerMinute: number;
  /** Rotate audit.log past this size (0 = never; default 16 MiB), keeping 5 old files. */
  auditMaxBytes?: number;
  /** Called after each successful login. */
  onLogin?: SshContext['onLogin'];
  /** Where `ssh -L` may connect: the agent's egress policy (daemon/net). */
  checkTarget: CheckTarget;
}

/** The reference's AgentMetricsResponse `ssh` object, plus our own counters. */
export interface SshStats {
  authentications_total: number;
  connections_total: number;
  failures_total: number;
  refused_total: number;
  connections_active: number;
  sessions_active: number;
  sessions_total: number;
  forwards_total: number;
  forwards_denied_total: number;
}

const LOGIN_GRACE_MS = 60_000;
const DEFAULT_PREAUTH_MS = 10_000;
const IDENT = 'OutpostSSH_1.0';

export class SshService {
  readonly hostKeys: HostKey[];
  readonly audit: AuditLog;
  private readonly ctx: SshContext;
  private readonly auth: Authenticator;
  private readonly ssh: Server;
  private readonly tcp: net.Server;
  private readonly conns = new Set<ConnState>();
  private readonly sockets = new Set<net.Socket>();
  /** Sockets that have not started authentication yet, with their pre-auth timer. */
  private readonly preauth = new Map<net.Socket, NodeJS.Timeout>();
  private sweeper?: NodeJS.Timeout;
  private nextConn = 1;
  private closing = false;
  port = 0;

  constructor(private readonly opts: SshOptions) {
    this.hostKeys = loadHostKeys(opts.dir);
    this.audit = new AuditLog(path.join(opts.dir, 'audit.log'), opts.auditMaxBytes);
    const counters: SshCounters = { connections_total: 0, authentications_total: 0, failures_total: 0, refused_total: 0, sessions_total: 0, forwards_total: 0, forwards_denied_total: 0 };
    this.ctx = {
      log: opts.log, store: opts.store, audit: this.audit, recordings: opts.recordings, counters,
      runAsName: opts.runAs, checkTarget: opts.checkTarget, activeSessions: { n: 0 }, onLogin: opts.onLogin,
    };
    this.auth = new Authenticator(this.ctx, opts.authFailuresPerMinute);
    this.ssh = new Server({
      hostKeys: this.hostKeys.map((k) => k.private),
      ident: IDENT,
      // ssh2 treats 0 as "use the default"; a very long interval is "off".
      keepaliveInterval: opts.keepaliveIntervalMs > 0 ? opts.keepaliveIntervalMs : 2 ** 31 - 1,
      keepaliveCountMax: 3,
    }, (client: Connection, info) => this.onClient(client, info));
    this.ssh.on('error', (err: Error) => opts.log.warn({ err }, 'ssh server error'));
    this.tcp = net.createServer({ noDelay: true }, (sock) => this.onSocket(sock));
  }

  /** Replaces the `ssh -L` target check (the agent's egress policy by default). */
  set checkTarget(fn: CheckTarget) { this.ctx.checkTarget = fn; }

  get fingerprints(): Array<{ type: string; fingerprint: string }> {
    return this.hostKeys.map((k) => ({ type: k.type, fingerprint: k.fingerprint }));
  }

  stats(): SshStats {
    const c = this.ctx.counters;
    return {
      authentications_total: c.authentications_total,
      connections_total: c.connections_total,
      failures_total: c.failures_total,
      refused_total: c.refused_total,
      connections_active: this.conns.size,
      sessions_active: this.ctx.activeSessions.n,
      sessions_total: c.sessions_total,
      forwards_total: c.forwards_total,
      forwards_denied_total: c.forwards_denied_total,
    };
  }

  async listen(host: string, port: number): Promise<number> {
    this.port = await listenOn(this.tcp, host, port, 'ssh.port');
    this.tcp.on('error', (err) => this.opts.log.error({ err }, 'ssh listener error'));
    const every = Math.max(250, Math.min(30_000, Math.floor((this.opts.idleTimeoutMs || LOGIN_GRACE_MS) / 4)));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
    return this.port;
  }

  private onSocket(sock: net.Socket): void {
    sock.setNoDelay(true);
    const ip = normalizeIp(sock.remoteAddress ?? '');
    if (this.closing) { sock.destroy(); return; }
    if (this.auth.limiter.blocked(ip)) {
      this.ctx.counters.refused_total++;
      this.audit.write({ event: 'login_refused', source_address: ip, source_port: sock.remotePort, reason: 'too many failed attempts from this address' });
      sock.destroy();
      return;
    }
    this.sockets.add(sock);
    const timer = setTimeout(() => {
      if (!this.preauth.delete(sock)) return;
      this.audit.write({ event: 'preauth_timeout', source_address: ip, source_port: sock.remotePort, reason: `no authentication started within ${this.opts.preauthTimeoutMs ?? DEFAULT_PREAUTH_MS} ms of connecting` });
      this.opts.log.info({ ip }, 'ssh pre-auth timeout: closing a connection that did not start authentication');
      sock.destroy();
    }, this.opts.preauthTimeoutMs ?? DEFAULT_PREAUTH_MS);
    timer.unref();
    this.preauth.set(sock, timer);
    sock.once('close', () => { this.sockets.delete(sock); this.endPreauth(sock); });
    sock.on('error', () => { /* ssh2 reports protocol errors; resets are normal */ });
    this.ssh.injectSocket(sock);
  }

  private onClient(client: Connection, info: { ip: string; port: number }): void {
    const sock = (client as unknown as { _sock: net.Socket })._sock;
    const conn: ConnState = {
      id: this.nextConn++, client, ip: normalizeIp(info.ip), port: info.port,
      localIp: normalizeIp(sock?.localAddress ?? ''), localPort: sock?.localPort ?? this.port,
      startedAt: Date.now(), lastActivity: Date.now(), unchargedFailure: false, closers: new Set(),
    };
    this.ctx.counters.connections_total++;
    this.conns.add(conn);
    client.on('error', (err: Error) => this.opts.log.debug({ err: err.message, ip: conn.ip }, 'ssh connection error'));
    client.on('authentication', (a) => {
      if (sock) this.endPreauth(sock);
      this.auth.handle(conn, a).catch((err) => {
        this.opts.log.error({ err }, 'ssh authentication failed unexpectedly');
        try { a.reject(); } catch { /* closed */ }
      });
    });
    client.on('ready', () => {
      try {
        conn.runAs = resolveRunAsFast(this.opts.runAs);
      } catch (err) {
        conn.runAsError = (err as Error).message;
        this.audit.write({ event: 'run_as_missing', ...source(conn), run_as: this.opts.runAs, reason: conn.runAsError });
        this.opts.log.error({ user: conn.user, run_as: this.opts.runAs, err: conn.runAsError }, 'ssh login cannot run: run-as account missing');
      }
      client.on('session', (accept) => handleSession(this.ctx, conn, accept()));
      client.on('tcpip', (accept, reject, info) => void handleDirectTcpip(this.ctx, conn, accept, reject, info));
    });
    client.on('close', () => {
      this.conns.delete(conn);
      this.auth.connectionClosed(conn);
      for (const c of conn.closers) c();
    });
  }

  private endPreauth(sock: net.Socket): void {
    const timer = this.preauth.get(sock);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.preauth.delete(sock);
  }

  /** Ends connections past the login grace (unauthenticated) or the idle timeout. */
  private sweep(): void {
    const now = Date.now();
    for (const conn of this.conns) {
      if (!conn.user && now - conn.startedAt > LOGIN_GRACE_MS) {
        this.opts.log.info({ ip: conn.ip }, 'ssh login grace time exceeded');
        conn.client.end();
      } else if (this.opts.idleTimeoutMs > 0 && now - conn.lastActivity > this.opts.idleTimeoutMs) {
        this.opts.log.info({ ip: conn.ip, user: conn.user, idle_ms: now - conn.lastActivity }, 'ssh idle timeout');
        for (const c of conn.closers) c();
        conn.client.end();
      }
    }
  }

  /** Stops accepting, hangs up every session, and waits (bounded) for connections to end. */
  async close(timeoutMs = 3000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.sweeper);
    const stopped = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const conn of this.conns) {
      for (const c of conn.closers) c();
      conn.client.end();
    }
    const deadline = Date.now() + timeoutMs;
    while (this.sockets.size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sockets) s.destroy();
    for (const timer of this.preauth.values()) clearTimeout(timer);
    this.preauth.clear();
    await stopped;
    await Promise.all([...this.ctx.recordings.active].map((r) => r.finish({ status: null, signal: null })));
    this.audit.close();
  }
}

function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7)) ? ip.slice(7) : ip;
}
