// Loopback helpers: free ports, readiness polling, a tiny HTTP client for prefill and checks.
import http from 'node:http';
import net from 'node:net';
import { sleep } from '../../test/helpers/wait';

export const HOST = '127.0.0.1';

export { sleep };

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export function request(port: number, method: string, path: string, body?: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = {};
    if (body !== undefined) { headers['content-type'] = 'application/json'; headers['content-length'] = Buffer.byteLength(body); }
    const req = http.request({ host: HOST, port, method, path, headers, agent, timeout: timeoutMs }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls `path` until it answers 200 (or the deadline passes). */
export async function waitHttp(port: number, path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const r = await request(port, 'GET', path, undefined, 1000);
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (err) { last = (err as Error).message; }
    await sleep(50);
  }
  throw new Error(`http://${HOST}:${port}${path} not ready after ${timeoutMs} ms (${last})`);
}

/** Runs `fn(i)` for i in [0, n) with `concurrency` in flight. */
export async function parallel(n: number, concurrency: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** Sends an inline RESP command and returns the first reply line. */
export function redisCommand(port: number, cmd: string, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST);
    let buf = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error('redis command timed out')); }, timeoutMs);
    s.on('connect', () => s.write(cmd + '\r\n'));
    s.on('data', (d) => {
      buf += d.toString();
      const i = buf.indexOf('\r\n');
      if (i >= 0) { clearTimeout(t); s.end(); resolve(buf.slice(0, i)); }
    });
    s.on('error', (e) => { clearTimeout(t); reject(e); });
  });
}

export async function waitRedis(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try { if ((await redisCommand(port, 'PING')) === '+PONG') return; } catch (err) { last = (err as Error).message; }
    await sleep(50);
  }
  throw new Error(`redis on ${port} not ready after ${timeoutMs} ms (${last})`);
}

export function closeAgent(): void { agent.destroy(); }
