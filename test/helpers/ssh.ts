// Helpers for the SSH server tests: a daemon with SSH on, the run-as test account, client keys
// made with ssh-keygen, and the real OpenSSH client (ssh, scp, sftp) run with a time bound.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import { request } from 'undici';
import { startInProc, tempDir, type InProc } from './daemon';
import { until as waitUntil } from './wait';

export const RUN_AS = 'outpost-test';
export const MASTER = 'ssh-test-master-key';

/** Creates the run-as account once (idempotent) and returns its home. */
export function ensureRunAsUser(): string {
  try { execFileSync('getent', ['passwd', RUN_AS], { stdio: 'ignore' }); } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', RUN_AS], { stdio: 'ignore' });
  }
  return execFileSync('getent', ['passwd', RUN_AS], { encoding: 'utf8' }).split(':')[5];
}

export interface SshDaemon extends InProc { sshPort: number; api: (method: string, p: string, body?: unknown) => Promise<{ status: number; body: any }> }

export async function startSshDaemon(t: Test, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<SshDaemon> {
  ensureRunAsUser();
  const d = await startInProc(t, ['--ssh-enabled', 'true', '--ssh-port', '0', '--ssh-run-as', RUN_AS, ...args], { MASTER_KEY: MASTER, ...env });
  const api = async (method: string, p: string, body?: unknown) => {
    const r = await request(`${d.url}${p}`, { method: method as 'GET', headers: { authorization: `Bearer ${MASTER}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.body.text();
    let parsed: unknown = text;
    try { parsed = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.statusCode, body: parsed as any };
  };
  return { ...d, sshPort: d.daemon.sshPort!, api };
}

/** A fresh client key pair (ssh-keygen) in a temp dir; returns the private key path. */
export function makeKey(t: Test, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519'): { key: string; pub: string } {
  const dir = tempDir(t, 'outpost-sshkey-');
  const key = path.join(dir, `id_${type}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '3072'] : []), '-N', '', '-C', `test-${type}`, '-f', key]);
  return { key, pub: fs.readFileSync(`${key}.pub`, 'utf8').trim() };
}

export const COMMON = ['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=10'];

/** Options for key login: only this key, never a password prompt. */
export const keyOpts = (key: string) => [...COMMON, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'PasswordAuthentication=no', '-i', key];

export interface Ran { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs a program to completion with a time bound; stdin from `input` (or closed). */
export function run(t: Test, cmd: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d; });
    p.stderr.on('data', (d: Buffer) => { stderr += d; });
    p.stdin.on('error', () => {});
    p.stdin.end(opts.input ?? '');
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')} timed out\n${stdout}\n${stderr}`)); }, opts.timeoutMs ?? 20_000);
    t.teardown(() => { clearTimeout(timer); if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL'); });
    p.on('error', reject);
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** ssh as `user` with `key` running `command`. */
export function sshKey(t: Test, d: SshDaemon, user: string, key: string, command: string, extra: string[] = [], input?: string): Promise<Ran> {
  return run(t, 'ssh', [...keyOpts(key), '-p', String(d.sshPort), ...extra, `${user}@127.0.0.1`, command], { input });
}

/** ssh with a password supplied by an SSH_ASKPASS script (no TTY needed). */
export function sshPassword(t: Test, d: SshDaemon, user: string, password: string, command: string, extra: string[] = []): Promise<Ran> {
  const dir = tempDir(t, 'outpost-askpass-');
  const askpass = path.join(dir, 'askpass.sh');
  fs.writeFileSync(path.join(dir, 'pw'), password, { mode: 0o600 });
  fs.writeFileSync(askpass, `#!/bin/sh\ncat '${path.join(dir, 'pw')}'\n`, { mode: 0o700 });
  return run(t, 'ssh', [...COMMON, '-o', 'BatchMode=no', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password', '-o', 'NumberOfPasswordPrompts=1', '-p', String(d.sshPort), ...extra, `${user}@127.0.0.1`, command], {
    env: { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
  });
}

export async function createUser(t: Test, d: SshDaemon, username: string, opts: { password?: string; keys?: string[] } = {}): Promise<any> {
  const r = await d.api('POST', '/api/v1/agent/ssh_usernames', { username, ...(opts.password ? { password: opts.password } : {}), public_keys: (opts.keys ?? []).map((k, i) => ({ key_name: `k${i}`, public_key: k })) });
  t.equal(r.status, 201, `created ${username}`);
  return r.body;
}

export function auditLines(d: SshDaemon): Array<Record<string, any>> {
  const f = path.join(d.dataDir, 'agent', 'audit.log');
  if (!fs.existsSync(f)) return [];
  return fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Polls `fn` until it returns a truthy value (or fails after `ms`). */
export function eventually<T>(fn: () => T | Promise<T>, ms = 5000): Promise<T> {
  return waitUntil('condition', fn as () => Promise<T | undefined>, ms, { everyMs: 50 });
}
