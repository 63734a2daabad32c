// A throw-away PostgreSQL cluster per test file: initdb into a temp dir, postgres on a unix
// socket in that dir (no TCP port to collide on), run as the `postgres` system account
// (PostgreSQL refuses root) via setpriv, so the postmaster is our direct child. Tuned for speed
// (fsync off). Each test gets its own database. bothDialects() runs a test on SQLite and on
// PostgreSQL.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tap, { type Test } from 'tap';
import { openStore, type AdminStore, type Dialect } from '../../daemon/admin/store/db';

const PG_USER = 'postgres';

/** The newest installed PostgreSQL bin dir, or undefined. */
export function pgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(root, versions[0], 'bin') : undefined;
}

function ensureUser(): { uid: number; gid: number } {
  const lookup = () => execFileSync('getent', ['passwd', PG_USER], { encoding: 'utf8' }).split(':');
  let ent: string[];
  try { ent = lookup(); } catch {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', PG_USER]);
    ent = lookup();
  }
  return { uid: Number(ent[2]), gid: Number(ent[3]) };
}

export interface PgCluster {
  /** Socket directory (the "host" of the connection). */
  socketDir: string;
  /** URL of a new, empty database. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

let counter = 0;

export async function startPostgres(timeoutMs = 20_000): Promise<PgCluster> {
  const bin = pgBinDir();
  if (!bin) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
  const { uid, gid } = ensureUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-pg-'));
  fs.chownSync(dir, uid, gid);
  const data = path.join(dir, 'data');
  const asPg = (cmd: string, args: string[]) => ['--reuid', String(uid), '--regid', String(gid), '--init-groups', '--', cmd, ...args];
  try {
    execFileSync('setpriv', asPg(path.join(bin, 'initdb'), ['-D', data, '-U', PG_USER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']), { stdio: 'pipe', cwd: dir });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}`);
  }
  const proc: ChildProcess = spawn('setpriv', asPg(path.join(bin, 'postgres'), [
    '-D', data, '-k', dir, '-c', 'listen_addresses=', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off',
    '-c', 'shared_buffers=16MB', '-c', 'max_connections=60', '-c', 'max_wal_size=64MB', '-c', 'logging_collector=off',
  ]), { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  let log = '';
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGQUIT'); // immediate shutdown
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { void stop(); reject(new Error(`postgres did not start in ${timeoutMs} ms:\n${log}`)); }, timeoutMs);
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('ready to accept connections')) { clearTimeout(timer); resolve(); }
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error(`postgres exited before it was ready:\n${log}`)); });
  });
  proc.stderr!.resume();
  const url = (db: string) => `postgresql://${PG_USER}@localhost/${db}?host=${encodeURIComponent(dir)}`;
  const { Client } = await import('pg');
  return {
    socketDir: dir,
    async createDatabase() {
      const name = `t${process.pid}_${++counter}`;
      const c = new Client({ connectionString: url('postgres') });
      await c.connect();
      try { await c.query(`create database ${name} template template0`); } finally { await c.end(); }
      return url(name);
    },
    stop,
  };
}

let shared: Promise<PgCluster> | undefined;

/** One cluster for the whole test file, stopped when the file's tests end. */
export function sharedPostgres(): Promise<PgCluster> {
  if (!shared) {
    shared = startPostgres();
    tap.teardown(async () => { await (await shared!).stop(); });
  }
  return shared;
}

export interface DialectCtx {
  dialect: Dialect;
  dataDir: string;
  /** PostgreSQL URL of this test's own database (undefined on SQLite). */
  databaseUrl?: string;
  /** Opens (and migrates) the store; closed at the end of the test. */
  open(): Promise<AdminStore>;
}

/**
 * Runs `fn` twice, as subtests "<name> [sqlite]" and "<name> [postgres]", each on a fresh
 * database. Without PostgreSQL binaries the postgres variant is skipped (CI installs them).
 */
export function bothDialects(t: Test, name: string, fn: (t: Test, ctx: DialectCtx) => Promise<void>, timeoutMs = 60_000): void {
  for (const dialect of ['sqlite', 'postgres'] as const) {
    const skip = dialect === 'postgres' && !pgBinDir() ? 'PostgreSQL binaries not installed' : false;
    void t.test(`${name} [${dialect}]`, { skip }, async (t) => {
      t.setTimeout(timeoutMs);
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-admin-'));
      t.teardown(() => fs.rmSync(dataDir, { recursive: true, force: true }));
      const databaseUrl = dialect === 'postgres' ? await (await sharedPostgres()).createDatabase() : undefined;
      const opened: AdminStore[] = [];
      t.teardown(async () => { for (const s of opened) await s.close(); });
      await fn(t, {
        dialect, dataDir, databaseUrl,
        async open() {
          const s = await openStore({ dataDir, databaseUrl });
          opened.push(s);
          return s;
        },
      });
    });
  }
}
