// One daemon per data dir. Exclusive ports (issue 11, item 7) stop a second daemon on the same
// port, but one started with other ports on the same data dir would run a second agent with the
// same node identity: its tunnel and the first one's replace each other forever, and two command
// runners share one outbox. `data_dir/outpostd.pid` is created exclusively (O_EXCL) at start and
// removed at shutdown; one left by a daemon that died (SIGKILL, a crash) names a process that no
// longer runs and is taken over.
import fs from 'node:fs';
import path from 'node:path';

export class DataDirLockError extends Error {
  readonly code = 'DATA_DIR_LOCKED';
}

export interface DataDirLock { release(): void }

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A reused pid that is not a Node process is not the holder.
  try {
    return /node|outpostd/.test(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** Takes the data dir for this process; throws DataDirLockError naming the holder when it is taken. */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = path.join(dataDir, 'outpostd.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          try { if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.unlinkSync(file); } catch { /* already gone */ }
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder = NaN;
    try { holder = Number(fs.readFileSync(file, 'utf8').trim()); } catch { /* removed meanwhile: try again */ }
    if (holder === process.pid || alive(holder)) {
      throw new DataDirLockError(`data_dir ${dataDir} is in use by another outpostd (pid ${holder}, ${file}); give each daemon its own data_dir`);
    }
    try { fs.unlinkSync(file); } catch { /* another starter took it over first */ }
  }
  throw new DataDirLockError(`data_dir ${dataDir}: could not take ${file} (other daemons starting at the same time?)`);
}
