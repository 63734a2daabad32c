// One SSH "session" channel: pty-req, env, window-change and signal requests, then a shell or
// exec (with a PTY through node-pty, without one through pipes), or the sftp subsystem.
// Output is recorded; the exit status or signal goes back to the client after the last byte.
import { giveTerminal, patientPtyClose } from '../host/pty-close';
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import type { ServerChannel, Session } from 'ssh2';
import { loadPty } from '../../../native';
import type { Recording } from './recording';
import { envAllowed, homeDir, launch, sessionEnv, sftpServerPath } from './spawn';
import { source, touch, type ConnState, type SshContext } from './types';

interface PtyInfo { term: string; cols: number; rows: number }
type Exit = { status: number | null; signal: string | null };

/** Signals a client may send (RFC 4254 names, without SIG). */
const FORWARDED_SIGNALS = new Set(['HUP', 'INT', 'QUIT', 'KILL', 'TERM', 'USR1', 'USR2', 'ALRM', 'ABRT', 'PIPE']);

function signalName(n: number | undefined): string | null {
  if (!n) return null;
  const e = Object.entries(os.constants.signals).find(([, v]) => v === n);
  return e ? e[0].replace(/^SIG/, '') : null;
}

/** Resolves once everything written to `w` has gone out (or the channel is gone). */
function flushed(w: NodeJS.WritableStream & { writableLength: number; destroyed: boolean }, channel: ServerChannel): Promise<void> {
  if (w.writableLength === 0 || w.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { channel.off('close', done); resolve(); };
    channel.once('close', done);
    w.write(Buffer.alloc(0), () => done());
  });
}

let nextSession = 1;

