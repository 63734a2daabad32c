// Keeps the end of a PTY's output. node-pty closes its side of the terminal when a read returns
// end-of-file (or 200 ms after the command's exit at the latest), and output not read by then is
// lost. Under gVisor, and on a busy host, the master side can report end-of-file while the last
// bytes the command wrote are still on their way: the command runner's truncation test lost its
// tail (~900 bytes of 5,014) in 13 of 30 runs with both CPUs busy, and every time the bytes were
// still readable right after. So before the socket is destroyed, its descriptor is read until
// the terminal says it is really over (EIO), for at most `graceMs`, and what comes is delivered
// as ordinary output.
import fs from 'node:fs';
import type { IPty } from 'node-pty';

let ttyGid: number | null | undefined;
function ttyGroup(): number | null {
  if (ttyGid !== undefined) return ttyGid;
  ttyGid = null;
  try {
    const line = fs.readFileSync('/etc/group', 'utf8').split('\n').find((l) => l.startsWith('tty:'));
    const gid = line ? Number(line.split(':')[2]) : NaN;
    if (Number.isInteger(gid)) ttyGid = gid;
  } catch { /* no /etc/group: the user's own group */ }
  return ttyGid;
}

/**
 * Gives the terminal to the account the session runs as (owner rw, group tty w, as login does),
 * so `tty`, `mesg`, `script` and programs that reopen /dev/tty work for it. The daemon (root)
 * opened it, so it was root's. Best effort: a failure only leaves it as it was.
 */
export function giveTerminal(proc: IPty, uid: number, gid: number): void {
  const name = (proc as unknown as { ptsName?: string }).ptsName;
  if (!name || !name.startsWith('/dev/')) return;
  try {
    fs.chownSync(name, uid, ttyGroup() ?? gid);
    fs.chmodSync(name, 0o620);
  } catch { /* not permitted here: it stays root's */ }
}

export const PTY_DRAIN_GRACE_MS = 2000;

interface PtySocket { destroy(err?: Error): unknown; destroyed?: boolean; emit(ev: 'data', d: Buffer): boolean }

export function patientPtyClose(proc: IPty, graceMs = PTY_DRAIN_GRACE_MS): void {
  const internals = proc as unknown as { _socket?: PtySocket; _fd?: number };
  const sock = internals._socket;
  const fd = internals._fd;
  if (!sock || typeof sock.destroy !== 'function' || typeof fd !== 'number') return;
  const destroy = sock.destroy.bind(sock);
  let draining = false;
  sock.destroy = (err?: Error) => {
    if (err || draining || sock.destroyed) return destroy(err);
    draining = true;
    const deadline = Date.now() + graceMs;
    const buf = Buffer.allocUnsafe(64 << 10);
    const drain = (): void => {
      for (;;) {
        let n: number;
        try {
          n = fs.readSync(fd, buf, 0, buf.length, null);
        } catch (e) {
          // EAGAIN: nothing yet, look again shortly; EIO (the terminal is over) or anything else: done.
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN' && Date.now() < deadline) { setTimeout(drain, 10).unref(); return; }
          destroy();
          return;
        }
        if (n === 0) {
          if (Date.now() < deadline) { setTimeout(drain, 10).unref(); return; }
          destroy();
          return;
        }
        sock.emit('data', Buffer.from(buf.subarray(0, n)));
      }
    };
    drain();
    return sock;
  };
}
