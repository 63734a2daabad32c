// Every process and temp dir the bench creates is registered here, and torn down at the end,
// on error, and on SIGINT/SIGTERM. Processes are ended by their own pid, nothing broader.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  /** stdout and stderr so far (capped). */
  out(): string;
  err(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  /** Waits for a line on stdout matching `re`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const CAP = 1 << 20;
const procs = new Set<Proc>();
const dirs = new Set<string>();
let tmpRoot: string | undefined;
let pinning = true;

export function setTmpRoot(dir: string | undefined): void { tmpRoot = dir; }
export function setPinning(on: boolean): void { pinning = on; }

export function tempDir(prefix: string): string {
  const root = tmpRoot ?? os.tmpdir();
  fs.mkdirSync(root, { recursive: true });
  const d = fs.mkdtempSync(path.join(root, `outpost-bench-${prefix}-`));
  dirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  fs.rmSync(d, { recursive: true, force: true });
  dirs.delete(d);
}

/** The argv that runs `cmd` pinned to `cpu` (taskset -c), or unpinned if pinning is off. */
export function pinned(cpu: string, cmd: string, args: string[]): [string, string[]] {
  return pinning ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args];
}

/**
 * Node flags outpostd runs with (npm start and the systemd unit pass the same): a 64 MB initial
 * old generation. Without it the small post-startup heap gets an old-generation limit so low that
 * data flowing at hundreds of MB/s sets off a mark-compact every few tens of milliseconds (45 per
 * 500 MiB through the SSH server, ~18 % of the transfer time); with it, one.
 */
export const DAEMON_NODE_FLAGS = ['--initial-old-space-size=64'];

export function start(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Proc {
  const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const lineWaiters: Array<() => void> = [];
  child.stdout!.on('data', (d: Buffer) => { if (out.length < CAP) out += d.toString(); for (const w of lineWaiters.slice()) w(); });
  child.stderr!.on('data', (d: Buffer) => { if (err.length < CAP) err += d.toString(); });
  let exitedFlag = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => { exitedFlag = true; resolve({ code, signal }); for (const w of lineWaiters.slice()) w(); });
    child.on('error', (e) => { exitedFlag = true; err += `spawn error: ${e.message}\n`; resolve({ code: -1, signal: null }); for (const w of lineWaiters.slice()) w(); });
  });
  const p: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    out: () => out,
    err: () => err,
    exited,
    alive: () => !exitedFlag && child.exitCode === null && child.signalCode === null,
    waitFor(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = out.match(re);
          if (m) { done(); resolve(m); return; }
          if (exitedFlag) { done(); reject(new Error(`${name} exited before it was ready\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`)); }
        };
        const timer = setTimeout(() => { done(); reject(new Error(`${name} not ready after ${timeoutMs} ms\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`)); }, timeoutMs);
        const done = (): void => { clearTimeout(timer); const i = lineWaiters.indexOf(check); if (i >= 0) lineWaiters.splice(i, 1); };
        lineWaiters.push(check);
        check();
      });
    },
    async stop(graceMs = 5000) {
      if (p.alive()) {
        try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ }
        const t = setTimeout(() => { if (p.alive()) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } } }, graceMs);
        await exited;
        clearTimeout(t);
      }
      procs.delete(p);
    },
  };
  procs.add(p);
  void exited.then(() => { if (!p.alive()) procs.delete(p); });
  return p;
}

/** Runs a command to completion (bounded); resolves with its output whatever the exit code. */
export async function run(name: string, cmd: string, args: string[], timeoutMs: number, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  const p = start(name, cmd, args, opts);
  let timedOut = false;
  const t = setTimeout(() => { timedOut = true; void p.stop(2000); }, timeoutMs);
  const { code } = await p.exited;
  clearTimeout(t);
  procs.delete(p);
  return { code, stdout: p.out(), stderr: p.err(), timedOut };
}

let cleaning: Promise<void> | undefined;

/** Stops every live process and removes every temp dir. Safe to call more than once. */
export function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...procs].map((p) => p.stop(3000)));
    for (const d of [...dirs]) { try { removeTempDir(d); } catch { /* best effort */ } }
  })();
  return cleaning;
}

/** Last resort when the process is exiting anyway: SIGKILL survivors, remove dirs, synchronously. */
function cleanupSync(): void {
  for (const p of procs) if (p.alive()) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const d of dirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ } }
}

export function installCleanupHandlers(): void {
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, stopping every process it started...\n`);
      const hard = setTimeout(() => process.exit(130), 8000);
      void cleanupAll().finally(() => { clearTimeout(hard); process.exit(130); });
    });
  }
}
