// How session processes are started as the run-as account: a clean environment (HOME, USER,
// LOGNAME, SHELL, PATH, plus accepted client variables), cwd = home, and the user switch.
// When the daemon is root, processes go through util-linux `setpriv --init-groups`, which sets
// the account's own supplementary groups (node-pty's uid/gid switch would keep root's groups).
import fs from 'node:fs';
import type { RunAs } from '../host/run-as';

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'];
const SFTP_SERVER_PATHS = ['/usr/lib/openssh/sftp-server', '/usr/lib/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/libexec/sftp-server'];
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const firstExecutable = (paths: string[]): string | undefined => paths.find((p) => { try { fs.accessSync(p, fs.constants.X_OK); return true; } catch { return false; } });

let setpriv: string | undefined | null = null;
/** util-linux setpriv, which can set uid, gid and the account's supplementary groups (looked up once). */
export function setprivPath(): string | undefined {
  if (setpriv === null) setpriv = firstExecutable(SETPRIV_PATHS);
  return setpriv;
}

export function sftpServerPath(): string | undefined {
  return firstExecutable(SFTP_SERVER_PATHS);
}

/** Variables a client may set with `env` requests (SendEnv / SetEnv); all others are refused. */
export function envAllowed(name: string): boolean {
  return /^(LANG|LANGUAGE|TZ|COLORTERM|LC_[A-Z_]+)$/.test(name);
}

export interface ConnInfo { user: string; ip: string; port: number; localIp: string; localPort: number }

export function sessionEnv(runAs: RunAs, conn: ConnInfo, clientEnv: Record<string, string>, term?: string): Record<string, string> {
  const env: Record<string, string> = {
    ...clientEnv,
    HOME: runAs.home,
    USER: runAs.user,
    LOGNAME: runAs.user,
    SHELL: runAs.shell,
    PATH: DEFAULT_PATH,
    SSH_CLIENT: `${conn.ip} ${conn.port} ${conn.localPort}`,
    SSH_CONNECTION: `${conn.ip} ${conn.port} ${conn.localIp} ${conn.localPort}`,
    OUTPOST_SSH_USER: conn.user,
  };
  if (term) env.TERM = term;
  return env;
}

export function homeDir(runAs: RunAs): string {
  try { if (fs.statSync(runAs.home).isDirectory()) return runAs.home; } catch { /* fall through */ }
  return '/';
}

export interface Launch {
  file: string;
  args: string[];
  /** uid/gid for child_process when setpriv is unavailable (libuv then drops all supplementary groups). */
  ids?: { uid: number; gid: number };
}

/**
 * The command line that runs `file args` as `runAs`. `needsSetpriv` (PTY spawns: node-pty keeps
 * root's supplementary groups) makes a missing setpriv an error instead of a libuv uid/gid switch.
 */
export function launch(runAs: RunAs, file: string, args: string[], needsSetpriv: boolean): Launch {
  if (!runAs.switchUser) return { file, args };
  const sp = setprivPath();
  if (sp) return viaSetpriv(sp, runAs, file, args);
  if (needsSetpriv) throw new Error('setpriv (util-linux) is required to start a PTY session as another account; install util-linux');
  return { file, args, ids: { uid: runAs.uid, gid: runAs.gid } };
}

/**
 * `file args` run through setpriv as `runAs`: setpriv execs it (same pid, still the session
 * leader) with its uid, gid and supplementary groups.
 */
export function viaSetpriv(setprivFile: string, runAs: RunAs, file: string, args: string[]): { file: string; args: string[] } {
  return { file: setprivFile, args: ['--reuid', String(runAs.uid), '--regid', String(runAs.gid), '--init-groups', '--', file, ...args] };
}
