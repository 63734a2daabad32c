// `npm run bench:tunnel`: one admin TunnelHub (this process, over the in-memory TunnelBackend)
// and N simulated agents (real TunnelClients in a few child processes, bench/tunnel-agents.ts):
//   1. 1,000 and then 10,000 connected agents heartbeating every 10 s: the admin's CPU % and RSS
//      over a steady window (the agents' own cost is reported apart);
//   2. fan-out: one command to 1,000 agents, time until every result is stored (target < 2 s).
// Options: --agents 10000 --procs 2 --window-s 30 --fanout 1000 --rounds 3. Raises the fd limit
// itself (re-exec under `ulimit -n`) and fails clearly when it cannot. Writes bench/out/tunnel.json.
import { fork, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { tunnelRoutes } from '../daemon/admin/tunnel';
import { MemoryTunnelBackend } from '../test/helpers/memory-tunnel-backend';
import { HttpServer } from '../daemon/http';
import { sleep } from './lib/net';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const AGENTS = arg('agents', 10_000);
const PROCS = arg('procs', 2);
const WINDOW_S = arg('window-s', 30);
const FANOUT = arg('fanout', 1000);
const ROUNDS = arg('rounds', 3);
const HEARTBEAT_MS = arg('heartbeat-ms', 10_000);

/** Re-executes under a raised fd limit when the soft limit is too low for the admin's sockets. */
function ensureFdLimit(): void {
  const need = AGENTS + 2048;
  const soft = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  if (soft >= need || process.env.OUTPOST_BENCH_FD_RAISED) {
    if (soft < need) throw new Error(`open-file limit is ${soft}, ${need} are needed for ${AGENTS} agents, and raising it failed (raise the hard limit: ulimit -Hn / LimitNOFILE)`);
    return;
  }
  const r = spawnSync('sh', ['-c', `ulimit -n ${need} || exit 97; exec "$0" "$@"`, process.execPath, ...process.execArgv, __filename, ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, OUTPOST_BENCH_FD_RAISED: '1' } });
  if (r.status === 97) {
    const hard = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).stdout.trim();
    console.error(`bench:tunnel: cannot raise the open-file limit to ${need} (soft ${soft}, hard ${hard}); run as root or raise the hard limit, or use --agents ${Math.max(0, Number(hard) - 2048)}`);
    process.exit(2);
  }
  process.exit(r.status ?? 1);
}

const cpuS = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

