// Load generators: wrk and autocannon, each pinned to the client CPU, each run bounded.
// measure() runs a warmup and N rounds and keeps the per-round numbers and their medians.
import path from 'node:path';
import { NAMESPACE, type BenchConfig } from './lib/config';
import { HOST } from './lib/net';
import { pinned, run } from './lib/procs';
import { cpuSampler, median } from './lib/sysinfo';
import type { RunnerResult, RunnerSpec } from './autocannon-runner';
import type { Workload, WorkloadShape } from './wrk-scripts';

export type Tool = 'wrk' | 'autocannon' | 'redis-benchmark' | 'node-runner';

export interface Round {
  rps: number; p50: number; p99: number; non2xx: number; errors: number; total: number;
  /** % of one CPU the server used, and % of its CPU other processes used, during the round. */
  serverCpu?: number; otherCpu?: number;
}

export interface Series {
  server: string;
  workload: string;
  tool: Tool;
  rounds: Round[];
  rps: number;
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
  /** Medians of the server's CPU % and of other processes' CPU % on the server CPU. */
  serverCpu: number;
  otherCpu: number;
  /** Median of req/s divided by the server's CPU share: requests per server CPU-second. */
  rpsPerCpu: number;
  /** The exact command (or options) of the first measured round. */
  command: string;
}

export function summarize(server: string, workload: string, tool: Tool, rounds: Round[], command: string): Series {
  return {
    server, workload, tool, rounds, command,
    rps: Math.round(median(rounds.map((r) => r.rps))),
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    non2xx: rounds.reduce((a, r) => a + r.non2xx, 0),
    errors: rounds.reduce((a, r) => a + r.errors, 0),
    serverCpu: median(rounds.map((r) => r.serverCpu ?? NaN)),
    otherCpu: median(rounds.map((r) => r.otherCpu ?? NaN)),
    rpsPerCpu: Math.round(median(rounds.map((r) => (r.serverCpu ? r.rps / (r.serverCpu / 100) : NaN)))),
  };
}

const shellQuote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
export const commandLine = (cmd: string, args: string[]): string => [cmd, ...args].map(shellQuote).join(' ');

/** wrk latency tokens: 339.12us, 1.20ms, 2.00s -> milliseconds. */
function wrkMs(tok: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(tok.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

export function parseWrk(out: string): Round {
  const pct = (p: string): number => wrkMs(new RegExp(`^\\s*${p}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const se = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = se ? se.slice(1).reduce((a, x) => a + Number(x), 0) : 0;
  if (!Number.isFinite(rps)) throw new Error(`cannot parse wrk output:\n${out}`);
  return { rps, p50: pct('50'), p99: pct('99'), non2xx, errors, total };
}

export interface HttpTarget { port: number; scripts: Record<Workload, string>; shape: WorkloadShape }

export function wrkArgs(cfg: BenchConfig, t: HttpTarget, w: Workload, seconds: number): string[] {
  return ['-t1', `-c${cfg.connections}`, `-d${seconds}s`, '--latency', '--timeout', '10s', '-s', t.scripts[w], `http://${HOST}:${t.port}/`];
}

export async function wrkOnce(cfg: BenchConfig, t: HttpTarget, w: Workload, seconds: number): Promise<{ round: Round; command: string }> {
  const [cmd, args] = pinned(cfg.clientCpu, 'wrk', wrkArgs(cfg, t, w, seconds));
  const r = await run('wrk', cmd, args, (seconds + 30) * 1000);
  if (r.timedOut || r.code !== 0) throw new Error(`wrk failed (${r.timedOut ? 'timeout' : `exit ${r.code}`}): ${r.stderr}${r.stdout}`);
  return { round: parseWrk(r.stdout), command: commandLine(cmd, args) };
}

const RUNNER = path.join(__dirname, 'autocannon-runner.js');

export function autocannonSpec(cfg: BenchConfig, t: HttpTarget, w: Workload, seconds: number): RunnerSpec {
  return { url: `http://${HOST}:${t.port}`, connections: cfg.connections, duration: seconds, workload: w, keys: t.shape.keys, putBody: t.shape.putBody, mixedPutShare: t.shape.mixedPutShare, namespace: NAMESPACE };
}

export async function autocannonOnce(cfg: BenchConfig, t: HttpTarget, w: Workload, seconds: number): Promise<{ round: Round; command: string }> {
  const spec = autocannonSpec(cfg, t, w, seconds);
  const [cmd, args] = pinned(cfg.clientCpu, process.execPath, [RUNNER, JSON.stringify(spec)]);
  const r = await run('autocannon', cmd, args, (seconds + 30) * 1000);
  if (r.timedOut || r.code !== 0) throw new Error(`autocannon failed (${r.timedOut ? 'timeout' : `exit ${r.code}`}): ${r.stderr}`);
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as RunnerResult;
  const shown = args.map((a) => (a === process.execPath ? 'node' : a === RUNNER ? path.relative(process.cwd(), RUNNER) : a));
  return {
    round: { rps: res.rps, p50: res.p50, p99: res.p99, non2xx: res.non2xx, errors: res.errors + res.timeouts, total: res.total },
    command: commandLine(cmd === process.execPath ? 'node' : cmd, shown),
  };
}

export type Log = (line: string) => void;

/** Warmup (unmeasured), then cfg.rounds measured rounds with `tool`. */
export async function measureHttp(cfg: BenchConfig, server: string, t: HttpTarget, w: Workload, tool: 'wrk' | 'autocannon', log: Log, serverPid: number): Promise<Series> {
  const once = tool === 'wrk' ? wrkOnce : autocannonOnce;
  if (cfg.warmup > 0) await once(cfg, t, w, cfg.warmup);
  const rounds: Round[] = [];
  let command = '';
  for (let i = 0; i < cfg.rounds; i++) {
    const cpu = cpuSampler(serverPid, cfg.serverCpu);
    const r = await once(cfg, t, w, cfg.duration);
    const share = cpu();
    r.round.serverCpu = share.server;
    r.round.otherCpu = share.other;
    command ||= r.command;
    rounds.push(r.round);
    log(`    ${tool.padEnd(10)} ${server} ${w} round ${i + 1}/${cfg.rounds}: ${Math.round(r.round.rps)} req/s  p50 ${fmtMs(r.round.p50)}  p99 ${fmtMs(r.round.p99)}  server CPU ${share.server}%  other on CPU${cfg.serverCpu} ${share.other}%${r.round.non2xx ? `  non-2xx ${r.round.non2xx}` : ''}${r.round.errors ? `  errors ${r.round.errors}` : ''}`);
  }
  return summarize(server, w, tool, rounds, command);
}

export const fmtMs = (ms: number): string => (!Number.isFinite(ms) ? 'n/a' : ms < 1 ? `${(ms * 1000).toFixed(0)}us` : `${ms.toFixed(2)}ms`);
