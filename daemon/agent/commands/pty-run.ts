// Runs one command_text with the configured shell in a PTY (node-pty), as the run-as account.
// The shell is the PTY's session leader, so its pid is also its process group: cancel, timeout
// and shutdown send SIGTERM to the whole group, then SIGKILL after the grace period.
import { DEFAULT_PATH, viaSetpriv } from '../ssh/spawn';
import { giveTerminal, patientPtyClose } from '../host/pty-close';
import fs from 'node:fs';
import { loadPty } from '../../../native';
import type { RunAs } from '../host/run-as';

export type StopReason = 'cancel' | 'timeout' | 'shutdown';

export interface RunSpec {
  executionId: string;
  text: string;
  shell: string;
  runAs: RunAs;
  timeoutMs: number | null;
  killGraceMs: number;
  /** Path of util-linux setpriv, used to switch user with the account's supplementary groups. */
  setpriv?: string;
}

export interface RunExit {
  /** The shell's exit status, or 128 + signal when a signal ended it. */
  code: number;
  signal: number | null;
  /** Set when the agent ended it (cancel, timeout, shutdown). */
  stoppedBy: StopReason | null;
}

const EOT = '\x04';


/**
 * Whether any process of the group still runs. Zombies do not count: killed children are
 * reparented to init, which in containers may take its time to reap them. /proc is read when it
 * exists (Linux); elsewhere kill(-pgid, 0) answers, zombies included.
 */
export function groupAlive(pgid: number): boolean {
  let entries: string[] | undefined;
  try { entries = fs.readdirSync('/proc'); } catch { /* no procfs */ }
  if (!entries) {
    try { process.kill(-pgid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  }
  for (const d of entries) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    let stat: string;
    try { stat = fs.readFileSync(`/proc/${d}/stat`, 'latin1'); } catch { continue; }
    // pid (comm) state ppid pgrp …: comm may contain spaces and parentheses, so split after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(f[2]) === pgid && f[0] !== 'Z' && f[0] !== 'X') return true;
  }
  return false;
}

function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try { process.kill(-pgid, sig); } catch { /* already gone */ }
}

export class PtyRun {
  readonly pid: number;
  readonly done: Promise<RunExit>;
  private stoppedBy: StopReason | null = null;
  private exited = false;
  private killTimer?: NodeJS.Timeout;
  private timeoutTimer?: NodeJS.Timeout;
  private killDeadline = 0;

  /** Throws when the PTY cannot be created (node-pty missing, fork failure). */
  constructor(private readonly spec: RunSpec, onData: (chunk: Buffer) => void) {
    const pty = loadPty();
    const ra = spec.runAs;
    const home = ra.home && fs.existsSync(ra.home) ? ra.home : '/';
    const env: Record<string, string> = {
      HOME: home,
      USER: ra.user,
      LOGNAME: ra.user,
      SHELL: ra.shell,
      PATH: DEFAULT_PATH,
      LANG: process.env.LANG || 'C.UTF-8',
      OUTPOST_COMMAND_EXECUTION_ID: spec.executionId,
    };
    let file = spec.shell;
    let args = ['-c', spec.text];
    let ids: { uid?: number; gid?: number } = {};
    if (ra.switchUser) {
      if (spec.setpriv) {
        // node-pty's own uid/gid switch would keep the daemon's supplementary groups.
        ({ file, args } = viaSetpriv(spec.setpriv, ra, spec.shell, args));
      } else {
        ids = { uid: ra.uid, gid: ra.gid };
      }
    }
    const proc = pty.spawn(file, args, { name: 'xterm-256color', cols: 200, rows: 50, cwd: home, env, encoding: null, ...ids } as Parameters<typeof pty.spawn>[2]);
    this.pid = proc.pid;
    patientPtyClose(proc);
    if (ra.switchUser) giveTerminal(proc, ra.uid, ra.gid);
    proc.onData((d: string | Buffer) => { onData(typeof d === 'string' ? Buffer.from(d, 'utf8') : d); });
    // stdin is the terminal: one end-of-file up front, so a command that reads input does not
    // wait for a keyboard that will never come.
    proc.write(EOT);
    this.done = new Promise((resolve) => {
      proc.onExit(({ exitCode, signal }) => {
        this.exited = true;
        if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
        const sig = signal ? signal : null;
        const code = sig ? 128 + sig : exitCode;
        // node-pty reports the exit once its side of the terminal is closed, which
        // patientPtyClose holds back until the command's last output has been read.
        const finish = () => {
          if (this.killTimer) clearTimeout(this.killTimer);
          resolve({ code, signal: sig, stoppedBy: this.stoppedBy });
        };
        if (!this.stoppedBy) { finish(); return; }
        // Stopped by us: the shell is gone, wait (up to the SIGKILL deadline) for the rest of
        // its group, so "cancelled" means nothing of it still runs.
        const poll = () => {
          if (!groupAlive(this.pid)) { finish(); return; }
          if (Date.now() >= this.killDeadline) { signalGroup(this.pid, 'SIGKILL'); finish(); return; }
          setTimeout(poll, 50);
        };
        poll();
      });
    });
    if (spec.timeoutMs !== null) this.timeoutTimer = setTimeout(() => this.stop('timeout'), spec.timeoutMs);
  }

  /** SIGTERM to the process group now, SIGKILL after the grace period. Idempotent. */
  stop(reason: StopReason): void {
    if (this.stoppedBy || this.exited) return;
    this.stoppedBy = reason;
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.killDeadline = Date.now() + this.spec.killGraceMs;
    if (this.spec.killGraceMs === 0) { signalGroup(this.pid, 'SIGKILL'); return; }
    signalGroup(this.pid, 'SIGTERM');
    this.killTimer = setTimeout(() => signalGroup(this.pid, 'SIGKILL'), this.spec.killGraceMs);
  }
}
