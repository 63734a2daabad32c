// Run-as resolution at login without a process spawn on the common path: accounts in
// /etc/passwd are read from it directly (microseconds; getent's spawnSync blocked the event
// loop for several ms per login), anything else goes through the shared resolveRunAs (getent,
// so NSS sources still work). Same rules: never uid 0 unless run_as is "root".
import fs from 'node:fs';
import { parsePasswdLine, resolveRunAs, RunAsError, type RunAs } from '../host/run-as';

export function resolveRunAsFast(name: string, passwdFile = '/etc/passwd'): RunAs {
  if (process.getuid?.() !== 0) return resolveRunAs(name);
  let text = '';
  try { text = fs.readFileSync(passwdFile, 'utf8'); } catch { return resolveRunAs(name); }
  const prefix = `${name}:`;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  const acct = line ? parsePasswdLine(line) : undefined;
  if (!acct) return resolveRunAs(name);
  if (acct.uid === 0 && name !== 'root') {
    throw new RunAsError(`ssh.run_as ${JSON.stringify(name)} has uid 0; set ssh.run_as = "root" explicitly to run sessions as root`);
  }
  return acct;
}
