// Helpers for the proxy tests: the real curl client, a local HTTP sink to proxy to, a TCP
// server that never answers, and a raw SOCKS5 client for reply codes curl cannot provoke.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Test } from 'tap';
import { until as waitUntil } from './wait';

export interface CurlResult { code: number; status: number; body: string; stderr: string; numConnects: number }

/** Runs curl with args; `-w` appends the status and connection count to stdout. */
export function curl(args: string[], timeoutMs = 20_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--noproxy', '', '-w', '\n@@%{http_code} %{num_connects}', ...args], { env: { PATH: process.env.PATH }, timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'latin1' }, (err, stdout, stderr) => {
      const m = /\n@@(\d+) (\d+)$/.exec(stdout);
      const raw = (err as { code?: unknown } | null)?.code;
      const code = err ? (typeof raw === 'number' ? raw : -1) : 0;
      resolve({ code, status: m ? Number(m[1]) : 0, numConnects: m ? Number(m[2]) : 0, body: m ? stdout.slice(0, m.index) : stdout, stderr });
    });
  });
}

export interface Sink { port: number; requests: http.IncomingHttpHeaders[]; server: http.Server }

/**
 * A local HTTP server: GET /hello, POST /echo (body back with its sha256 in a header),
 * GET /bytes/N (N bytes), GET /slow (answers after 300 ms).
 */
export async function startSink(t: Test, host = '127.0.0.1'): Promise<Sink> {
  const requests: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.headers);
    if (req.url === '/hello') { res.end('hello'); return; }
    if (req.url === '/slow') { setTimeout(() => res.end('slow done'), 300); return; }
    const bytes = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
    if (bytes) { res.end(Buffer.alloc(Number(bytes[1]), 'x')); return; }
    if (req.url === '/echo' && req.method === 'POST') {
      const h = crypto.createHash('sha256');
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => { h.update(d); chunks.push(d); });
      req.on('end', () => { res.setHeader('x-sha256', h.digest('hex')); res.end(Buffer.concat(chunks)); });
      return;
    }
    res.statusCode = 404;
    res.end('no such path');
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { port: (server.address() as net.AddressInfo).port, requests, server };
}

/** A TCP server that accepts and never sends a byte. */
export async function startSilent(t: Test): Promise<{ port: number; sockets: Set<net.Socket> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => { sockets.add(s); s.on('error', () => {}); s.on('close', () => sockets.delete(s)); s.resume(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }));
  return { port: (server.address() as net.AddressInfo).port, sockets };
}

/** A raw SOCKS5 exchange: sends each message after reading `expect` bytes of the previous answer. */
export async function socksExchange(port: number, steps: Array<{ send: Buffer; expect: number }>): Promise<Buffer[]> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
  let buf = Buffer.alloc(0);
  let ended = false;
  const waiters: Array<() => void> = [];
  sock.on('data', (d: Buffer) => { buf = Buffer.concat([buf, d]); waiters.splice(0).forEach((w) => w()); });
  sock.on('close', () => { ended = true; waiters.splice(0).forEach((w) => w()); });
  sock.on('error', () => {});
  const out: Buffer[] = [];
  try {
    for (const step of steps) {
      sock.write(step.send);
      while (buf.length < step.expect && !ended) await new Promise<void>((r) => waiters.push(r));
      out.push(buf.subarray(0, step.expect));
      buf = buf.subarray(step.expect);
      if (ended) break;
    }
  } finally {
    sock.destroy();
  }
  return out;
}

export const socksGreeting = Buffer.from([0x05, 0x01, 0x02]);
export function socksAuth(user: string, pass: string): Buffer {
  return Buffer.concat([Buffer.from([0x01, user.length]), Buffer.from(user), Buffer.from([pass.length]), Buffer.from(pass)]);
}
export function socksConnectV4(cmd: number, ip: string, port: number): Buffer {
  return Buffer.from([0x05, cmd, 0x00, 0x01, ...ip.split('.').map(Number), port >> 8, port & 255]);
}

/** Polls pred every 20 ms until true; throws after ms. */
export async function waitFor(pred: () => boolean, ms = 5000): Promise<void> {
  await waitUntil('condition', pred, ms);
}
