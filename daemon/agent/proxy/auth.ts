// Proxy authentication: user `_` and the node's proxy password. The password is compared in
// constant time (both sides are hashed first so neither length nor content leaks by timing).
import crypto from 'node:crypto';
import { PROXY_USER } from './password';

export class ProxyAuth {
  private readonly digest: Buffer;
  constructor(password: string) {
    this.digest = hash(Buffer.from(password));
  }

  /** user and password as sent by a SOCKS5 (RFC 1929) client. */
  check(user: Buffer, password: Buffer): boolean {
    const passwordOk = crypto.timingSafeEqual(hash(password), this.digest);
    return passwordOk && user.equals(USER);
  }

  /** A `Proxy-Authorization` header value (`Basic base64(_:password)`). */
  checkHeader(header: string | undefined): boolean {
    if (!header) return false;
    const m = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
    if (!m) return false;
    const decoded = Buffer.from(m[1], 'base64');
    const colon = decoded.indexOf(0x3a); // RFC 7617: the user-id has no colon
    if (colon < 0) return false;
    return this.check(decoded.subarray(0, colon), decoded.subarray(colon + 1));
  }
}

const USER = Buffer.from(PROXY_USER);

function hash(v: Buffer): Buffer {
  return crypto.createHash('sha256').update(v).digest();
}
