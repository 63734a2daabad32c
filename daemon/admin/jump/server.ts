// The admin's SSH jump endpoint: `ssh -J jump@<admin>:4022 <user>@<node-or-alias>`.
// Operators authenticate with a public key listed in the authorized_keys file named by
// admin.ssh_authorized_keys (re-read when it changes; the signature must verify). The only
// thing the endpoint does is open direct-tcpip channels to a node's SSH server through the
// agent tunnel (`open`), so it works behind NAT and the node's own SSH server still
// authenticates the node-level username. Every jump (and every refusal) is audited.
import { listenOn } from '../../net';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { splice } from '../../tunnel/splice';
import { Server, utils, type AuthContext, type Connection } from 'ssh2';
import { AuditLog } from '../../security/audit';
import { sameBytes } from '../../security/compare';
import { loadHostKeys, type HostKey } from '../../security/host-keys';
import { FailureLimiter } from '../../security/rate-limit';
import { fingerprintOf } from '../../security/ssh-keys';
import type { Logger } from '../../base/log';

export interface JumpTarget { nodeId: string; name: string }

export interface JumpOptions {
  /** Where the jump host key and the audit log live (data_dir/admin). */
  dir: string;
  authorizedKeysFile: string;
  /** Node id, node name or alias → the node, or undefined. */
  resolve(target: string): Promise<JumpTarget | undefined>;
  /** A byte stream to the node's SSH server through its tunnel; rejects when the node is not connected. */
  open(nodeId: string): Promise<Duplex>;
  log: Logger;
  failuresPerMinute?: number;
  idleTimeoutMs?: number;
  /** Close a connection that has not started authentication this long after connecting (default 10 s). */
  preauthTimeoutMs?: number;
}

interface AuthorizedKey { blob: Buffer; line: string; fingerprint: string; comment: string }

const KEY_TYPES = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)$/;

/** Parses authorized_keys text: `[options] type base64 [comment]` per line; bad lines are reported, not fatal. */
export function parseAuthorizedKeys(text: string): { keys: AuthorizedKey[]; errors: string[] } {
  const keys: AuthorizedKey[] = [];
  const errors: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const parts = line.split(/\s+/);
    const at = parts.findIndex((p) => KEY_TYPES.test(p));
    if (at < 0 || !parts[at + 1]) { errors.push(`line ${i + 1}: no key type and key`); return; }
    const keyText = `${parts[at]} ${parts[at + 1]}`;
    const parsed = utils.parseKey(keyText);
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (key instanceof Error) { errors.push(`line ${i + 1}: ${key.message}`); return; }
    const blob = key.getPublicSSH();
    keys.push({ blob, line: keyText, fingerprint: fingerprintOf(blob), comment: parts.slice(at + 2).join(' ') });
  });
  return { keys, errors };
}

export class JumpServer {
  private readonly server: Server;
  private readonly tcp: net.Server;
  private readonly hostKeys: HostKey[];
  private readonly audit: AuditLog;
  private readonly limiter: FailureLimiter;
  private cache: { mtimeMs: number; size: number; keys: AuthorizedKey[] } | undefined;
  private readonly conns = new Set<Connection>();
  /** Sockets whose client has started authentication (the pre-auth timer spares them). */
  private readonly authStarted = new WeakSet<net.Socket>();
  readonly counters = { connections_total: 0, authentications_total: 0, failures_total: 0, jumps_total: 0, jumps_denied_total: 0, channels_active: 0 };

  constructor(private readonly o: JumpOptions) {
    this.hostKeys = loadHostKeys(path.join(o.dir, 'jump'));
    this.audit = new AuditLog(path.join(o.dir, 'jump-audit.log'));
    this.limiter = new FailureLimiter(o.failuresPerMinute ?? 10);
    this.server = new Server({ hostKeys: this.hostKeys.map((k) => k.private), ident: 'outpost-jump' }, (client, info) => this.onClient(client, info.ip));
    this.tcp = net.createServer((sock) => {
      sock.setNoDelay(true);
      if (this.limiter.blocked(sock.remoteAddress ?? '')) { sock.destroy(); return; }
      // ssh2 reports a connection only after the client's banner: a silent socket would stay
      // open for good. It gets until authentication starts (as on the agent's SSH server).
      const timer = setTimeout(() => { if (!this.authStarted.has(sock)) sock.destroy(); }, o.preauthTimeoutMs ?? 10_000);
      timer.unref();
      sock.once('close', () => clearTimeout(timer));
      this.server.injectSocket(sock);
    });
  }

  get fingerprints(): string[] {
    return this.hostKeys.map((k) => `${k.type} ${k.fingerprint}`);
  }

  listen(host: string, port: number): Promise<number> {
    return listenOn(this.tcp, host, port, 'admin.ssh_port');
  }

