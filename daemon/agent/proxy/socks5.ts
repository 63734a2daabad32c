// The SOCKS5 proxy: RFC 1928 CONNECT (IPv4, IPv6 and domain targets) with RFC 1929
// username/password authentication (user `_` and the node's proxy password; method 0x02 only,
// never unauthenticated). Targets pass the egress policy (daemon/net) at connect time.
import net from 'node:net';
import type { Logger } from '../../base/log';
import { dialTarget, ipBytes, listenOn, parseIp, TUNNEL_HIGH_WATER_MARK, type DialFailure, type EgressPolicy } from '../../net';
import type { ProxyAuth } from './auth';
import type { ProxyCounters } from './stats';
import type { Tunnels } from './tunnel';

export interface Socks5Deps {
  policy: EgressPolicy;
  auth: ProxyAuth;
  counters: ProxyCounters;
  tunnels: Tunnels;
  log: Logger;
}

/** RFC 1928 §6 reply codes. */
export const REP = {
  succeeded: 0x00,
  general_failure: 0x01,
  not_allowed: 0x02,
  network_unreachable: 0x03,
  host_unreachable: 0x04,
  connection_refused: 0x05,
  ttl_expired: 0x06,
  command_not_supported: 0x07,
  address_type_not_supported: 0x08,
} as const;

const METHOD_USERPASS = 0x02;
const NO_ACCEPTABLE = 0xff;
const HANDSHAKE_TIMEOUT_MS = 15_000;

export class Socks5Proxy {
  readonly server: net.Server;
  /** Connections still in the SOCKS handshake (not yet tunnels). */
  private readonly handshaking = new Set<net.Socket>();

  constructor(private readonly d: Socks5Deps) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true, highWaterMark: TUNNEL_HIGH_WATER_MARK }, (socket) => this.onConnection(socket));
  }

  listen(host: string, port: number): Promise<number> {
    return listenOn(this.server, host, port, 'proxy.socks5_port');
  }

  stopAccepting(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  destroyAll(): void {
    for (const s of this.handshaking) s.destroy();
  }

  private onConnection(socket: net.Socket): void {
    this.d.counters.connection('socks5');
    // An address past its failed-login budget is closed before the handshake (RFC 1928 has no
    // reply for it that every client shows).
    if (this.d.auth.blocked(socket.remoteAddress ?? '')) { socket.destroy(); return; }
    this.handshaking.add(socket);
    socket.on('error', () => socket.destroy());
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    const reader = new ByteReader(socket);
    this.handshake(socket, reader)
      .catch((err: Error) => {
        if (!(err instanceof ClosedError)) this.d.log.debug({ err: err.message }, 'socks5 handshake failed');
        socket.destroy();
      })
      .finally(() => this.handshaking.delete(socket));
  }

  private async handshake(socket: net.Socket, reader: ByteReader): Promise<void> {
    const { auth, policy, tunnels, counters } = this.d;
    // Method selection.
    const [ver, nmethods] = await reader.read(2);
    if (ver !== 0x05) throw new Error(`not SOCKS5 (version byte ${ver})`);
    const methods = await reader.read(nmethods);
    if (!methods.includes(METHOD_USERPASS)) {
      socket.end(Buffer.from([0x05, NO_ACCEPTABLE]));
      return;
    }
    socket.write(Buffer.from([0x05, METHOD_USERPASS]));
    // RFC 1929 username/password.
    const [authVer, ulen] = await reader.read(2);
    if (authVer !== 0x01) throw new Error(`bad username/password version ${authVer}`);
    const user = await reader.read(ulen);
    const [plen] = await reader.read(1);
    const pass = await reader.read(plen);
    if (!auth.check(user, pass, socket.remoteAddress ?? '')) {
      socket.end(Buffer.from([0x01, 0x01]));
      return;
    }
    socket.write(Buffer.from([0x01, 0x00]));
    // Request.
    const [rver, cmd, , atyp] = await reader.read(4);
    if (rver !== 0x05) throw new Error(`bad request version ${rver}`);
    let host: string;
    if (atyp === 0x01) host = [...(await reader.read(4))].join('.');
    else if (atyp === 0x04) host = parseIp(ipv6Text(await reader.read(16)))!.address;
    else if (atyp === 0x03) {
      const [len] = await reader.read(1);
      host = (await reader.read(len)).toString('latin1');
    } else {
      reply(socket, REP.address_type_not_supported);
      return;
    }
    const port = (await reader.read(2)).readUInt16BE(0);
    if (cmd !== 0x01) {
      reply(socket, REP.command_not_supported);
      return;
    }
    // Hold early data in the kernel while the target is dialled.
    socket.pause();
    socket.setTimeout(0);
    const r = await dialTarget(policy, host, port);
    if (!r.ok) {
      if (r.kind === 'blocked') {
        counters.block('socks5', r.reason);
        this.d.log.debug({ proxy: 'socks5', host, port, reason: r.reason }, 'proxy target denied');
      } else {
        this.d.log.debug({ proxy: 'socks5', host, port, kind: r.kind }, r.message);
      }
      reply(socket, replyCode(r));
      return;
    }
    if (socket.destroyed || tunnels.isDraining) {
      r.socket.destroy();
      reply(socket, REP.general_failure);
      return;
    }
    reply(socket, REP.succeeded, r.socket.localAddress, r.socket.localPort, false);
    tunnels.open(socket, r.socket, reader.detach());
  }
}

function replyCode(r: DialFailure): number {
  switch (r.kind) {
    case 'blocked': return REP.not_allowed;
    case 'resolve': case 'unreachable': case 'timeout': return REP.host_unreachable;
    case 'network': return REP.network_unreachable;
    case 'refused': return REP.connection_refused;
    default: return REP.general_failure;
  }
}

/** Writes a reply (BND.ADDR/BND.PORT = the bound address, or 0.0.0.0:0) and, unless keep, closes. */
function reply(socket: net.Socket, rep: number, address?: string, port?: number, end = true): void {
  const ip = address ? parseIp(address) : undefined;
  const addr = ip ? Buffer.concat([Buffer.from([ip.family === 4 ? 0x01 : 0x04]), ipBytes(ip)]) : Buffer.from([0x01, 0, 0, 0, 0]);
  const p = Buffer.alloc(2);
  p.writeUInt16BE(port ?? 0);
  const msg = Buffer.concat([Buffer.from([0x05, rep, 0x00]), addr, p]);
  if (end) socket.end(msg);
  else socket.write(msg);
}

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return groups.join(':');
}

class ClosedError extends Error {}

/** Reads exact byte counts from a socket during the handshake; detach() hands the rest to the tunnel. */
class ByteReader {
  private buf: Buffer = Buffer.alloc(0);
  private want?: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void };
  private closed = false;
  private readonly onData = (d: Buffer) => { this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d; this.pump(); };
  private readonly onEnd = () => { this.closed = true; this.pump(); };

  constructor(private readonly socket: net.Socket) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
  }

  read(n: number): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.want = { n, resolve, reject };
      this.pump();
    });
  }

  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.pause();
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }

  private pump(): void {
    const w = this.want;
    if (!w) return;
    if (this.buf.length >= w.n) {
      this.want = undefined;
      const out = this.buf.subarray(0, w.n);
      this.buf = this.buf.subarray(w.n);
      w.resolve(out);
    } else if (this.closed) {
      this.want = undefined;
      w.reject(new ClosedError('client closed during the handshake'));
    }
  }
}
