// Helpers for the command runner tests: the run-as account, a MASTER_KEY client for the local
// API, polling an execution until a condition holds, and whether a process still runs.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { request } from 'undici';
import { until as waitUntil } from './wait';

export const RUN_AS = 'outpost-test';
export const MASTER = 'test-master-key';

/** Creates the run-as account once (idempotent); tests run as root. */
export function ensureRunAs(): void {
  try { execFileSync('getent', ['passwd', RUN_AS], { stdio: 'ignore' }); } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', RUN_AS], { stdio: 'ignore' });
  }
}

export interface Reply { status: number; body: any }

export async function api(url: string, method: string, path: string, body?: unknown, token = MASTER): Promise<Reply> {
  const r = await request(url + path, {
    method: method as 'GET',
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.body.text();
  return { status: r.statusCode, body: text ? JSON.parse(text) : undefined };
}

export async function run(url: string, body: Record<string, unknown>): Promise<any> {
  const r = await api(url, 'POST', '/api/v1/agent/commands', body);
  if (r.status !== 201) throw new Error(`POST /api/v1/agent/commands: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.data;
}

/** Polls GET …/command_executions/:id until `pred` holds; returns that execution. */
export async function waitFor(url: string, id: string, pred: (e: any) => boolean, ms = 15_000): Promise<any> {
  let last: any;
  return waitUntil(`execution ${id} to reach the expected state`, async () => {
    const r = await api(url, 'GET', `/api/v1/agent/command_executions/${id}`);
    last = r.body?.data;
    return r.status === 200 && pred(last) ? last : undefined;
  }, ms, { everyMs: 50 }).catch((e: Error) => { throw new Error(`${e.message}; last: ${JSON.stringify(last)}`); });
}

export const terminal = (e: any) => ['completed', 'cancelled', 'expired'].includes(e.status);

/** True while the process exists and is not a zombie (a killed, not yet reaped process is gone). */
export function running(pid: number): boolean {
  let stat: string;
  try { stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1'); } catch { return false; }
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  return state !== 'Z' && state !== 'X';
}

/** A temp dir the run-as account can read (mkdtemp makes 0700 dirs). */
export function shareDir(dir: string): string {
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** Polls `pred` every 50 ms for up to `ms`; resolves with whether it held (the caller asserts). */
export async function until(pred: () => boolean, ms = 5000): Promise<boolean> {
  return waitUntil('condition', pred, ms, { everyMs: 50 }).catch(() => pred());
}
