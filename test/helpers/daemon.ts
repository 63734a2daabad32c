// Test helpers: a daemon in this process (fast) or as a child process (for signals and
// SIGKILL), each with its own temp data dir, cleaned up by tap's teardown.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Test } from 'tap';
import type { DataPlaneOptions } from '../../core';
import { loadConfig } from '../../daemon/config/config';
import { startDaemon, type Daemon } from '../../daemon/daemon';
import { createLogger } from '../../daemon/base/log';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const MAIN = path.join(ROOT, 'dist', 'daemon', 'main.js');
/** outpostd with a write mode only the bench carries (`--ablation-write-mode inline|per-op`). */
export const ABLATION_MAIN = path.join(ROOT, 'dist', 'bench', 'ablation', 'outpostd.js');

export function tempDir(t: Test, prefix = 'outpost-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Agent services (SSH, proxies) are off unless a test turns them on: they bind ports and make host keys. */
export const AGENT_OFF = ['--ssh-enabled', 'false', '--proxy-enabled', 'false', '--admin-self-enroll', 'false'];

export interface InProc { daemon: Daemon; url: string; dataDir: string }

/** Starts a daemon in this process on a free loopback port; `dataPlane` replaces data-plane options (e.g. a bench write mode). */
export async function startInProc(t: Test, args: string[] = [], env: NodeJS.ProcessEnv = {}, dataPlane: Partial<DataPlaneOptions> = {}): Promise<InProc> {
  const dataDir = tempDir(t);
  const cfg = loadConfig(['--data-dir', dataDir, '--api-port', '0', '--log-level', 'silent', ...AGENT_OFF, ...args], { ...env });
  const daemon = await startDaemon(cfg, createLogger(cfg.log_level), dataPlane);
  t.teardown(() => daemon.close());
  return { daemon, url: `http://127.0.0.1:${daemon.port}`, dataDir };
}

export interface Child { proc: ChildProcess; port: number; url: string; stdout: () => string; stderr: () => string; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

/**
 * Spawns `node dist/daemon/main.js` (or `main`) and resolves once it logs "outpostd listening"
 * (its port is read from that line, so --api-port 0 works).
 */
export function spawnDaemon(t: Test, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000, main = MAIN): Promise<Child> {
  const proc = spawn(process.execPath, [main, '--api-port', '0', ...AGENT_OFF, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGKILL'); await exited; }
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start in ${timeoutMs} ms:\n${out}\n${err}`)), timeoutMs);
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = out.match(/"port":(\d+)[^\n]*"msg":"outpostd listening"/);
      if (m) {
        clearTimeout(timer);
        const port = Number(m[1]);
        resolve({ proc, port, url: `http://127.0.0.1:${port}`, stdout: () => out, stderr: () => err, exited });
      }
    });
    void exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`daemon exited (${code ?? signal}) before listening:\n${out}\n${err}`)); });
  });
}

/** Runs the daemon to completion (for startup refusals); resolves with its exit code and output. */
export function runDaemon(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [MAIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => { stdout += d; });
    proc.stderr.on('data', (d: Buffer) => { stderr += d; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`daemon still running after ${timeoutMs} ms`)); }, timeoutMs);
    proc.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

export const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