async function main(): Promise<void> {
  ensureFdLimit();
  const log = pino({ level: 'warn' });
  const backend = new MemoryTunnelBackend();
  backend.keepHeartbeats = false;
  const http = new HttpServer({ maxBodyBytes: 1 << 20, maxInflight: 100_000, keys: {}, log });
  const hub = tunnelRoutes(http, backend, { log, heartbeatIntervalMs: HEARTBEAT_MS });
  http.finish();
  const port = await http.listen('127.0.0.1', 0);
  http.state = 'ready';
  const url = `ws://127.0.0.1:${port}/api/v1/agent/tunnel`;

  const agents: Array<{ node_id: string; token: string }> = [];
  for (let i = 0; i < AGENTS; i++) {
    const secret = `bench-secret-${i}-xxxxxxxx`;
    backend.addKey(secret);
    const node_id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    agents.push({ node_id, token: (await backend.enroll({ secret, node_id, id_type: 'random' })).api_token });
  }

  const taskset = spawnSync('taskset', ['-V']).status === 0 && os.cpus().length >= 2;
  if (taskset) spawnSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
  const children = Array.from({ length: PROCS }, (_, i) => {
    const c = fork(path.join(__dirname, 'tunnel-agents.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (taskset) spawnSync('taskset', ['-pc', String(1 + (i % (os.cpus().length - 1))), String(c.pid)], { stdio: 'ignore' });
    return { c, up: 0, rss: 0 };
  });
  for (const ch of children) ch.c.on('message', (m: { ev: string; up: number; rss: number }) => { if (m.ev === 'status') { ch.up = m.up; ch.rss = m.rss; } });
  const cleanup = () => { for (const ch of children) ch.c.kill('SIGKILL'); };
  process.on('exit', cleanup);

  const results: Record<string, unknown> = {
    date: new Date().toISOString(), nproc: os.cpus().length, load_avg_1m_start: os.loadavg()[0], heartbeat_ms: HEARTBEAT_MS, procs: PROCS, window_s: WINDOW_S,
    note: 'shared 2-core machine, busy with other work during the run: CPU figures are upper bounds',
  };
  let assigned = 0;
  const connectTo = async (n: number) => {
    const batch = agents.slice(assigned, n);
    const per = Math.ceil(batch.length / PROCS);
    children.forEach((ch, i) => ch.c.send({ cmd: 'connect', url, agents: batch.slice(i * per, (i + 1) * per), spreadMs: Math.max(1000, batch.length), heartbeatMs: HEARTBEAT_MS }));
    assigned = n;
    const t0 = Date.now();
    while (hub.size < n || children.reduce((a, ch) => a + ch.up, 0) < n) {
      if (Date.now() - t0 > 120_000) throw new Error(`only ${hub.size} of ${n} agents connected after 120 s`);
      await sleep(250);
    }
    return Date.now() - t0;
  };
  const steady = async (n: number) => {
    const connectMs = await connectTo(n);
    await sleep(Math.min(HEARTBEAT_MS, 10_000) + 1000); // let the connect burst's heartbeats settle into their phase
    const beats0 = hub.stats().heartbeats_total;
    const c0 = process.cpuUsage();
    const w0 = Date.now();
    await sleep(WINDOW_S * 1000);
    const cpu = cpuS(process.cpuUsage(c0));
    const wall = (Date.now() - w0) / 1000;
    const r = {
      agents: n, connect_ms: connectMs, admin_cpu_percent: +(100 * cpu / wall).toFixed(2), admin_rss_mib: +(process.memoryUsage().rss / 2 ** 20).toFixed(1),
      heartbeats_per_s: +((hub.stats().heartbeats_total - beats0) / wall).toFixed(1), agents_rss_mib: +(children.reduce((a, ch) => a + ch.rss, 0) / 2 ** 20).toFixed(1),
    };
    console.log(JSON.stringify(r));
    return r;
  };

  results.steady = [await steady(Math.min(1000, AGENTS))];
  if (AGENTS > 1000) (results.steady as unknown[]).push(await steady(AGENTS));

  // Fan-out: one command to FANOUT connected agents; time from the first send to the last stored result.
  const fan: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const targets = agents.slice(0, FANOUT);
    const exs = targets.map((a) => backend.addExecution(a.node_id, 'uptime'));
    let left = exs.length;
    const t0 = process.hrtime.bigint();
    const done = backend.waitFor(() => { left = exs.reduce((n, e) => n + (e.status === 'completed' ? 0 : 1), 0); return left === 0; }, 60_000, 'fan-out results');
    for (const ex of exs) hub.deliverCommand(ex.node_id, ex.deliver);
    await done;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    fan.push(+ms.toFixed(1));
    console.log(JSON.stringify({ fanout: FANOUT, round: r + 1, all_results_ms: fan[fan.length - 1] }));
    await sleep(1000);
  }
  const sorted = [...fan].sort((a, b) => a - b);
  results.fanout = { agents: FANOUT, rounds_ms: fan, median_ms: sorted[Math.floor(sorted.length / 2)], target_ms: 2000, pass: sorted[Math.floor(sorted.length / 2)] < 2000, result_batches: backend.resultCalls.length };

  const stops = await Promise.all(children.map((ch) => new Promise<{ cpu_s: number; wall_s: number }>((resolve) => {
    ch.c.once('message', (m: { ev: string; cpu_s: number; wall_s: number }) => resolve(m));
    ch.c.send({ cmd: 'stop' });
  })));
  results.agents_cpu_s = stops.map((s) => +s.cpu_s.toFixed(1));
  results.load_avg_1m_end = os.loadavg()[0];
  await hub.close();
  await http.close(1000);
  const out = path.join(__dirname, '..', '..', 'bench', 'out');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'tunnel.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
  process.exit(0);
}

main().catch((err) => { console.error(err); process.exit(1); });
