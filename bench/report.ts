// Turns the collected series into the stdout table, the ratios against the targets,
// bench/RESULTS.md and the raw JSON in bench/out/.
import { standaloneSections } from './lib/results-md';
import fs from 'node:fs';
import path from 'node:path';
import type { BenchConfig, Section } from './lib/config';
import type { MachineInfo, ToolInfo } from './lib/sysinfo';
import { fmtMs, type Series } from './load';
import { QUEUE_WORKLOAD, REDIS_QUEUE_WORKLOAD, type FloqlResult } from './queue-stream-ts';

export interface Memory { rssMiB: number; hwmMiB: number; threads: number }

export interface Results {
  machine: MachineInfo;
  tools: ToolInfo;
  redisVersion?: string;
  config: Omit<BenchConfig, 'sections' | 'writeResults' | 'tmpRoot'> & { tmpRoot: string };
  sections: Section[];
  pinning: string;
  /** How each server was started (ports and temp dirs shown as $PORT/$TMP). */
  servers: Record<string, string>;
  series: Series[];
  ablation: Series[];
  /** queue-stream-ts: queue round trips/s, stream records/s (throughput in the rps fields). */
  qst: Series[];
  /** queue-stream-ts: 1M-point write and FloQL avg(5m) latency. */
  floql?: FloqlResult;
  memory: Record<string, Memory>;
  /** Write groups: writes per LMDB commit seen by the daemon during each PUT series. */
  groupCommit: Record<string, { writes: number; commits: number; perCommit: number }>;
  /** 1-minute load average at the start and end: other work on the machine skews numbers. */
  loadavg: { start: number; end: number };
  notes: string[];
  errors: string[];
  elapsedSeconds: number;
}

export interface Ratio { name: string; tool: string; value: number; target: string; pass: boolean | undefined; how: string }

const find = (xs: Series[], server: string, workload: string, tool: string): Series | undefined =>
  xs.find((s) => s.server === server && s.workload === workload && s.tool === tool);

