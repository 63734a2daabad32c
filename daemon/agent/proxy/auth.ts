// Proxy authentication: user `_` and the node's proxy password. The password is compared in
// constant time (both sides are hashed first so neither length nor content leaks by timing).
// Wrong credentials count against the source address: past `failuresPerMinute` in a sliding
// minute the address is refused outright (HTTP 429, SOCKS5 connections closed) until it is
// under the limit again, so the password cannot be guessed at wire speed.
import crypto from 'node:crypto';
import { FailureLimiter } from '../../security/rate-limit';
import { PROXY_USER } from './password';

export const DEFAULT_PROXY_AUTH_FAILURES_PER_MINUTE = 20;

export class ProxyAuth {
  private readonly digest: Buffer;
  private readonly limiter: FailureLimiter;
  /** Logins refused because of wrong credentials, and connections refused for the address's failures. */
  failures = 0;
  refused = 0;

  constructor(password: string, failuresPerMinute = DEFAULT_PROXY_AUTH_FAILURES_PER_MINUTE, private readonly onBlocked?: (ip: string) => void) {
    this.digest = hash(Buffer.from(password));
    this.limiter = new FailureLimiter(failuresPerMinute);
  }

  /** True when `ip` used up its failure budget: refuse it without looking at credentials. */
  blocked(ip: string): boolean {
    if (!this.limiter.blocked(ip)) return false;
    this.refused++;
    return true;
  }

  /** user and password as sent by a SOCKS5 (RFC 1929) client; a mismatch counts against `ip`. */
  check(user: Buffer, password: Buffer, ip: string): boolean {
    const passwordOk = crypto.timingSafeEqual(hash(password), this.digest);
    if (passwordOk && user.equals(USER)) return true;
    this.fail(ip);
    return false;
  }

  /**
   * A `Proxy-Authorization` header value (`Basic base64(_:password)`). A missing header is the
   * usual first step of the challenge (407) and does not count; a wrong one does.
   */
  checkHeader(header: string | undefined, ip: string): boolean {
    if (!header) return false;
    const m = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
    const decoded = m ? Buffer.from(m[1], 'base64') : Buffer.alloc(0);
    const colon = decoded.indexOf(0x3a); // RFC 7617: the user-id has no colon
    if (colon < 0) { this.fail(ip); return false; }
    return this.check(decoded.subarray(0, colon), decoded.subarray(colon + 1), ip);
  }

  private fail(ip: string): void {
    this.failures++;
    const was = this.limiter.blocked(ip);
    this.limiter.fail(ip);
    if (!was && this.limiter.blocked(ip)) this.onBlocked?.(ip);
  }
}

const USER = Buffer.from(PROXY_USER);

function hash(v: Buffer): Buffer {
  return crypto.createHash('sha256').update(v).digest();
}
