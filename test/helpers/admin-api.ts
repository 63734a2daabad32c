// An in-process admin (daemon with --admin) on SQLite or the test's PostgreSQL database, with a
// JSON caller for its API, and nodes enrolled straight through the store (no agent needed).
import type { Test } from 'tap';
import { request } from 'undici';
import { consumeEnrollmentKey } from '../../daemon/admin/store/enroll';
import { decodeKeyBlob } from '../../daemon/tunnel/enrollment';
import { newId } from '../../daemon/admin/store/util';
import { startInProc } from './daemon';
import type { DialectCtx } from './postgres';
import { until as waitUntil } from './wait';

export const ADMIN_KEY = 'admin-test-master-key';

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface Reply { status: number; json: any; text: string }

export async function startAdminApi(t: Test, ctx: DialectCtx, args: string[] = [], env: Record<string, string> = {}) {
  const { daemon, dataDir } = await startInProc(t, ['--admin', 'true', '--admin-port', '0', ...args], { MASTER_KEY: ADMIN_KEY, ...(ctx.databaseUrl ? { DATABASE_URL: ctx.databaseUrl } : {}), ...env });
  const admin = daemon.admin!;
  const base = `http://127.0.0.1:${admin.port}`;
  const call = async (method: string, path: string, body?: unknown): Promise<Reply> => {
    const r = await request(`${base}${path}`, { method: method as 'GET', headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    let json: any;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: r.statusCode, json, text };
  };
  /** Creates a cluster (if needed) and a key, and enrolls a node into it through the store. */
  const enrollNode = async (clusterName: string, fields: { node_name?: string; version?: string } = {}): Promise<string> => {
    if ((await call('GET', `/api/v1/clusters/${clusterName}`)).status === 404) await call('POST', '/api/v1/clusters', { name: clusterName });
    const k = await call('POST', `/api/v1/clusters/${clusterName}/enrollment_keys`, {});
    const id = newId();
    await consumeEnrollmentKey(admin.store.db, decodeKeyBlob(k.json.data.key).secret, { node_id: id, id_type: 'random', ...fields });
    return id;
  };
  return { daemon, admin, base, call, db: admin.store.db, dataDir, enrollNode };
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`). */
export function until<T>(fn: () => Promise<T | undefined | null | false>, ms = 10_000, what = 'condition'): Promise<T> {
  return waitUntil(what, fn, ms, { everyMs: 50 });
}
