// `npm run bench`: the orchestrator. Starts every server (outpostd and the anchors) as a
// pinned child process, drives it with wrk and autocannon (and Redis with redis-benchmark),
// then prints the table and ratios and writes bench/RESULTS.md and bench/out/*.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startAnchor, type AnchorName } from './anchor-procs';
import { ABLATION_MAIN, prefillDaemon, startDaemon, idleRss } from './daemon';
import { benchValue, loadBenchConfig, NAMESPACE, type BenchConfig, type Section } from './lib/config';
import { closeAgent, request } from './lib/net';
import { cleanupAll, installCleanupHandlers, setPinning, setTmpRoot, tempDir } from './lib/procs';
import { machineInfo, processMemory, toolInfo } from './lib/sysinfo';
import { measureHttp, type HttpTarget } from './load';
import { profileSection } from './profile';
import { checkRedisVersion, measureRedis, prefillRedis, startRedis, type RedisKind } from './redis';
import { queueStreamTsSection } from './queue-stream-ts';
import { printSummary, writeReports, type Results } from './report';
import { writeWrkScripts, type Workload, type WorkloadShape } from './wrk-scripts';

const BENCH_DIR = path.resolve(__dirname, '..', '..', 'bench');
const log = (s: string): void => { process.stdout.write(s + '\n'); };
const TOOLS = ['wrk', 'autocannon'] as const;

interface Ctx { cfg: BenchConfig; shape: WorkloadShape; scripts: Record<Workload, string>; value: { raw: Buffer; b64: string }; results: Results }

async function commitTotals(port: number): Promise<{ writes: number; commits: number }> {
  const r = await request(port, 'GET', '/api/v1/metrics');
  const j = JSON.parse(r.body) as { shards: Array<{ writes_total: number; commits_total: number }> };
  return { writes: j.shards.reduce((a, s) => a + s.writes_total, 0), commits: j.shards.reduce((a, s) => a + s.commits_total, 0) };
}

async function putCheck(port: number, body: string): Promise<void> {
  const r = await request(port, 'PUT', `/api/v1/kv/${NAMESPACE}/check`, body);
  if (r.status !== 200) throw new Error(`PUT check on port ${port} -> ${r.status} ${r.body}`);
}

async function anchorsSection(c: Ctx): Promise<void> {
  const plan: Array<[AnchorName, Workload]> = [['uws-hello', 'get'], ['http-lmdb', 'get'], ['uws-lmdb-put', 'put']];
  for (const [name, w] of plan) {
    log(`\n[anchors] ${name} (${w})`);
    const a = await startAnchor(c.cfg, name);
    try {
      c.results.servers[name] = a.command;
      const t: HttpTarget = { port: a.port, scripts: c.scripts, shape: c.shape };
      if (w === 'put') await putCheck(a.port, c.shape.putBody);
      else {
        const g = await request(a.port, 'GET', `/api/v1/kv/${NAMESPACE}/k1`);
        if (g.status !== 200) throw new Error(`${name} GET check -> ${g.status}`);
      }
      for (const tool of TOOLS) c.results.series.push(await measureHttp(c.cfg, name, t, w, tool, log, a.proc.pid));
      c.results.memory[`${name} after load`] = processMemory(a.proc.pid);
    } finally {
      await a.stop();
    }
  }
}

async function daemonSection(c: Ctx): Promise<void> {
  log('\n[daemon] outpostd (defaults: --write-mode main, 1 partition)');
  const d = await startDaemon(c.cfg);
  try {
    c.results.servers.outpostd = d.command;
    const idle = await idleRss(d.proc.pid, 3000);
    c.results.memory['outpostd idle'] = idle;
    log(`  idle RSS after startup + 3 s: ${idle.rssMiB} MiB (${idle.threads} threads)`);
    log(`  prefilling ${c.cfg.keyCount} keys...`);
    await prefillDaemon(d.port, c.cfg.keyCount, c.shape.putBody, c.value.b64);
    c.results.memory['outpostd after prefill + 3 s'] = await idleRss(d.proc.pid, 3000);
    const t: HttpTarget = { port: d.port, scripts: c.scripts, shape: c.shape };
    for (const w of ['get', 'put', 'mixed'] as Workload[]) {
      log(`  [daemon] ${w}`);
      for (const tool of TOOLS) {
        const before = w === 'get' ? undefined : await commitTotals(d.port);
        c.results.series.push(await measureHttp(c.cfg, 'outpostd', t, w, tool, log, d.proc.pid));
        if (before) {
          const after = await commitTotals(d.port);
          const writes = after.writes - before.writes;
          const commits = after.commits - before.commits;
          c.results.groupCommit[`outpostd ${w} ${tool}`] = { writes, commits, perCommit: commits ? writes / commits : NaN };
        }
      }
    }
    c.results.memory['outpostd right after load'] = processMemory(d.proc.pid);
    c.results.memory['outpostd after load + 3 s'] = await idleRss(d.proc.pid, 3000);
  } finally {
    await d.stop();
  }
}