export function ratios(r: Results): Ratio[] {
  const out: Ratio[] = [];
  const all = [...r.series, ...r.ablation];
  for (const tool of ['wrk', 'autocannon'] as const) {
    const get = find(all, 'outpostd', 'get', tool);
    const hello = find(all, 'uws-hello', 'get', tool);
    const httpLmdb = find(all, 'http-lmdb', 'get', tool);
    const put = find(all, 'outpostd', 'put', tool);
    const redisSet = find(all, 'redis-aof-always', 'SET', 'redis-benchmark');
    const ratio = (name: string, a: Series | undefined, b: Series | undefined, min: number): void => {
      if (!a || !b) return;
      const v = a.rps / b.rps;
      out.push({ name, tool: b.tool === tool ? tool : `${tool} vs ${b.tool}`, value: v, target: `>= ${min.toFixed(2)}`, pass: v >= min, how: `${a.rps} / ${b.rps} req/s` });
    };
    ratio('daemon KV GET / bare uWS hello', get, hello, 0.9);
    ratio('daemon KV GET / node:http + lmdb GET', get, httpLmdb, 2.2);
    // Per server CPU-second: robust to other processes taking CPU 0 away during a round.
    const perCpu = (name: string, a: Series | undefined, b: Series | undefined, min: number): void => {
      if (!a || !b || !Number.isFinite(a.rpsPerCpu) || !Number.isFinite(b.rpsPerCpu)) return;
      const v = a.rpsPerCpu / b.rpsPerCpu;
      out.push({ name: `${name} (per server CPU-s)`, tool, value: v, target: `>= ${min.toFixed(2)}`, pass: v >= min, how: `${a.rpsPerCpu} / ${b.rpsPerCpu} req per CPU-s` });
    };
    perCpu('daemon KV GET / bare uWS hello', get, hello, 0.9);
    perCpu('daemon KV GET / node:http + lmdb GET', get, httpLmdb, 2.2);
    ratio('daemon durable PUT / Redis SET appendfsync always', put, redisSet, 1.0);
    if (put) out.push({ name: 'daemon durable PUT p99', tool, value: put.p99, target: '< 10 ms', pass: put.p99 < 10, how: `median of ${put.rounds.length} rounds` });
  }
  const q = find(r.qst, 'outpostd', QUEUE_WORKLOAD, 'node-runner');
  for (const kind of ['redis-aof-always', 'redis-nopersist']) {
    const rq = find(r.qst, kind, REDIS_QUEUE_WORKLOAD, 'node-runner');
    if (q && rq) out.push({ name: `daemon queue round trip / ${kind} LPUSH+BRPOP`, tool: 'node-runner', value: q.rps / rq.rps, target: 'none (info)', pass: undefined, how: `${q.rps} / ${rq.rps} round trips/s` });
  }
  const idle = r.memory['outpostd idle'];
  if (idle) out.push({ name: 'daemon idle RSS (MiB)', tool: '/proc VmRSS', value: idle.rssMiB, target: '<= 70', pass: idle.rssMiB <= 70, how: 'after startup + idle, whole process' });
  return out;
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const lpad = (s: string, n: number): string => (s.length >= n ? s : ' '.repeat(n - s.length) + s);
const passText = (p: boolean | undefined): string => (p === undefined ? 'n/a' : p ? 'PASS' : 'MISS');
const fmtRatio = (r: Ratio): string => (r.name.includes('p99') ? fmtMs(r.value) : r.name.includes('RSS') ? `${r.value.toFixed(1)} MiB` : r.value.toFixed(2));

const pct = (n: number): string => (Number.isFinite(n) ? `${Math.round(n)}%` : 'n/a');
function seriesRow(s: Series): string[] {
  return [s.server, s.workload, s.tool, String(s.rps), fmtMs(s.p50), fmtMs(s.p99), String(s.non2xx + s.errors), pct(s.serverCpu), pct(s.otherCpu), Number.isFinite(s.rpsPerCpu) ? String(s.rpsPerCpu) : 'n/a', s.rounds.map((x) => Math.round(x.rps)).join(' / ')];
}
const HEAD = ['server', 'workload', 'tool', 'req/s (median)', 'p50', 'p99', 'non-2xx+err', 'server CPU', 'other on CPU0', 'req per CPU-s', 'rounds req/s'];
const RIGHT = [3, 4, 5, 6, 7, 8, 9];
const QST_HEAD = ['server', 'workload [unit]', 'tool', 'throughput (median)', 'p50 per op', 'p99 per op', 'errors', 'server CPU', 'other on CPU0', 'per CPU-s', 'rounds'];
const floqlLine = (f: FloqlResult): string =>
  `write ${f.points} points (${f.linesPerBatch}-line requests, one in flight): ${f.writeSeconds.toFixed(1)} s = ${f.writePointsPerSec} points/s (request p50 ${fmtMs(f.writeBatchP50)}, p99 ${fmtMs(f.writeBatchP99)}); ` +
  `\`${f.query}\` x${f.latenciesMs.length} over raw points (streaming fold): median ${fmtMs(f.medianMs)}, min ${fmtMs(f.minMs)} (${f.latenciesMs.map((x) => fmtMs(x)).join(' / ')}; ${f.pointsReturned} windows returned)` +
  (f.rollupMedianMs === undefined ? '' : `; with 1-minute rollups (caught up ${f.rollupCatchUpSeconds!.toFixed(1)} s after the writes): median ${fmtMs(f.rollupMedianMs)} (${f.rollupLatenciesMs!.map((x) => fmtMs(x)).join(' / ')})`);

export function textTable(rows: string[][], head: string[], right: number[] = RIGHT): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]): string => r.map((c, i) => (right.includes(i) ? lpad(c, w[i]) : pad(c, w[i]))).join('  ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

function mdTable(rows: string[][], head: string[]): string {
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function printSummary(r: Results): void {
  const log = (s = ''): void => { process.stdout.write(s + '\n'); };
  if (r.series.length) { log('\n=== results (medians) ==='); log(textTable(r.series.map(seriesRow), HEAD)); }
  if (r.qst.length) { log('\n=== queue / stream (throughput = round trips/s or records/s, see workload) ==='); log(textTable(r.qst.map(seriesRow), QST_HEAD)); }
  if (r.floql) log(`\n=== FloQL ===\n  ${floqlLine(r.floql)}`);
  if (r.ablation.length) { log('\n=== ablation: daemon PUT by --write-mode ==='); log(textTable(r.ablation.map(seriesRow), HEAD)); }
  const mem = Object.entries(r.memory);
  if (mem.length) { log('\n=== memory (VmRSS / VmHWM, whole process) ==='); for (const [k, m] of mem) log(`  ${pad(k, 28)} ${m.rssMiB.toFixed(1)} MiB   peak ${m.hwmMiB.toFixed(1)} MiB   threads ${m.threads}`); }
  const gc = Object.entries(r.groupCommit);
  if (gc.length) { log('\n=== group commit during PUT series ==='); for (const [k, g] of gc) log(`  ${pad(k, 28)} ${g.writes} writes in ${g.commits} commits = ${g.perCommit.toFixed(1)} writes/commit`); }
  const rs = ratios(r);
  if (rs.length) {
    log('\n=== ratios vs targets ===');
    log(textTable(rs.map((x) => [x.name, x.tool, fmtRatio(x), x.target, passText(x.pass), x.how]), ['ratio', 'tool', 'value', 'target', 'result', 'from'], [2]));
  }
  for (const e of r.errors) log(`ERROR: ${e}`);
}

export function markdown(r: Results): string {
  const m = r.machine;
  const out: string[] = [];
  out.push('# Outpost benchmark results', '');
  out.push('Generated by `npm run bench` (bench/run.ts); overwritten on every full run. Medians of', `${r.config.rounds} rounds of ${r.config.duration} s (after a ${r.config.warmup} s warmup), ${r.config.connections} connections, ${r.config.valueBytes}-byte values, ${r.config.keyCount} random keys.`, '');
  out.push('## Machine', '');
  out.push(`- date: ${m.date}`, `- nproc: ${m.nproc}`, `- cpu: ${m.cpuModel}`, `- memory: ${m.memTotalMiB} MiB`, `- kernel: ${m.kernel}`, `- node: ${m.node}`,
    `- temp/data dirs on: ${m.tmpFs} (${r.config.tmpRoot})`, `- pinning: ${r.pinning}`,
    `- tools: ${r.tools.wrk ?? 'wrk missing'}; autocannon ${r.tools.autocannon ?? 'missing'}; ${r.tools.redisServer ?? 'redis-server missing'}; ${r.tools.redisBenchmark ?? ''}`,
    `- load average (1 min): ${r.loadavg.start.toFixed(2)} at start, ${r.loadavg.end.toFixed(2)} at end`,
    `- sections run: ${r.sections.join(', ')}; total time ${Math.round(r.elapsedSeconds)} s`, '');
  const rs = ratios(r);
  if (rs.length) {
    out.push('## Ratios vs targets', '');
    out.push(mdTable(rs.map((x) => [x.name, x.tool, fmtRatio(x), x.target, `**${passText(x.pass)}**`, x.how]), ['ratio', 'tool', 'value', 'target', 'result', 'from']), '');
    out.push('wrk is the primary client (it saturates one core far less than autocannon, whose single Node process is the bottleneck for the fastest servers); autocannon rows are shown for cross-checking. autocannon latencies have 1 ms resolution.',
      '"per server CPU-s" divides each round\'s req/s by the CPU share the server process actually got (utime+stime from /proc/PID/stat, all threads): on a shared machine it is steadier than raw req/s for CPU-bound GETs. It means nothing for fsync-bound PUTs, so PUT ratios use raw req/s only.', '');
  }
  if (r.series.length) { out.push('## Results', '', mdTable(r.series.map(seriesRow), HEAD), ''); }
  if (r.qst.length || r.floql) {
    out.push('## Queues, streams, time series (section queue-stream-ts)', '');
    if (r.qst.length) out.push(mdTable(r.qst.map(seriesRow), QST_HEAD), '');
    out.push(`Queue: ${r.config.connections} workers, each on its own queue, loop enqueue -> dequeue(count 1, wait_ms 1000) -> ack over HTTP (undici Pool, bench/queue-load.ts); p50/p99 are of the whole round trip. Redis anchor: the same loop as LPUSH -> BRPOP on its own list per worker (raw RESP client); Redis has no ack step, so it is 2 commands against the daemon's 3 requests, each durable with appendfsync always. Stream: 100-byte payloads; x1 = one record per POST (wrk), x100 = 100 records per POST, read = GET pages of 1000 at random offsets.`, '');
    if (r.floql) out.push(`FloQL: ${floqlLine(r.floql)}`, '');
  }
  if (r.ablation.length) {
    out.push('## Ablation: hot-path write design (daemon PUT, fresh daemon per mode)', '', mdTable(r.ablation.map(seriesRow), HEAD), '');
    out.push("`main` (default) = lmdb-js async transactions from the main thread, committed by its native write thread with overlapping syncs; `batch` = group commit per partition in the piscina pool; `inline` = the main thread commits each turn's group with transactionSync; `per-op` = one pool task and one transaction per write. The engine carries `main` and `batch` (`--write-mode`); `inline` and `per-op` run from `dist/bench/ablation/outpostd.js` (bench/ablation/).", '');
  }
  const mem = Object.entries(r.memory);
  if (mem.length) {
    out.push('## Memory (VmRSS from /proc/PID/status, whole process incl. threads)', '');
    out.push(mdTable(mem.map(([k, x]) => [k, x.rssMiB.toFixed(1), x.hwmMiB.toFixed(1), String(x.threads)]), ['when', 'RSS MiB', 'peak (VmHWM) MiB', 'threads']), '');
  }
  const gc = Object.entries(r.groupCommit);
  if (gc.length) {
    out.push('## Group commit (from /api/v1/metrics, across the PUT series incl. warmup)', '');
    out.push(mdTable(gc.map(([k, g]) => [k, String(g.writes), String(g.commits), g.perCommit.toFixed(1)]), ['series', 'writes', 'commits', 'writes/commit']), '');
  }
  out.push('Columns: `server CPU` = CPU used by the server process (all threads) as % of one CPU, `other on CPU0` = CPU time of everything else on the server\'s CPU (interference), both medians over rounds.', '');
  out.push('## Commands', '', 'Servers (each under `taskset -c ' + r.config.serverCpu + '`; `$PORT` is a free loopback port, `$TMP` a fresh temp dir):', '', '```');
  for (const [k, c] of Object.entries(r.servers)) out.push(`# ${k}`, c);
  out.push('```', '', 'Load (each under `taskset -c ' + r.config.clientCpu + '`; the wrk Lua scripts are generated by bench/wrk-scripts.ts into a temp dir):', '', '```');
  const seen = new Set<string>();
  for (const s of [...r.series, ...r.ablation, ...r.qst]) {
    const c = s.command.replace(/http:\/\/127\.0\.0\.1:\d+/g, 'http://127.0.0.1:$PORT').replace(/\/[^ ]*outpost-bench-scripts-[^/]*\//g, '$SCRIPTS/');
    const key = `${s.tool} ${s.workload} ${c}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(`# ${s.server} ${s.workload} (${s.tool})`, c);
  }
  out.push('```', '');
  out.push('autocannon runs through `dist/bench/autocannon-runner.js`, i.e. `autocannon({ url, connections: ' + r.config.connections + ', duration, pipelining: 1, timeout: 10, requests: [{ setupRequest }] })` where setupRequest picks a random key (and GET/PUT for mixed) per request.', '');
  if (r.notes.length) { out.push('## Notes', '', ...r.notes.map((n) => `- ${n}`), ''); }
  if (r.errors.length) { out.push('## Errors', '', ...r.errors.map((e) => `- ${e.split('\n')[0]}`), ''); }
  return out.join('\n');
}

export function writeReports(r: Results, benchDir: string, writeResultsMd: boolean): { md: string; json: string } {
  const outDir = path.join(benchDir, 'out');
  fs.mkdirSync(outDir, { recursive: true });
  const stamp = r.machine.date.replace(/[:.]/g, '-');
  const json = path.join(outDir, `results-${stamp}.json`);
  const payload = JSON.stringify({ ...r, ratios: ratios(r) }, null, 2) + '\n';
  fs.writeFileSync(json, payload);
  fs.writeFileSync(path.join(outDir, 'latest.json'), payload);
  const md = writeResultsMd ? path.join(benchDir, 'RESULTS.md') : path.join(outDir, `RESULTS-${r.sections.join('-')}${r.config.quick ? '-quick' : ''}.md`);
  // The main run rewrites RESULTS.md but keeps the standalone benches' sections.
  const kept = writeResultsMd && fs.existsSync(md) ? standaloneSections(fs.readFileSync(md, 'utf8')) : [];
  fs.writeFileSync(md, markdown(r).trimEnd() + '\n' + kept.map((k) => '\n' + k + '\n').join(''));
  return { md, json };
}
