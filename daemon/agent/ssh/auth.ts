// SSH authentication against the local credential store. Public keys: a probe without a
// signature is answered "key acceptable" only for a registered key, and the login succeeds only
// once the client's signature over the session id verifies. Passwords: Argon2id verify; an
// unknown user or a user without a password is verified against a dummy hash, so it costs the
// same time as a wrong password. Key blobs are compared in constant time. Failures count
// against the source address's per-minute budget; past it, every attempt is refused.
import type { AuthContext } from 'ssh2';
import { utils } from 'ssh2';
import { fingerprintOf } from '../../security/ssh-keys';
import type { LoginRecord } from '../ssh-users/store';
import { sameBytes } from '../../security/compare';
import { FailureLimiter } from '../../security/rate-limit';
import { source, touch, type ConnState, type SshContext } from './types';

const METHODS = ['publickey', 'password'] as Array<'publickey' | 'password'>;


/** The registered key whose blob equals `blob`; every key is compared, whichever matches. */
function findKey(rec: LoginRecord | undefined, blob: Buffer): LoginRecord['keys'][number] | undefined {
  let found: LoginRecord['keys'][number] | undefined;
  for (const k of rec?.keys ?? []) if (sameBytes(blob, k.blob) && !found) found = k;
  return found;
}

export class Authenticator {
  readonly limiter: FailureLimiter;

  constructor(private readonly ctx: SshContext, perMinute: number) {
    this.limiter = new FailureLimiter(perMinute);
  }

  /** Charges the source address one failure (once per connection for rejected key probes). */
  private charge(conn: ConnState): void {
    conn.unchargedFailure = false;
    this.limiter.fail(conn.ip);
  }

  /** Called when a connection closes: an unauthenticated connection with rejected probes costs one failure. */
  connectionClosed(conn: ConnState): void {
    if (conn.unchargedFailure && !conn.user) this.charge(conn);
  }

  async handle(conn: ConnState, a: AuthContext): Promise<void> {
    touch(conn);
    const { counters, audit, log, store } = this.ctx;
    if (a.method === 'none') return a.reject(METHODS);
    if (this.limiter.blocked(conn.ip)) {
      counters.authentications_total++;
      counters.failures_total++;
      counters.refused_total++;
      audit.write({ event: 'login_refused', ...source(conn), user: a.username, method: a.method, reason: 'too many failed attempts from this address' });
      a.reject([]);
      conn.client.end();
      return;
    }
    const rec = store.lookup(a.username);
    if (a.method === 'publickey') {
      const key = findKey(rec, a.key.data);
      if (!a.signature) {
        // The client asks whether this key would do; it signs only after we say yes.
        if (key) return a.accept();
        counters.authentications_total++;
        counters.failures_total++;
        conn.unchargedFailure = true;
        // A client offering an unknown key never signs (it moves on after this refusal): this
        // is the only trace of a wrong-key login, so it is audited like a wrong password. The
        // source address is charged once per connection (connectionClosed), not per key.
        const fingerprint = fingerprintOf(a.key.data);
        audit.write({ event: 'login_failed', ...source(conn), user: a.username, method: 'publickey', key_fingerprint: fingerprint, reason: rec ? 'unknown key' : 'unknown user' });
        log.info({ user: a.username, ip: conn.ip, method: 'publickey', key_fingerprint: fingerprint }, 'ssh login failed');
        return a.reject(METHODS);
      }
      counters.authentications_total++;
      let ok = false;
      if (key && a.blob) {
        const parsed = utils.parseKey(key.public_key);
        const pub = Array.isArray(parsed) ? parsed[0] : parsed;
        ok = !(pub instanceof Error) && pub.verify(a.blob, a.signature, a.hashAlgo) === true;
      }
      if (ok && rec && key) return this.succeed(conn, a, rec.username, key.fingerprint);
      return this.fail(conn, a, ok ? 'unknown key' : key ? 'bad signature' : 'unknown key');
    }
    if (a.method === 'password') {
      counters.authentications_total++;
      const ok = await store.verifyPassword(rec, a.password);
      if (ok && rec) return this.succeed(conn, a, rec.username);
      return this.fail(conn, a, 'wrong password or unknown user');
    }
    log.debug({ method: a.method, ip: conn.ip }, 'ssh auth method not offered');
    a.reject(METHODS);
  }

  private succeed(conn: ConnState, a: AuthContext, user: string, fingerprint?: string): void {
    conn.user = user;
    conn.unchargedFailure = false;
    this.ctx.audit.write({ event: 'login_ok', ...source(conn), method: a.method, key_fingerprint: fingerprint });
    try {
      this.ctx.onLogin?.({ username: user, method: a.method, key_fingerprint: fingerprint ?? null, source_address: conn.ip, verified_at: new Date().toISOString() });
    } catch (err) {
      this.ctx.log.warn({ err }, 'ssh: reporting a login failed');
    }
    a.accept();
  }

  private fail(conn: ConnState, a: AuthContext, reason: string): void {
    this.ctx.counters.failures_total++;
    this.charge(conn);
    this.ctx.audit.write({ event: 'login_failed', ...source(conn), user: a.username, method: a.method, reason });
    this.ctx.log.info({ user: a.username, ip: conn.ip, method: a.method }, 'ssh login failed');
    a.reject(METHODS);
  }
}
