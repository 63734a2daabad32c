// Which account SSH sessions and commands run as. When the daemon runs as root they run as the
// account named by `ssh.run_as` (never root unless that says `root`); a missing account is an
// error, never a silent fallback to root. When the daemon runs as another user, they run as it.
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface RunAs {
  user: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
  /** True when spawning must switch to uid/gid (the daemon runs as root). */
  switchUser: boolean;
}

export class RunAsError extends Error {
  readonly code = 'RUN_AS_MISSING';
  constructor(message: string) { super(message); this.name = 'RunAsError'; }
}

/** Parses one /etc/passwd-format line: name:x:uid:gid:gecos:home:shell. */
export function parsePasswdLine(line: string): RunAs | undefined {
  const p = line.trim().split(':');
  if (p.length < 7) return undefined;
  const uid = Number(p[2]);
  const gid = Number(p[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  return { user: p[0], uid, gid, home: p[5] || '/', shell: p[6] || '/bin/sh', switchUser: true };
}

function lookup(name: string): RunAs | undefined {
  try {
    // getent consults NSS (files, LDAP, systemd-userdb), unlike a plain read of /etc/passwd.
    const out = execFileSync('getent', ['passwd', name], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] });
    return parsePasswdLine(out.split('\n')[0]);
  } catch {
    return undefined;
  }
}

/**
 * Resolves the account to run as. Called at each login and command start (accounts can be
 * created after the daemon starts), so a missing account fails that login or command clearly.
 */
export function resolveRunAs(configured: string): RunAs {
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) {
    const me = os.userInfo();
    return { user: me.username, uid: me.uid, gid: me.gid, home: me.homedir, shell: me.shell || '/bin/sh', switchUser: false };
  }
  const acct = lookup(configured);
  if (!acct) {
    throw new RunAsError(`the account ${JSON.stringify(configured)} named by ssh.run_as does not exist on this host; create it (systemd/install.sh does) or set ssh.run_as to an existing account`);
  }
  if (acct.uid === 0 && configured !== 'root') {
    throw new RunAsError(`ssh.run_as ${JSON.stringify(configured)} has uid 0; set ssh.run_as = "root" explicitly to run sessions as root`);
  }
  return acct;
}