  /** The operators' keys, re-read when the file changes. A missing file means nobody may jump. */
  private keys(): AuthorizedKey[] {
    let st: fs.Stats;
    try { st = fs.statSync(this.o.authorizedKeysFile); } catch { return []; }
    if (this.cache && this.cache.mtimeMs === st.mtimeMs && this.cache.size === st.size) return this.cache.keys;
    const { keys, errors } = parseAuthorizedKeys(fs.readFileSync(this.o.authorizedKeysFile, 'utf8'));
    for (const e of errors) this.o.log.warn({ file: this.o.authorizedKeysFile }, `jump authorized_keys ${e}`);
    this.cache = { mtimeMs: st.mtimeMs, size: st.size, keys };
    return keys;
  }

  private onClient(client: Connection, ip: string): void {
    this.counters.connections_total++;
    this.conns.add(client);
    let operator: AuthorizedKey | undefined;
    let user = '';
    let offered: { user: string; fingerprint: string } | undefined;
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      if (!this.o.idleTimeoutMs) return;
      if (idle) clearTimeout(idle);
      idle = setTimeout(() => client.end(), this.o.idleTimeoutMs);
      idle.unref();
    };
    touch();
    client.on('error', () => undefined);
    client.on('close', () => {
      this.conns.delete(client);
      if (idle) clearTimeout(idle);
      // A client that only offered keys we do not know never signs: count and audit it once.
      if (!operator && offered) {
        this.counters.failures_total++;
        this.limiter.fail(ip);
        this.audit.write({ event: 'login_failed', source_address: ip, user: offered.user, method: 'publickey', key_fingerprint: offered.fingerprint, reason: 'key not in authorized_keys' });
      }
    });
    client.on('authentication', (a: AuthContext) => {
      const sock = (client as unknown as { _sock?: net.Socket })._sock;
      if (sock) this.authStarted.add(sock);
      if (a.method !== 'publickey') return a.reject(['publickey']);
      if (this.limiter.blocked(ip)) {
        this.audit.write({ event: 'login_refused', source_address: ip, user: a.username, reason: 'too many failed attempts from this address' });
        a.reject([]);
        client.end();
        return;
      }
      let found: AuthorizedKey | undefined;
      for (const k of this.keys()) if (sameBytes(a.key.data, k.blob) && !found) found = k;
      if (!a.signature) {
        if (found) return a.accept();
        offered ??= { user: a.username, fingerprint: fingerprintOf(a.key.data) };
        return a.reject(['publickey']);
      }
      this.counters.authentications_total++;
      let ok = false;
      if (found && a.blob) {
        const parsed = utils.parseKey(found.line);
        const pub = Array.isArray(parsed) ? parsed[0] : parsed;
        ok = !(pub instanceof Error) && pub.verify(a.blob, a.signature, a.hashAlgo) === true;
      }
      if (!ok || !found) {
        this.counters.failures_total++;
        this.limiter.fail(ip);
        this.audit.write({ event: 'login_failed', source_address: ip, user: a.username, method: 'publickey', reason: found ? 'bad signature' : 'key not in authorized_keys' });
        return a.reject(['publickey']);
      }
      operator = found;
      user = a.username;
      this.audit.write({ event: 'login_ok', source_address: ip, user, method: 'publickey', key_fingerprint: found.fingerprint, operator: found.comment });
      a.accept();
    });
    client.on('ready', () => {
      // A jump host runs nothing: sessions are refused, only direct-tcpip is served.
      client.on('session', (_accept, reject) => reject());
      client.on('tcpip', (accept, reject, info) => {
        touch();
        const target = info.destIP;
        const base = { source_address: ip, user, key_fingerprint: operator?.fingerprint, operator: operator?.comment, target: `${target}:${info.destPort}` };
        void (async () => {
          let node: JumpTarget | undefined;
          try { node = await this.o.resolve(target); } catch { node = undefined; }
          if (!node) {
            this.counters.jumps_denied_total++;
            this.audit.write({ event: 'forward_denied', ...base, reason: 'no node, node name or alias by that name' });
            return reject();
          }
          let stream: Duplex;
          try { stream = await this.o.open(node.nodeId); } catch (e) {
            this.counters.jumps_denied_total++;
            this.audit.write({ event: 'forward_denied', ...base, node_id: node.nodeId, reason: `node unreachable: ${(e as Error).message}` });
            return reject();
          }
          const ch = accept();
          this.counters.jumps_total++;
          this.counters.channels_active++;
          const opened = Date.now();
          this.audit.write({ event: 'forward', ...base, node_id: node.nodeId, node: node.name });
          ch.on('data', touch);
          splice(ch, stream, () => {
            this.counters.channels_active--;
            this.audit.write({ event: 'session_end', ...base, node_id: node!.nodeId, duration_ms: Date.now() - opened });
          });
        })();
      });
    });
  }

  stats(): typeof this.counters {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    for (const c of this.conns) c.end();
    this.audit.close();
  }
}