/**
 * The engine carries `main` and `batch` (`--write-mode`); `inline` and `per-op` run from
 * bench/ablation/outpostd.ts, the same daemon with the write mode plugged in.
 */
async function ablationSection(c: Ctx): Promise<void> {
  for (const mode of ['main', 'inline', 'batch', 'per-op'] as const) {
    log(`\n[ablation] outpostd --write-mode ${mode} (fresh daemon): PUT`);
    const d = mode === 'main' || mode === 'batch'
      ? await startDaemon(c.cfg, ['--write-mode', mode])
      : await startDaemon(c.cfg, ['--ablation-write-mode', mode], [], ABLATION_MAIN);
    try {
      c.results.servers[mode === 'main' || mode === 'batch' ? `outpostd --write-mode ${mode}` : `outpostd (bench/ablation) --ablation-write-mode ${mode}`] = d.command;
      await putCheck(d.port, c.shape.putBody);
      const t: HttpTarget = { port: d.port, scripts: c.scripts, shape: c.shape };
      for (const tool of TOOLS) {
        const before = await commitTotals(d.port);
        const s = await measureHttp(c.cfg, `outpostd[${mode}]`, t, 'put', tool, log, d.proc.pid);
        const after = await commitTotals(d.port);
        const writes = after.writes - before.writes;
        const commits = after.commits - before.commits;
        c.results.groupCommit[`ablation ${mode} ${tool}`] = { writes, commits, perCommit: commits ? writes / commits : NaN };
        c.results.ablation.push(s);
      }
      c.results.memory[`outpostd[${mode}] after PUT load`] = processMemory(d.proc.pid);
    } finally {
      await d.stop();
    }
  }
}

async function redisSection(c: Ctx): Promise<void> {
  for (const kind of ['redis-nopersist', 'redis-aof-always'] as RedisKind[]) {
    log(`\n[redis] ${kind}`);
    const r = await startRedis(c.cfg, kind);
    try {
      c.results.servers[kind] = r.command;
      await prefillRedis(r.port, c.cfg.keyCount, c.value.raw);
      for (const test of ['set', 'get'] as const) c.results.series.push(await measureRedis(c.cfg, kind, r.port, test, log, r.proc.pid));
      c.results.memory[`${kind} after load`] = processMemory(r.proc.pid);
    } finally {
      await r.stop();
    }
  }
}

function checkTools(c: Ctx, sections: Section[]): string[] {
  const t = c.results.tools;
  const missing: string[] = [];
  const http = sections.some((s) => s !== 'redis');
  if (!t.taskset) missing.push('taskset (util-linux)');
  if (http && !t.wrk) missing.push('wrk');
  if (http && !t.autocannon) missing.push('autocannon (npm devDependency: run npm install)');
  if ((sections.includes('redis') || sections.includes('queue-stream-ts')) && !t.redisServer) missing.push('redis-server');
  if (sections.includes('redis') && !t.redisBenchmark) missing.push('redis-benchmark');
  return missing;
}

