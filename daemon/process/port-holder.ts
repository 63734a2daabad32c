// Who holds a TCP port, for the start-up error when a listener cannot bind: the listening
// sockets' inodes from /proc/net/tcp{,6}, then the process whose fd points at one. Linux only,
// best effort (another user's fds are unreadable), and only on that failure path: it walks /proc.
import fs from 'node:fs';

const LISTEN = '0A';

/** "pid 1234 (node dist/daemon/main.js …)", "this process", or undefined when nothing is found listening. */
export function portHolder(port: number): string | undefined {
  try {
    const inodes = new Set<string>();
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text: string;
      try { text = fs.readFileSync(file, 'utf8'); } catch { continue; }
      for (const line of text.split('\n').slice(1)) {
        const c = line.trim().split(/\s+/);
        if (c.length < 10 || c[3] !== LISTEN || c[9] === '0') continue;
        if (parseInt(c[1].slice(c[1].lastIndexOf(':') + 1), 16) === port) inodes.add(c[9]);
      }
    }
    if (!inodes.size) return undefined;
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let fds: string[];
      try { fds = fs.readdirSync(`/proc/${pid}/fd`); } catch { continue; }
      for (const fd of fds) {
        let target: string;
        try { target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
        const m = /^socket:\[(\d+)\]$/.exec(target);
        if (!m || !inodes.has(m[1])) continue;
        if (Number(pid) === process.pid) return `this process (pid ${pid}: another of its own listeners uses the port)`;
        return `pid ${pid} (${commandOf(pid)})`;
      }
    }
    return 'a process this user cannot see (check with: ss -ltnp)';
  } catch {
    return undefined;
  }
}

function commandOf(pid: string): string {
  try {
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
    if (cmd) return cmd.length > 160 ? `${cmd.slice(0, 160)}…` : cmd;
  } catch { /* gone */ }
  try { return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return 'unknown command'; }
}

/** The start-up error for a port that could not be bound, naming the setting, the port and its holder. */
export function listenError(what: string, host: string, port: number, cause?: Error & { code?: string }): Error & { code: string } {
  const holder = port > 0 ? portHolder(port) : undefined;
  const why = holder ? `port ${port} is already in use by ${holder}`
    : cause?.code === 'EADDRINUSE' ? `port ${port} is already in use`
      : cause ? cause.message : `address in use or not available`;
  return Object.assign(new Error(`${what}: cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${why}`, cause ? { cause } : undefined), { code: 'LISTEN_FAILED' });
}
