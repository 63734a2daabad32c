// Dials a target through the egress policy: resolve once, check every address, then connect to
// the checked addresses in resolver order (never re-resolving the name). Used by the HTTP and
// SOCKS5 proxies; any outbound TCP dial to a client-chosen target should go through it.
import net from 'node:net';
import { hostPort } from './address';
import type { EgressPolicy, EgressReason } from './egress';

export type DialErrorKind = 'invalid' | 'resolve' | 'refused' | 'unreachable' | 'network' | 'timeout' | 'error';
export type DialFailure =
  | { ok: false; kind: 'blocked'; reason: EgressReason; message: string }
  | { ok: false; kind: DialErrorKind; message: string };

export type DialResult = { ok: true; socket: net.Socket; address: string; family: 4 | 6 } | DialFailure;

export interface DialOptions {
  /** Per-address connect timeout. */
  timeoutMs?: number;
}

export const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Stream buffer of tunnel sockets. Node's 16 KiB default is smaller than one 64 KiB socket read,
 * so every chunk piped would pause and resume the reading side (an epoll change each time).
 */
export const TUNNEL_HIGH_WATER_MARK = 256 * 1024;

export async function dialTarget(policy: EgressPolicy, host: string, port: number, opts: DialOptions = {}): Promise<DialResult> {
  const check = await policy.checkTarget(host, port);
  if (!check.ok) {
    if (check.blocked) return { ok: false, kind: 'blocked', reason: check.reason, message: check.message };
    return { ok: false, kind: check.reason === 'invalid_target' ? 'invalid' : 'resolve', message: check.message };
  }
  let last: DialFailure = { ok: false, kind: 'error', message: 'no address to connect to' };
  for (const a of check.addresses) {
    const r = await connectOnce(a.address, a.family, port, opts.timeoutMs ?? CONNECT_TIMEOUT_MS);
    if (r.ok) return r;
    last = r;
  }
  return last;
}

function connectOnce(address: string, family: 4 | 6, port: number, timeoutMs: number): Promise<DialResult> {
  return new Promise((resolve) => {
    // highWaterMark is a stream option net.connect passes on (missing from @types/node's NetConnectOpts).
    const opts: net.NetConnectOpts & { highWaterMark: number } = { host: address, port, family, allowHalfOpen: true, noDelay: true, highWaterMark: TUNNEL_HIGH_WATER_MARK };
    const socket = net.connect(opts);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, kind: 'timeout', message: `connecting to ${hostPort(address, port)} timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve({ ok: true, socket, address, family });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, kind: errorKind(err.code), message: `connecting to ${hostPort(address, port)} failed: ${err.code ?? err.message}` });
    });
  });
}

function errorKind(code: string | undefined): DialErrorKind {
  switch (code) {
    case 'ECONNREFUSED': return 'refused';
    case 'EHOSTUNREACH': case 'EHOSTDOWN': return 'unreachable';
    case 'ENETUNREACH': case 'ENETDOWN': case 'EADDRNOTAVAIL': return 'network';
    case 'ETIMEDOUT': return 'timeout';
    default: return 'error';
  }
}