async function main(): Promise<number> {
  const started = Date.now();
  const cfg = loadBenchConfig(process.argv.slice(2));
  installCleanupHandlers();
  setTmpRoot(cfg.tmpRoot);
  const tmpRoot = cfg.tmpRoot ?? os.tmpdir();
  const value = benchValue(cfg.valueBytes);
  const shape: WorkloadShape = { keys: cfg.keyCount, putBody: JSON.stringify({ value: value.b64 }), mixedPutShare: 0.1 };
  const results: Results = {
    machine: machineInfo(tmpRoot),
    tools: toolInfo(),
    config: { daemonArgs: cfg.daemonArgs, duration: cfg.duration, rounds: cfg.rounds, warmup: cfg.warmup, connections: cfg.connections, valueBytes: cfg.valueBytes, keyCount: cfg.keyCount, quick: cfg.quick, serverCpu: cfg.serverCpu, clientCpu: cfg.clientCpu, tmpRoot },
    sections: cfg.sections, pinning: '', servers: {}, series: [], ablation: [], qst: [], memory: {}, groupCommit: {}, loadavg: { start: os.loadavg()[0], end: NaN }, notes: [], errors: [], elapsedSeconds: 0,
  };
  const c: Ctx = { cfg, shape, scripts: {} as Record<Workload, string>, value, results };

  const missing = checkTools(c, cfg.sections);
  if (missing.length) {
    process.stderr.write(`bench: missing ${missing.join(', ')}.\n  Install them with: sudo bench/setup.sh   (apt-get install wrk redis-server)\n`);
    return 2;
  }
  if (!fs.existsSync(path.resolve(__dirname, '..', 'daemon', 'main.js'))) {
    process.stderr.write('bench: dist/daemon/main.js is missing; build first (npm run bench builds).\n');
    return 2;
  }
  if (results.machine.nproc >= 2) {
    results.pinning = `servers on CPU ${cfg.serverCpu}, load generators on CPU ${cfg.clientCpu} (taskset -c)`;
  } else {
    setPinning(false);
    results.pinning = 'OFF: fewer than 2 CPUs, servers and load generators share the CPU';
    results.notes.push('Pinning disabled: fewer than 2 CPUs available; numbers are not comparable with pinned runs.');
  }
  log(`outpost bench: sections ${cfg.sections.join(', ')}; ${cfg.rounds} x ${cfg.duration} s rounds (+${cfg.warmup} s warmup), ${cfg.connections} connections, ${cfg.valueBytes}-byte values, ${cfg.keyCount} keys${cfg.quick ? ' [BENCH_QUICK]' : ''}`);
  log(`machine: ${results.machine.nproc} CPUs, ${results.machine.cpuModel}, node ${results.machine.node}; temp dirs on ${results.machine.tmpFs}`);
  log(`pinning: ${results.pinning}`);
  if (cfg.sections.includes('redis') || cfg.sections.includes('queue-stream-ts')) {
    results.redisVersion = checkRedisVersion(results.tools.redisServer);
    log(`redis-server --version: ${results.tools.redisServer}`);
  }

  if (cfg.daemonArgs.length) {
    log(`extra outpostd flags (BENCH_DAEMON_ARGS): ${cfg.daemonArgs.join(' ')}`);
    results.notes.push(`Every outpostd ran with the extra flags \`${cfg.daemonArgs.join(' ')}\` (BENCH_DAEMON_ARGS).`);
  }
  const scriptsDir = tempDir('scripts');
  c.scripts = writeWrkScripts(scriptsDir, shape);
  results.notes.push('Every HTTP workload (the uWS hello anchor included) uses the same request mix: a random key of the prefilled set per request, so wrk does the same per-request work for every server.');
  results.notes.push('Durable writes: outpostd acknowledges after fdatasync (LMDB, overlappingSync:false); the uws-lmdb-put anchor awaits lmdb-js put() with overlappingSync:false; Redis uses appendfsync always. All data dirs are on the same filesystem.');

  const sections: Array<[Section, (c: Ctx) => Promise<void>]> = [
    ['anchors', anchorsSection], ['daemon', daemonSection], ['ablation', ablationSection], ['redis', redisSection],
    ['queue-stream-ts', (c) => queueStreamTsSection(c.cfg, c.results, c.value.b64, log)],
  ];
  for (const [name, fn] of sections) {
    if (!cfg.sections.includes(name)) continue;
    try { await fn(c); } catch (err) {
      const msg = `section ${name} failed: ${(err as Error).stack ?? err}`;
      results.errors.push(msg);
      process.stderr.write(`bench: ${msg}\n`);
    }
  }
  if (cfg.sections.includes('profile')) {
    log('\n[profile] outpostd under node --cpu-prof');
    try {
      const outDir = path.join(BENCH_DIR, 'out');
      fs.mkdirSync(outDir, { recursive: true });
      log(await profileSection(cfg, { scripts: c.scripts, shape }, value.b64, outDir, log));
      log(`  profiles and summary written to ${path.relative(process.cwd(), outDir)}/`);
    } catch (err) {
      results.errors.push(`section profile failed: ${(err as Error).stack ?? err}`);
    }
  }

  results.elapsedSeconds = (Date.now() - started) / 1000;
  results.loadavg.end = os.loadavg()[0];
  if (results.loadavg.start > 0.5) {
    results.notes.push(`The machine was not idle when the bench started (1-min load average ${results.loadavg.start.toFixed(2)}; the end value includes the bench's own load): expect noise, especially in p99.`);
  }
  const measured = results.series.length + results.ablation.length + results.qst.length > 0 || results.floql !== undefined;
  if (measured) {
    printSummary(results);
    const { md, json } = writeReports(results, BENCH_DIR, cfg.writeResults);
    log(`\nwrote ${path.relative(process.cwd(), md)} and ${path.relative(process.cwd(), json)}`);
  }
  return results.errors.length ? 1 : 0;
}

main().then(
  async (code) => { closeAgent(); await cleanupAll(); process.exit(code); },
  async (err) => { process.stderr.write(`bench: ${(err as Error).stack ?? err}\n`); closeAgent(); await cleanupAll(); process.exit(1); },
);

