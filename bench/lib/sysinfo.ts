// What machine and tools the numbers came from, and process memory from /proc.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  date: string;
  nproc: number;
  cpuModel: string;
  memTotalMiB: number;
  kernel: string;
  node: string;
  tmpFs: string;
}

export interface ToolInfo { wrk?: string; redisServer?: string; redisBenchmark?: string; taskset?: boolean; autocannon?: string }

function firstLine(cmd: string, args: string[]): string | undefined {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
    return out.split('\n').find((l) => l.trim() !== '')?.trim();
  } catch (err) {
    // wrk prints its version to stdout and exits 1 on -v.
    const e = err as { stdout?: string; code?: string };
    if (e.code === 'ENOENT') return undefined;
    return e.stdout?.split('\n').find((l) => l.trim() !== '')?.trim();
  }
}

export function machineInfo(tmpDir: string): MachineInfo {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  let tmpFs = 'unknown';
  try {
    const [source, type] = execFileSync('df', ['-T', tmpDir], { encoding: 'utf8' }).trim().split('\n').pop()!.trim().split(/\s+/);
    tmpFs = `${type} (${source})`;
  } catch { /* no df */ }
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpuModel: model.trim(),
    memTotalMiB: Math.round(os.totalmem() / 1048576),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    tmpFs,
  };
}

export function toolInfo(): ToolInfo {
  let autocannon: string | undefined;
  try { autocannon = (require('autocannon/package.json') as { version: string }).version; } catch { /* missing */ }
  return {
    wrk: firstLine('wrk', ['-v']),
    redisServer: firstLine('redis-server', ['--version']),
    redisBenchmark: firstLine('redis-benchmark', ['--version']),
    taskset: firstLine('taskset', ['-V']) !== undefined,
    autocannon,
  };
}

/** VmRSS and VmHWM (peak) of a whole process, threads included, in MiB. */
export function processMemory(pid: number): { rssMiB: number; hwmMiB: number; threads: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  const threads = Number(/^Threads:\s+(\d+)/m.exec(s)?.[1] ?? NaN);
  return { rssMiB: round1(kb('VmRSS') / 1024), hwmMiB: round1(kb('VmHWM') / 1024), threads };
}

export const round1 = (n: number): number => Math.round(n * 10) / 10;

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

const CLK_TCK = 100;

/** utime + stime of a whole process (all threads), in seconds. */
export function processCpuSeconds(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** Busy and steal seconds of one CPU since boot, from /proc/stat. */
function cpuSeconds(cpu: string): { busy: number; steal: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return { busy: NaN, steal: NaN };
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: (user + nice + system + irq + softirq) / CLK_TCK, steal: (steal ?? 0) / CLK_TCK };
}

export interface CpuShare {
  /** CPU the server process used, % of one CPU. */
  server: number;
  /** Everything else that ran on the server CPU, % of it (interference from other processes). */
  other: number;
  /** Time the hypervisor took from the server CPU, %. */
  steal: number;
}

/** Starts measuring; call the returned function at the end of the interval. */
export function cpuSampler(pid: number, cpu: string): () => CpuShare {
  const t0 = process.hrtime.bigint();
  const p0 = processCpuSeconds(pid);
  const c0 = cpuSeconds(cpu);
  return () => {
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    let p1 = p0;
    try { p1 = processCpuSeconds(pid); } catch { /* exited */ }
    const c1 = cpuSeconds(cpu);
    const server = (100 * (p1 - p0)) / wall;
    return { server: round1(server), other: round1(Math.max(0, (100 * (c1.busy - c0.busy)) / wall - server)), steal: round1((100 * (c1.steal - c0.steal)) / wall) };
  };
}
