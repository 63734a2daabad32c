// The HTTP proxy: CONNECT tunnels and absolute-URI requests (http:// and https:// targets),
// authenticated with Proxy-Authorization Basic `_:<proxy password>`. Targets pass the egress policy
// at connect time; request and response bodies stream both ways with backpressure; the client
// connection is kept alive between requests.
import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import type { Logger } from '../../base/log';
import { dialTarget, listenOn, TUNNEL_HIGH_WATER_MARK, type DialFailure, type EgressPolicy } from '../../net';
import type { ProxyAuth } from './auth';
import type { ProxyCounters } from './stats';
import type { Tunnels } from './tunnel';

const RATE_LIMITED = 'too many failed proxy logins from this address: try again in a minute';

export interface HttpProxyDeps {
  policy: EgressPolicy;
  auth: ProxyAuth;
  counters: ProxyCounters;
  tunnels: Tunnels;
  idleMs: number;
  log: Logger;
}

/** Headers that describe one hop and are never forwarded (RFC 9110 §7.6.1), plus the proxy's own credentials. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const REALM = 'Basic realm="outpost proxy", charset="UTF-8"';
const HEADERS_TIMEOUT_MS = 15_000;

export class HttpProxy {
  readonly server: http.Server;
  /** Client sockets waiting for a CONNECT target to answer. */
  private readonly dialing = new Set<net.Socket>();

  constructor(private readonly d: HttpProxyDeps) {
    this.server = http.createServer({ noDelay: true, highWaterMark: TUNNEL_HIGH_WATER_MARK, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 0, keepAliveTimeout: 5000 });
    this.server.setTimeout(d.idleMs);
    this.server.on('request', (req, res) => { this.onRequest(req, res).catch((err) => this.internal(res, err)); });
    this.server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => { this.onConnect(req, socket, head).catch((err) => { this.d.log.error({ err }, 'proxy CONNECT failed'); socket.destroy(); }); });
    this.server.on('upgrade', (_req: http.IncomingMessage, socket: net.Socket) => {
      rawReply(socket, 501, 'Not Implemented', 'upgrade_not_supported', 'protocol upgrades are not proxied as absolute-URI requests: use CONNECT');
    });
  }

  listen(host: string, port: number): Promise<number> {
    return listenOn(this.server, host, port, 'proxy.http_port');
  }

  /** Stops accepting and closes idle keep-alive connections; in-flight requests continue. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  /** Ends every remaining connection (after the drain grace). */
  destroyAll(): void {
    this.server.closeAllConnections();
    for (const s of this.dialing) s.destroy();
  }

  private async onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
    const { counters, auth, policy, tunnels } = this.d;
    counters.connection('http');
    socket.on('error', () => socket.destroy());
    socket.setTimeout(0);
    const ip = socket.remoteAddress ?? '';
    if (auth.blocked(ip)) {
      rawReply(socket, 429, 'Too Many Requests', 'proxy_auth_rate_limited', RATE_LIMITED, { 'Retry-After': '60' });
      return;
    }
    if (!auth.checkHeader(req.headers['proxy-authorization'], ip)) {
      rawReply(socket, 407, 'Proxy Authentication Required', 'proxy_auth_required', 'proxy authentication required: user "_" and the node\'s proxy password', { 'Proxy-Authenticate': REALM });
      return;
    }
    const target = parseAuthority(req.url ?? '');
    if (!target) {
      rawReply(socket, 400, 'Bad Request', 'bad_request', `CONNECT needs host:port (got ${JSON.stringify((req.url ?? '').slice(0, 300))})`);
      return;
    }
    this.dialing.add(socket);
    const r = await dialTarget(policy, target.host, target.port);
    this.dialing.delete(socket);
    if (!r.ok) {
      this.failed(r, target.host, target.port);
      const [status, text, code] = failureStatus(r);
      rawReply(socket, status, text, code, r.message, {}, r.kind === 'blocked' ? { reason: r.reason } : {});
      return;
    }
    if (socket.destroyed || tunnels.isDraining) {
      r.socket.destroy();
      if (!socket.destroyed) rawReply(socket, 503, 'Service Unavailable', 'proxy_shutting_down', 'the proxy is shutting down');
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    tunnels.open(socket, r.socket, head);
  }

  private async onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { counters, auth, policy, idleMs } = this.d;
    const rawUrl = req.url ?? '';
    if (!/^https?:\/\//i.test(rawUrl)) {
      jsonReply(res, 400, 'bad_request', 'this is a proxy: send absolute-URI requests (GET http://host/path) or CONNECT host:port');
      return;
    }
    counters.connection('http');
    const ip = req.socket.remoteAddress ?? '';
    if (auth.blocked(ip)) {
      res.shouldKeepAlive = false;
      jsonReply(res, 429, 'proxy_auth_rate_limited', RATE_LIMITED, {}, { 'Retry-After': '60' });
      return;
    }
    if (!auth.checkHeader(req.headers['proxy-authorization'], ip)) {
      // A body the client already started sending would have to be read to keep the connection: close it instead.
      if (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0' || req.headers['transfer-encoding'] !== undefined) res.shouldKeepAlive = false;
      jsonReply(res, 407, 'proxy_auth_required', 'proxy authentication required: user "_" and the node\'s proxy password', {}, { 'Proxy-Authenticate': REALM });
      return;
    }
    let url: URL;
    try { url = new URL(rawUrl); } catch {
      jsonReply(res, 400, 'bad_request', `not a valid URL: ${JSON.stringify(rawUrl.slice(0, 300))}`);
      return;
    }
    const https = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port ? Number(url.port) : https ? 443 : 80;
    if (url.username || url.password) {
      jsonReply(res, 400, 'bad_request', 'credentials in the target URL are not forwarded: send an Authorization header');
      return;
    }
    const r = await dialTarget(policy, host, port);
    if (!r.ok) {
      this.failed(r, host, port);
      const [status, , code] = failureStatus(r);
      jsonReply(res, status, code, r.message, r.kind === 'blocked' ? { reason: r.reason } : {});
      return;
    }
    const raw = r.socket;
    if (res.destroyed) { raw.destroy(); return; }
    // Bytes on the wire to the target (headers included) count as up/down.
    const bytes = { bytesUp: () => raw.bytesWritten, bytesDown: () => raw.bytesRead };
    counters.live.add(bytes);
    raw.once('close', () => counters.finish(bytes));
    raw.setTimeout(idleMs, () => upReq.destroy(new IdleError()));
    const conn: net.Socket = https ? tls.connect({ socket: raw, servername: isIpLiteral(host) ? undefined : host, ALPNProtocols: ['http/1.1'] }) : raw;

    const upReq = http.request({
      method: req.method,
      path: `${url.pathname}${url.search}`,
      headers: forwardHeaders(req.rawHeaders, url.host),
      setHost: false,
      createConnection: () => conn,
    });
    upReq.on('response', (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, forwardHeaders(upRes.rawHeaders));
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    upReq.on('error', (err) => {
      if (res.headersSent) { res.destroy(); return; }
      const idle = err instanceof IdleError;
      jsonReply(res, idle ? 504 : 502, idle ? 'gateway_timeout' : 'bad_gateway', idle ? `${url.host} sent nothing for ${idleMs} ms` : `${url.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
    });
    // The client went away before the response was complete: stop talking to the target.
    res.on('close', () => { if (!res.writableFinished) upReq.destroy(); });
    req.pipe(upReq);
  }

  private failed(r: DialFailure, host: string, port: number): void {
    if (r.kind === 'blocked') {
      this.d.counters.block('http', r.reason);
      this.d.log.debug({ proxy: 'http', host, port, reason: r.reason }, 'proxy target denied');
    } else {
      this.d.log.debug({ proxy: 'http', host, port, kind: r.kind }, r.message);
    }
  }

  private internal(res: http.ServerResponse, err: unknown): void {
    this.d.log.error({ err }, 'proxy request failed');
    if (!res.headersSent) jsonReply(res, 500, 'internal', 'proxy error');
    else res.destroy();
  }
}

class IdleError extends Error {}

function failureStatus(r: DialFailure): [number, string, string] {
  switch (r.kind) {
    case 'blocked': return [403, 'Forbidden', 'target_denied'];
    case 'invalid': return [400, 'Bad Request', 'bad_request'];
    case 'timeout': return [504, 'Gateway Timeout', 'gateway_timeout'];
    default: return [502, 'Bad Gateway', 'bad_gateway'];
  }
}

/** `host:port` or `[v6]:port` (CONNECT's authority form). */
export function parseAuthority(s: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9a-fA-F:.%]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]/\s@]+):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1], port } : undefined;
}

/**
 * Copies headers except hop-by-hop ones (and those the Connection header names); keeps repeats.
 * With `host`, the Host header is the target URL's authority (RFC 9112 §3.2.2).
 */
export function forwardHeaders(raw: string[], host?: string): Record<string, string | string[]> {
  const drop = new Set(HOP_BY_HOP);
  if (host !== undefined) drop.add('host');
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    if (k === 'connection' || k === 'proxy-connection') for (const tok of raw[i + 1].split(',')) drop.add(tok.trim().toLowerCase());
  }
  // Header names are the client's: dictionaries without a prototype (`constructor: x` is a header).
  const out = Object.create(null) as Record<string, string | string[]>;
  const names = Object.create(null) as Record<string, string>;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (drop.has(lower)) continue;
    const name = (names[lower] ??= raw[i]);
    const prev = out[name];
    out[name] = prev === undefined ? raw[i + 1] : Array.isArray(prev) ? [...prev, raw[i + 1]] : [prev, raw[i + 1]];
  }
  return host === undefined ? out : { Host: host, ...out };
}

function isIpLiteral(h: string): boolean {
  return /^[\d.]+$/.test(h) || h.includes(':');
}

function errorBody(code: string, message: string, details: Record<string, unknown>): string {
  return JSON.stringify({ error: code, message, details });
}

function jsonReply(res: http.ServerResponse, status: number, code: string, message: string, details: Record<string, unknown> = {}, headers: Record<string, string> = {}): void {
  const body = errorBody(code, message, details);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** A response written straight to a socket the HTTP server no longer owns (CONNECT, upgrade), then closed. */
function rawReply(socket: net.Socket, status: number, text: string, code: string, message: string, headers: Record<string, string> = {}, details: Record<string, unknown> = {}): void {
  if (socket.destroyed) return;
  const body = errorBody(code, message, details);
  const lines = [`HTTP/1.1 ${status} ${text}`, 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
