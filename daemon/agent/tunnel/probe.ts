// Why did the tunnel's WebSocket handshake fail? undici's WebSocket only says "network error or
// non-101 status", which cannot tell an unreachable admin from one that refuses the node's
// token. After a handshake that never opened, the client repeats it once as a plain HTTP
// upgrade request and reads the answer: the network error, or the status and the admin's JSON
// reason. Used for the log line only; the retry does not wait for it.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export interface ProbeResult {
  /** HTTP status of the answer (101: the handshake works now); absent on a network error. */
  status?: number;
  /** The admin's reason (JSON `message`), or the network error's message. */
  message: string;
  /** Network error code (ECONNREFUSED, ENOTFOUND, ETIMEDOUT…). */
  code?: string;
}

export function probeTunnel(wsUrl: string, token: string, timeoutMs = 10_000): Promise<ProbeResult> {
  const u = new URL(wsUrl);
  const secure = u.protocol === 'wss:' || u.protocol === 'https:';
  u.protocol = secure ? 'https:' : 'http:';
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult) => { if (!done) { done = true; resolve(r); } };
    const req = (secure ? https : http).request(u, {
      method: 'GET', timeout: timeoutMs, agent: false,
      headers: {
        connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'), authorization: `Bearer ${token}`,
      },
    });
    req.on('upgrade', (_res, socket) => { socket.destroy(); finish({ status: 101, message: 'the handshake succeeds now' }); });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (body.length < 4096) body += d; });
      res.on('error', () => undefined);
      res.on('end', () => {
        let message = body.trim().slice(0, 300) || res.statusMessage || '';
        try { const j = JSON.parse(body) as { message?: unknown; error?: { message?: unknown } }; message = String(j.message ?? j.error?.message ?? message); } catch { /* not JSON */ }
        finish({ status: res.statusCode, message });
      });
    });
    req.on('timeout', () => { req.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: 'ETIMEDOUT' })); });
    req.on('error', (err: NodeJS.ErrnoException) => finish({ message: err.message, code: err.code }));
    req.end();
  });
}
