// Tunnel test helpers: an admin (HttpServer + enrollment route + TunnelHub) on a loopback port
// over the in-memory TunnelBackend, that can be stopped and started again on the same port;
// enrollment keys; a quiet logger.
import net from 'node:net';
import pino from 'pino';
import type { Test } from 'tap';
import { type TunnelBackend } from '../../daemon/admin/tunnel/backend';
import { encodeKeyBlob } from '../../daemon/tunnel/enrollment';
import { tunnelRoutes } from '../../daemon/admin/tunnel/routes';
import type { TunnelHub } from '../../daemon/admin/tunnel/hub';
import { MemoryTunnelBackend } from './memory-tunnel-backend';
import { HttpServer } from '../../daemon/http';

export const log = pino({ level: process.env.TUNNEL_TEST_LOG ?? 'silent' });

export interface Admin { http: HttpServer; hub: TunnelHub; port: number; url: string; stop(): Promise<void> }

export async function startAdmin(t: Test, backend: TunnelBackend, opts: { port?: number; heartbeatIntervalMs?: number; metricsTimeoutMs?: number; enrollFailuresPerMinute?: number } = {}): Promise<Admin> {
  const http = new HttpServer({ maxBodyBytes: 1 << 20, maxInflight: 10000, keys: {}, log });
  const hub = tunnelRoutes(http, backend, { log, heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 200, heartbeatFlushMs: 50, metricsTimeoutMs: opts.metricsTimeoutMs, enrollFailuresPerMinute: opts.enrollFailuresPerMinute });
  http.finish();
  const port = await http.listen('127.0.0.1', opts.port ?? 0);
  http.state = 'ready';
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await hub.close();
    await http.close(1000);
  };
  t.teardown(stop);
  return { http, hub, port, url: `http://127.0.0.1:${port}`, stop };
}

let n = 0;
/** A fresh key in the backend and its blob. */
export function newKey(b: MemoryTunnelBackend, adminUrl: string, uses: number | null = 1, expired_at: number | null = null): { secret: string; blob: string } {
  const secret = `test-secret-${process.pid}-${++n}-abcdefgh`;
  b.addKey(secret, 'default', uses, expired_at);
  return { secret, blob: encodeKeyBlob({ v: 1, urls: [adminUrl], secret }) };
}

export const FAST_BACKOFF = { baseMs: 50, capMs: 400 };

/** A free loopback port (listen on it explicitly: uSockets sets SO_REUSEADDR only for a non-zero port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); });
  });
}