export function handleSession(ctx: SshContext, conn: ConnState, session: Session): void {
  const id = `${conn.id}-${nextSession++}`;
  let pty: PtyInfo | undefined;
  const clientEnv = Object.create(null) as Record<string, string>;
  let resize: ((cols: number, rows: number) => void) | undefined;
  let sendSignal: ((name: string) => void) | undefined;

  session.on('pty', (accept, reject, info) => {
    pty = { term: info.term || 'xterm', cols: info.cols || 80, rows: info.rows || 24 };
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (pty) { pty.cols = info.cols || pty.cols; pty.rows = info.rows || pty.rows; }
    resize?.(info.cols, info.rows);
    accept?.();
  });
  session.on('env', (accept, reject, info) => {
    if (envAllowed(info.key) && typeof info.val === 'string' && info.val.length <= 4096) { clientEnv[info.key] = info.val; accept?.(); } else reject?.();
  });
  session.on('signal', (accept, reject, info) => {
    const name = String(info.name).toUpperCase().replace(/^SIG/, '');
    if (FORWARDED_SIGNALS.has(name) && sendSignal) { sendSignal(name); accept?.(); } else reject?.();
  });
  session.on('shell', (accept) => start(accept(), undefined));
  session.on('exec', (accept, _reject, info) => start(accept(), info.command));
  session.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp') return reject();
    startSftp(accept());
  });

  /** Refuses a started channel with a message on stderr and exit status 1. */
  function refuse(channel: ServerChannel, message: string): void {
    channel.stderr.write(`outpost: ${message}\r\n`);
    channel.exit(1);
    channel.end();
  }

  function runAsOrRefuse(channel: ServerChannel, what: string): NonNullable<ConnState['runAs']> | undefined {
    if (conn.runAs) return conn.runAs;
    ctx.audit.write({ event: 'run_as_missing', ...source(conn), run_as: ctx.runAsName, command: what, reason: conn.runAsError });
    refuse(channel, conn.runAsError ?? 'no account to run the session as');
    return undefined;
  }

  function start(channel: ServerChannel, command: string | undefined): void {
    touch(conn);
    const runAs = runAsOrRefuse(channel, command ?? 'shell');
    if (!runAs) return;
    const info = { user: conn.user!, ip: conn.ip, port: conn.port, localIp: conn.localIp, localPort: conn.localPort };
    const env = sessionEnv(runAs, info, clientEnv, pty?.term);
    const recEnv: Record<string, string> = { SHELL: runAs.shell };
    if (pty) recEnv.TERM = pty.term;
    const rec = ctx.recordings.start({ kind: command === undefined ? 'shell' : 'exec', user: conn.user!, run_as: runAs.user, source_address: conn.ip, source_port: conn.port, command: command ?? null, pty: Boolean(pty), width: pty?.cols ?? 80, height: pty?.rows ?? 24 }, recEnv);
    ctx.counters.sessions_total++;
    ctx.activeSessions.n++;
    ctx.audit.write({ event: command === undefined ? 'session_start' : 'exec', ...source(conn), session_id: id, run_as: runAs.user, command, pty: Boolean(pty), recording_id: rec?.meta.id });
    const args = command === undefined ? ['-l'] : ['-c', command];
    let ended = false;
    const end = async (exit: Exit, flush: Array<Promise<void>>) => {
      if (ended) return;
      ended = true;
      conn.closers.delete(hangup);
      ctx.activeSessions.n--;
      await Promise.all(flush);
      if (exit.signal) channel.exit(exit.signal, false, '');
      else channel.exit(exit.status ?? 255);
      channel.end();
      await rec?.finish(exit);
      ctx.audit.write({ event: 'session_end', ...source(conn), session_id: id, command, exit_status: exit.status, exit_signal: exit.signal, recording_id: rec?.meta.id, recorded_bytes: rec?.meta.bytes, output_bytes: rec?.meta.output_bytes, truncated: rec?.meta.truncated });
    };
    let hangup: () => void = () => {};
    try {
      if (pty) hangup = startPty(channel, runAs, env, runAs.shell, args, pty, rec, end);
      else hangup = startPipes(channel, runAs, env, runAs.shell, args, rec, end);
    } catch (err) {
      ctx.log.warn({ err, user: conn.user }, 'ssh session failed to start');
      channel.stderr.write(`outpost: cannot start the session: ${(err as Error).message}\r\n`);
      void end({ status: 127, signal: null }, []);
      return;
    }
    conn.closers.add(hangup);
  }

  function startPty(channel: ServerChannel, runAs: NonNullable<ConnState['runAs']>, env: Record<string, string>, file: string, args: string[], info: PtyInfo, rec: Recording | undefined, end: (e: Exit, f: Array<Promise<void>>) => Promise<void>): () => void {
    const l = launch(runAs, file, args, true);
    const p = loadPty().spawn(l.file, l.args, { name: info.term, cols: info.cols, rows: info.rows, cwd: homeDir(runAs), env, encoding: null as unknown as string });
    patientPtyClose(p);
    if (runAs.switchUser) giveTerminal(p, runAs.uid, runAs.gid);
    let paused = false;
    p.onData((d: string | Buffer) => {
      const buf = typeof d === 'string' ? Buffer.from(d) : d;
      touch(conn);
      rec?.output(buf);
      if (!channel.write(buf) && !paused) {
        paused = true;
        p.pause();
        channel.once('drain', () => { paused = false; p.resume(); });
      }
    });
    channel.on('data', (d: Buffer) => { touch(conn); p.write(d); });
    resize = (cols, rows) => {
      if (cols > 0 && rows > 0) { try { p.resize(cols, rows); } catch { /* exited */ } rec?.resize(cols, rows); }
    };
    sendSignal = (name) => { try { process.kill(p.pid, `SIG${name}` as NodeJS.Signals); } catch { /* gone */ } };
    p.onExit(({ exitCode, signal }) => {
      const sig = signalName(signal);
      void end({ status: sig ? null : exitCode, signal: sig }, [flushed(channel, channel)]);
    });
    channel.on('close', () => { try { p.kill('SIGHUP'); } catch { /* gone */ } });
    return () => { try { p.kill('SIGHUP'); } catch { /* gone */ } };
  }

  function startPipes(channel: ServerChannel, runAs: NonNullable<ConnState['runAs']>, env: Record<string, string>, file: string, args: string[], rec: Recording | undefined, end: (e: Exit, f: Array<Promise<void>>) => Promise<void>): () => void {
    const l = launch(runAs, file, args, false);
    const child = spawn(l.file, l.args, { cwd: homeDir(runAs), env, stdio: 'pipe', detached: true, ...(l.ids ?? {}) });
    const pump = (from: NodeJS.ReadableStream, to: NodeJS.WritableStream) => {
      from.on('data', (d: Buffer) => {
        touch(conn);
        rec?.output(d);
        if (!to.write(d)) { from.pause(); to.once('drain', () => from.resume()); }
      });
    };
    pump(child.stdout!, channel);
    pump(child.stderr!, channel.stderr);
    // ssh2 emits every packet of one TCP read in the same tick: cork the pipe until the next
    // tick so they go to the command in one writev instead of one write(2) each.
    const stdin = child.stdin!;
    let corked = false;
    const uncork = () => { corked = false; stdin.uncork(); };
    channel.on('data', (d: Buffer) => {
      touch(conn);
      if (!corked) { corked = true; stdin.cork(); process.nextTick(uncork); }
      if (!stdin.write(d)) { channel.pause(); stdin.once('drain', () => channel.resume()); }
    });
    channel.on('end', () => child.stdin!.end());
    child.stdin!.on('error', () => { /* the command closed its stdin: discard further input */ });
    sendSignal = (name) => killGroup(child, name);
    child.on('error', (err) => {
      channel.stderr.write(`outpost: cannot run ${file}: ${err.message}\r\n`);
      void end({ status: 127, signal: null }, [flushed(channel.stderr, channel)]);
    });
    child.on('close', (code, signal) => {
      void end({ status: signal ? null : code, signal: signal ? signal.replace(/^SIG/, '') : null }, [flushed(channel, channel), flushed(channel.stderr, channel)]);
    });
    channel.on('close', () => { if (child.exitCode === null && child.signalCode === null) killGroup(child, 'HUP'); });
    return () => killGroup(child, 'HUP');
  }

  function killGroup(child: ChildProcess, name: string): void {
    if (!child.pid) return;
    try { process.kill(-child.pid, `SIG${name}` as NodeJS.Signals); } catch { try { child.kill(`SIG${name}` as NodeJS.Signals); } catch { /* gone */ } }
  }

  function startSftp(channel: ServerChannel): void {
    touch(conn);
    const runAs = runAsOrRefuse(channel, 'sftp');
    if (!runAs) return;
    const bin = sftpServerPath();
    if (!bin) {
      ctx.log.warn('sftp requested but no sftp-server binary is installed (Debian: openssh-sftp-server)');
      return refuse(channel, 'the sftp subsystem is unavailable: OpenSSH\'s sftp-server is not installed on this host (Debian/Ubuntu package openssh-sftp-server)');
    }
    ctx.audit.write({ event: 'subsystem', ...source(conn), session_id: id, run_as: runAs.user, command: 'sftp' });
    const info = { user: conn.user!, ip: conn.ip, port: conn.port, localIp: conn.localIp, localPort: conn.localPort };
    const l = launch(runAs, bin, [], false);
    const child = spawn(l.file, l.args, { cwd: homeDir(runAs), env: sessionEnv(runAs, info, clientEnv), stdio: ['pipe', 'pipe', 'ignore'], detached: true, ...(l.ids ?? {}) });
    ctx.activeSessions.n++;
    const onData = () => touch(conn);
    child.stdout!.on('data', onData);
    channel.on('data', onData);
    child.stdout!.pipe(channel, { end: false });
    channel.pipe(child.stdin!);
    child.stdin!.on('error', () => { /* sftp-server exited */ });
    let done = false;
    const finish = async (status: number | null, signal: string | null) => {
      if (done) return;
      done = true;
      ctx.activeSessions.n--;
      conn.closers.delete(hangup);
      await flushed(channel, channel);
      if (signal) channel.exit(signal, false, ''); else channel.exit(status ?? 255);
      channel.end();
      ctx.audit.write({ event: 'session_end', ...source(conn), session_id: id, command: 'sftp', exit_status: status, exit_signal: signal });
    };
    const hangup = () => killGroup(child, 'TERM');
    conn.closers.add(hangup);
    child.on('error', (err) => { channel.stderr.write(`outpost: cannot start sftp-server: ${err.message}\r\n`); void finish(127, null); });
    child.on('close', (code, signal) => void finish(code, signal ? signal.replace(/^SIG/, '') : null));
    channel.on('close', () => { if (child.exitCode === null && child.signalCode === null) killGroup(child, 'TERM'); });
  }
}
