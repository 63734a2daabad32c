// Helpers for the SSH-credential and metrics tests of the admin: an in-process admin (the real
// control-plane app) with a JSON caller; nodes enrolled straight into its store; and an agent
// tunnel endpoint over that same store (a small SQL TunnelBackend whose credentials come from
// store/ssh.ts credentialSet), attached as the admin's hub, so a real agent daemon can enroll,
// receive its SSH credentials and answer metric requests.
import type { Test } from 'tap';
import { request } from 'undici';
import type { AdminService } from '../../daemon/admin';
import { createEnrollmentKey } from '../../daemon/admin/fleet/enrollment-keys';
import { clusterByName, ensureCluster } from '../../daemon/admin/store/clusters';
import type { Db, DbOrTrx } from '../../daemon/admin/store/db';
import { SqlTunnelBackend } from '../../daemon/admin/tunnel/sql-backend';
import { authenticateNode, consumeEnrollmentKey, recordHeartbeat, setTunnelState } from '../../daemon/admin/store/enroll';
import { credentialSet, markCredentialsSynced } from '../../daemon/admin/store/ssh';
import { type TunnelBackend } from '../../daemon/admin/tunnel/backend';
import { encodeKeyBlob, EnrollError } from '../../daemon/tunnel/enrollment';
import type { TunnelHub } from '../../daemon/admin/tunnel/hub';
import { tunnelRoutes } from '../../daemon/admin/tunnel/routes';
import { HttpServer } from '../../daemon/http';
import { startInProc } from './daemon';
import { log } from './tunnel';

export const KEY = 'admin-ssh-test-master-key';

export interface Call { status: number; json: any; text: string } // eslint-disable-line @typescript-eslint/no-explicit-any

export interface TestAdmin {
  admin: AdminService;
  db: DbOrTrx;
  base: string;
  call(method: string, path: string, body?: unknown): Promise<Call>;
}

export async function startTestAdmin(t: Test, databaseUrl?: string, args: string[] = []): Promise<TestAdmin> {
  const { daemon } = await startInProc(t, ['--admin', 'true', '--admin-port', '0', ...args], { MASTER_KEY: KEY, ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}) });
  const admin = daemon.admin!;
  const base = `http://127.0.0.1:${admin.port}`;
  const call = async (method: string, path: string, body?: unknown): Promise<Call> => {
    const r = await request(`${base}${path}`, { method: method as 'GET', headers: { authorization: `Bearer ${KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    let json: unknown;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: r.statusCode, json, text };
  };
  return { admin, db: admin.store.db, base, call };
}

/** A node enrolled straight into the store (no agent behind it). */
export async function addNode(a: TestAdmin, nodeId: string, opts: { cluster?: string; name?: string } = {}): Promise<void> {
  const cluster = await ensureCluster(a.db, opts.cluster ?? 'main');
  const key = await createEnrollmentKey(a.admin.ctx, cluster, { uses_remaining: 1 });
  await consumeEnrollmentKey(a.db, key.secret, { node_id: nodeId, id_type: 'random', ...(opts.name ? { node_name: opts.name } : {}) });
}

/** TunnelBackend over the control-plane store: what the tests need of the SQL adapter. */
export function sqlTunnelBackend(db: DbOrTrx, heartbeatIntervalMs: number): TunnelBackend {
  return {
    async enroll(req) {
      try {
        const e = await consumeEnrollmentKey(db, req.secret, { node_id: req.node_id, id_type: req.id_type, node_name: req.name, version: req.agent_version, hostname: req.host_name, ...req.ports }, new Date(), req.node_token);
        return { node_id: e.node_id, api_token: e.api_token, cluster_name: e.cluster.name, reregistered: e.reenrolled, ...(e.requested_node_id ? { requested_node_id: e.requested_node_id } : {}) };
      } catch (err) {
        throw new EnrollError('invalid_key', (err as Error).message);
      }
    },
    async authenticate(token) {
      const n = await authenticateNode(db, token);
      if (!n) return null;
      const c = await db.selectFrom('clusters').select('name').where('id', '=', n.cluster_id).executeTakeFirstOrThrow();
      return { node_id: n.id, cluster_name: c.name };
    },
    async tunnelUp(node, _info, at) {
      await setTunnelState(db, node.node_id, true, heartbeatIntervalMs, new Date(at));
      await recordHeartbeat(db, node.node_id, new Date(at), {}, heartbeatIntervalMs);
      return { deliveries: [], cancels: [], credentials: await credentialSet(db, node.node_id) };
    },
    async tunnelDown(nodeId, at) { await setTunnelState(db, nodeId, false, heartbeatIntervalMs, new Date(at)); },
    async recordHeartbeats(beats) { for (const b of beats) await recordHeartbeat(db, b.node_id, new Date(b.received_at), {}, heartbeatIntervalMs); },
    async setStatus() { /* the store computes statuses from heartbeats */ },
    async delivered(acks) {
      await markCredentialsSynced(db, acks.flatMap((a) => (a.kind === 'credentials' ? [{ node_id: a.node_id, version: a.version, at: a.at }] : [])));
    },
    async recordResults() { /* no commands in these tests */ },
    // Agent events go through the real SQL path (agent_events, and the outbox for catalog types).
    async recordEvents(events) { await new SqlTunnelBackend(db as Db, heartbeatIntervalMs).recordEvents(events); },
    credentials: (nodeId) => credentialSet(db, nodeId),
  };
}

export interface TunnelEndpoint { hub: TunnelHub; url: string; stop(): Promise<void> }

/** The tunnel endpoint (enroll + WebSocket) on its own loopback port, mounted as the admin's hub. */
export async function attachTunnel(t: Test, a: TestAdmin, opts: { port?: number; heartbeatIntervalMs?: number } = {}): Promise<TunnelEndpoint> {
  const heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 200;
  const http = new HttpServer({ maxBodyBytes: 1 << 20, maxInflight: 1000, keys: {}, log });
  const hub = tunnelRoutes(http, sqlTunnelBackend(a.db, heartbeatIntervalMs), { log, heartbeatIntervalMs, heartbeatFlushMs: 50, metricsTimeoutMs: 5000 });
  http.finish();
  const port = await http.listen('127.0.0.1', opts.port ?? 0);
  http.state = 'ready';
  a.admin.ctx.hub = hub;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (a.admin.ctx.hub === hub) a.admin.ctx.hub = undefined;
    await hub.close();
    await http.close(1000);
  };
  t.teardown(stop);
  return { hub, url: `http://127.0.0.1:${port}`, stop };
}

/** An ENROLLMENT_KEY blob (the agent's format) for the admin's cluster, pointing at the tunnel endpoint. */
export async function agentKey(a: TestAdmin, tunnelUrl: string, cluster = 'main'): Promise<string> {
  const c = (await clusterByName(a.db, cluster)) ?? (await ensureCluster(a.db, cluster));
  const key = await createEnrollmentKey(a.admin.ctx, c, { uses_remaining: null });
  return encodeKeyBlob({ v: 1, urls: [tunnelUrl], secret: key.secret });
}
