// `npm run bench:admin-list`: list endpoints of the admin with 100,000 command executions, on
// SQLite and on a throw-away PostgreSQL (initdb in a temp dir, unix socket, as `postgres`).
// Seeds 100 nodes in 5 clusters, 1,000 commands × 100 executions (bulk inserts; mixed statuses,
// ~100-byte outputs), then times sequential HTTP requests of filtered, sorted pages at random
// page numbers and reports p50/p99 per query. Target: p99 < 50 ms on both.
// Options: --executions 100000 --requests 400 --dialects sqlite,postgres. Writes bench/out/admin-list.json.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { startAdmin } from '../daemon/admin';
import type { Db } from '../daemon/admin/store/db';
import { loadConfig } from '../daemon/config/config';
import { createLogger } from '../daemon/base/log';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
const EXECUTIONS = Number(arg('executions', '100000'));
const REQUESTS = Number(arg('requests', '400'));
const DIALECTS = arg('dialects', 'sqlite,postgres').split(',');
const KEY = 'bench-master-key';
const NODES = 100;
const PER_COMMAND = 100;

/** A throw-away PostgreSQL cluster (same recipe as test/helpers/postgres.ts, without tap). */
async function startPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const root = '/usr/lib/postgresql';
  const ver = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  if (!ver) throw new Error('PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)');
  const bin = path.join(root, ver, 'bin');
  try { execFileSync('getent', ['passwd', 'postgres'], { stdio: 'ignore' }); } catch { execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']); }
  const [uid, gid] = execFileSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' }).split(':').slice(2, 4).map(Number);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-bench-pg-'));
  fs.chownSync(dir, uid, gid);
  const as = (cmd: string, args: string[]) => ['--reuid', String(uid), '--regid', String(gid), '--init-groups', '--', cmd, ...args];
  execFileSync('setpriv', as(path.join(bin, 'initdb'), ['-D', path.join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions']), { stdio: 'pipe', cwd: dir });
  // Default durability settings except fsync (a throw-away cluster); shared_buffers 128MB (the default).
  const proc = spawn('setpriv', as(path.join(bin, 'postgres'), ['-D', path.join(dir, 'data'), '-k', dir, '-c', 'listen_addresses=', '-c', 'fsync=off']), { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  const exited = new Promise<void>((r) => proc.on('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`postgres did not start:\n${log}`)), 20_000);
    proc.stderr!.on('data', (d: Buffer) => { log += d; if (log.includes('ready to accept connections')) { clearTimeout(timer); resolve(); } });
  });
  proc.stderr!.resume();
  const { Client } = await import('pg');
  const c = new Client({ connectionString: `postgresql://postgres@localhost/postgres?host=${encodeURIComponent(dir)}` });
  await c.connect();
  await c.query('create database bench template template0');
  await c.end();
  return {
    url: `postgresql://postgres@localhost/bench?host=${encodeURIComponent(dir)}`,
    async stop() { proc.kill('SIGQUIT'); await exited; fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

const STATUSES = [...Array(60).fill('completed'), ...Array(15).fill('cancelled'), ...Array(10).fill('expired'), ...Array(10).fill('sent'), ...Array(5).fill('pending')] as string[];
const uuid = (n: number, kind: number) => `${kind.toString(16).padStart(8, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

async function seed(db: Db): Promise<{ nodeIds: string[] }> {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const at = (ms: number) => new Date(ms).toISOString();
  const clusters = Array.from({ length: 5 }, (_, i) => ({ id: uuid(i, 1), name: `prod-${i}`, ipv4_range: `100.64.${i}.0/24`, node_limit: null, inserted_at: at(t0), updated_at: at(t0) }));
  await db.insertInto('clusters').values(clusters).execute();
  const nodeIds = Array.from({ length: NODES }, (_, i) => uuid(i, 2));
  await db.insertInto('nodes').values(nodeIds.map((id, i) => ({
    id, cluster_id: clusters[i % 5].id, id_type: 'random' as const, node_name: `node-${i}`, api_token_hash: `${i}`.padStart(64, '0'), status: 'unreachable' as const,
    tunnel_connected: 0 as const, self_update_enabled: 0 as const, inserted_at: at(t0), updated_at: at(t0),
  }))).execute();
  const commands = Math.ceil(EXECUTIONS / PER_COMMAND);
  let n = 0;
  for (let c = 0; c < commands; c++) {
    const cmdId = uuid(c, 3);
    const base = t0 + c * 60_000;
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('commands').values({ id: cmdId, command_text: `echo step ${c}\nuptime`, targeting: '{"type":"all"}', timeout: c % 2 ? 30_000 : null, expired_at: null, inserted_at: at(base), updated_at: at(base) }).execute();
      const rows = [];
      for (let k = 0; k < PER_COMMAND && n < EXECUTIONS; k++, n++) {
        const status = STATUSES[(n * 7919) % STATUSES.length];
        const sent = status === 'pending' ? null : at(base + 100 + k);
        const end = base + 1000 + ((n * 104729) % 50_000);
        rows.push({
          id: uuid(n, 4), command_id: cmdId, node_id: nodeIds[k % NODES], cluster_name: null, target_all: 1 as const, status,
          exit_code: status === 'completed' ? (n % 10 === 0 ? 1 : 0) : status === 'cancelled' ? 143 : null,
          output: status === 'completed' || status === 'cancelled' ? `step ${c} on node-${k}\n${'x'.repeat(60)}\n load average: 0.${n % 100}\n` : null,
          sent_at: sent, completed_at: status === 'completed' ? at(end) : null, cancelled_at: status === 'cancelled' ? at(end) : null,
          cancel_requested_at: null, cancel_acked_at: null, timeout: null, expired_at: null, inserted_at: at(base), updated_at: at(end),
        });
      }
      for (let i = 0; i < rows.length; i += 100) await trx.insertInto('command_executions').values(rows.slice(i, i + 100)).execute();
    });
  }
  return { nodeIds };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function measure(base: string, name: string, query: (i: number) => string): Promise<Record<string, unknown>> {
  const once = async (i: number) => {
    const t = performance.now();
    const r = await request(`${base}/api/v1/command_executions?${query(i)}`, { headers: { authorization: `Bearer ${KEY}` } });
    const body = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`${name}: HTTP ${r.statusCode}: ${body.slice(0, 300)}`);
    return { ms: performance.now() - t, items: (JSON.parse(body) as { data: unknown[] }).data.length };
  };
  for (let i = 0; i < 30; i++) await once(i); // warm-up
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < REQUESTS; i++) { const r = await once(i * 7919); times.push(r.ms); items += r.items; }
  times.sort((a, b) => a - b);
  const out = { query: name, requests: REQUESTS, p50_ms: +pct(times, 50).toFixed(2), p99_ms: +pct(times, 99).toFixed(2), max_ms: +times[times.length - 1].toFixed(2), avg_items: +(items / REQUESTS).toFixed(1) };
  console.log(`  ${name.padEnd(70)} p50 ${String(out.p50_ms).padStart(6)} ms   p99 ${String(out.p99_ms).padStart(6)} ms   (${out.avg_items} items/page)`);
  return out;
}

async function runDialect(dialect: string): Promise<Record<string, unknown>> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-bench-admin-'));
  const pg = dialect === 'postgres' ? await startPostgres() : undefined;
  const cfg = loadConfig(['--data-dir', dataDir, '--admin', 'true', '--admin-port', '0', '--log-level', 'warn'], { MASTER_KEY: KEY, ...(pg ? { DATABASE_URL: pg.url } : {}) });
  const admin = await startAdmin(cfg, createLogger('warn'));
  try {
    const s0 = performance.now();
    const { nodeIds } = await seed(admin.store.db);
    const { sql } = await import('kysely');
    if (dialect === 'postgres') await sql`vacuum analyze`.execute(admin.store.db); else await sql`analyze`.execute(admin.store.db);
    const seedS = (performance.now() - s0) / 1000;
    console.log(`${dialect}: seeded ${EXECUTIONS} executions in ${seedS.toFixed(1)} s`);
    const base = `http://127.0.0.1:${admin.port}`;
    const pages = Math.floor((EXECUTIONS * 0.6) / 20);
    const results = [
      await measure(base, 'status=completed&order_by=completed_at&order_directions=desc&page=1..100', (i) => `status=completed&order_by=completed_at&order_directions=desc&page=${1 + (i % 100)}`),
      await measure(base, `status=completed&order_by=completed_at&order_directions=desc&page=1..${pages} (deep)`, (i) => `status=completed&order_by=completed_at&order_directions=desc&page=${1 + (i % pages)}`),
      await measure(base, 'exit_code__gte=1&status=completed&order_by=completed_at&order_directions=desc', (i) => `exit_code__gte=1&status=completed&order_by=completed_at&order_directions=desc&page=${1 + (i % 50)}`),
      await measure(base, 'node_id=…&order_by=inserted_at&order_directions=desc', (i) => `node_id=${nodeIds[i % NODES]}&order_by=inserted_at&order_directions=desc&page=${1 + (i % 10)}`),
      await measure(base, 'cluster_name=prod-3&status=completed&order_by=completed_at&order_directions=desc', (i) => `cluster_name=prod-3&status=completed&order_by=completed_at&order_directions=desc&page=${1 + (i % 50)}`),
      await measure(base, '(default: inserted_at desc)&page=1..100', (i) => `page=${1 + (i % 100)}`),
    ];
    return { dialect, executions: EXECUTIONS, seed_s: +seedS.toFixed(1), results };
  } finally {
    await admin.close();
    await pg?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const out = [];
  for (const d of DIALECTS) out.push(await runDialect(d));
  const file = path.join(__dirname, '..', '..', 'bench', 'out', 'admin-list.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), nproc: os.cpus().length, runs: out }, null, 2));
  const worst = Math.max(...out.flatMap((r) => (r.results as Array<{ p99_ms: number }>).map((x) => x.p99_ms)));
  console.log(`worst p99 ${worst.toFixed(2)} ms (target < 50 ms): ${worst < 50 ? 'PASS' : 'MISS'}; written to ${file}`);
}

main().catch((err) => { console.error(err); process.exit(1); });
