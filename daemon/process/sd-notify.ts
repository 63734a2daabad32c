// sd_notify(3) for Type=notify: READY=1, STATUS=, STOPPING=1, RELOADING=1, WATCHDOG=1.
//
// The protocol is one datagram per message on the AF_UNIX SOCK_DGRAM socket named by
// $NOTIFY_SOCKET ('/path' or '@abstract'). Node.js cannot create such a socket: unix datagram
// sockets were dropped in v0.5 (nodejs/node#30059, #61933), `dgram` is UDP only, libuv's pipes
// are SOCK_STREAM (connecting one to the notify socket fails with EPROTOTYPE) and libuv's
// uv_guess_handle() calls an AF_UNIX datagram fd "unknown", so `dgram` will not adopt one either.
// Node can, however, write(2) to a datagram socket that is already connected: each write is
// one datagram. Hence two transports, best first:
//
//  1. 'fd': systemd >= 253 connects the socket for us and passes it in, with
//     `OpenFile=/run/systemd/notify:sd-notify:graceful` (systemd/notify-fd.conf). The fd is
//     found by name in $LISTEN_FDNAMES (sd_listen_fds(3)); messages are fs.writeSync() calls
//     from this process, no child process. The kernel stamps them with this PID, so
//     NotifyAccess=main accepts them.
//  2. 'helper': $NOTIFY_SOCKET only (systemd 252, Debian 12): the last resort is the
//     `systemd-notify --pid=<our pid>` helper, one short-lived child per message, run one at a
//     time so messages keep their order. As root (the default unit) it stamps the message
//     with our PID (SCM_CREDENTIALS; it needs CAP_SYS_ADMIN), so NotifyAccess=main works;
//     without that capability (hardened.conf) the message carries the helper's own PID and
//     the unit needs NotifyAccess=all. systemd-notify waits until systemd has processed the
//     message (its BARRIER=1), so the helper is still alive when systemd looks up its unit.
//
// The variables are removed from process.env so that SSH sessions and commands do not inherit
// them (a session must not be able to tell systemd that the daemon is ready or stopping).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../base/log';

export type NotifyTransport = 'fd' | 'helper' | 'none';
export type NotifyState = Record<string, string | number>;

/** The systemd-notify binary, looked up on PATH and in the usual places. */
function findSystemdNotify(env: NodeJS.ProcessEnv): string | undefined {
  const dirs = [...(env.PATH ?? '').split(':').filter(Boolean), '/usr/bin', '/bin'];
  for (const dir of dirs) {
    const p = path.join(dir, 'systemd-notify');
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

/** One `KEY=value` line per entry; newlines in a value would start a new variable, so they become spaces. */
export function formatState(state: NotifyState): string {
  return Object.entries(state).map(([k, v]) => `${k}=${String(v).replace(/[\r\n]+/g, ' ')}`).join('\n');
}

/** CLOCK_MONOTONIC in microseconds: what RELOADING=1 pairs with MONOTONIC_USEC (libuv's hrtime is CLOCK_MONOTONIC). */
export function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

export class SdNotify {
  readonly transport: NotifyTransport;
  /** Watchdog ping interval (half of WATCHDOG_USEC), when systemd asked for one. */
  readonly watchdogMs?: number;
  private fd?: number;
  private helper?: string;
  private socket?: string;
  private chain: Promise<void> = Promise.resolve();
  private watchdog?: NodeJS.Timeout;
  private failed = false;
  private watchdogQueued = false;

  constructor(private readonly log: Logger, env: NodeJS.ProcessEnv = process.env) {
    const pid = process.pid;
    const listenPid = Number(env.LISTEN_PID);
    const names = (env.LISTEN_FDNAMES ?? '').split(':');
    const count = Number(env.LISTEN_FDS);
    const at = names.indexOf('sd-notify');
    if (listenPid === pid && at >= 0 && at < count) {
      const fd = 3 + at;
      try {
        if (fs.fstatSync(fd).isSocket()) this.fd = fd;
        else log.warn({ fd }, 'sd_notify: the fd named sd-notify is not a socket; ignoring it');
      } catch (err) {
        log.warn({ fd, err: (err as Error).message }, 'sd_notify: the fd named sd-notify is not open; ignoring it');
      }
    }
    const socket = env.NOTIFY_SOCKET;
    if (this.fd === undefined && socket && (socket.startsWith('/') || socket.startsWith('@'))) {
      this.helper = findSystemdNotify(env);
      this.socket = socket;
      if (!this.helper) log.warn({ notify_socket: socket }, 'sd_notify: NOTIFY_SOCKET is set but systemd-notify is not installed: systemd will not hear READY=1');
    }
    this.transport = this.fd !== undefined ? 'fd' : this.helper ? 'helper' : 'none';
    const usec = Number(env.WATCHDOG_USEC);
    const wdPid = env.WATCHDOG_PID === undefined ? pid : Number(env.WATCHDOG_PID);
    if (this.transport !== 'none' && usec > 0 && wdPid === pid) this.watchdogMs = Math.max(1, Math.floor(usec / 2000));
    if (listenPid === pid) { delete env.LISTEN_PID; delete env.LISTEN_FDS; delete env.LISTEN_FDNAMES; }
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
  }

  /** Sends one message. Never throws: a service manager that went away must not stop the daemon. */
  send(state: NotifyState, done?: () => void): void {
    if (this.transport === 'none') { done?.(); return; }
    const text = formatState(state);
    if (this.fd !== undefined) {
      try {
        fs.writeSync(this.fd, text);
      } catch (err) {
        this.warnOnce(err as Error);
      }
      done?.();
      return;
    }
    const helper = this.helper!;
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', NOTIFY_SOCKET: this.socket };
    this.chain = this.chain.then(() => new Promise<void>((resolve) => {
      const args = [`--pid=${process.pid}`, ...text.split('\n')];
      const child = spawn(helper, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d: Buffer) => { if (err.length < 2000) err += d.toString(); });
      child.on('error', (e) => { this.warnOnce(e); done?.(); resolve(); });
      child.on('close', (code) => {
        if (code !== 0) this.warnOnce(new Error(`systemd-notify exited ${code}: ${err.trim()}`));
        done?.();
        resolve();
      });
    }));
  }

  /** WATCHDOG=1 every half WATCHDOG_USEC, from the event loop: a loop stuck that long gets the daemon restarted. */
  startWatchdog(): void {
    if (!this.watchdogMs || this.watchdog) return;
    this.watchdog = setInterval(() => {
      // With the helper, a ping still waiting for its turn is enough: no backlog of pings.
      if (this.watchdogQueued) return;
      this.watchdogQueued = true;
      this.send({ WATCHDOG: 1 }, () => { this.watchdogQueued = false; });
    }, this.watchdogMs);
    this.watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  /** Resolves once the messages queued so far have been handed over (helper transport). */
  flush(): Promise<void> {
    return this.chain;
  }

  private warnOnce(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.log.warn({ transport: this.transport, err: err.message }, 'sd_notify: sending to the service manager failed (further failures are not logged)');
  }
}
