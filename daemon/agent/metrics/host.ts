// Host metrics in the Edge Admin reference's HostMetricsResponse shape (cpu, memory, root disk,
// uptime). Sampled with systeminformation and fs.statfs, never with sync calls that could stall
// the event loop on a slow /proc; a sample is kept for `cacheMs` so repeated scrapes are cheap,
// and concurrent callers share one sampling in flight.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import type Si from 'systeminformation';

// Loaded on the first sample: ~10 MiB that a daemon nobody asks for host metrics does not need.
let si: typeof Si | undefined;
import { humanUptime, percent, toGb } from './format';

export interface HostCpu {
  /** CPU cores the OS reports (os.cpus().length). */
  cores: number;
  load_1m: number;
  load_5m: number;
  load_15m: number;
  /** Busy share of all cores since the previous sample (null until it can be measured). */
  usage_percent: number | null;
}

/** memory and disk share one shape: used = total − available (the reference's definition). */
export interface HostSpace {
  total_bytes: number | null;
  total_gb: number | null;
  available_bytes: number | null;
  available_gb: number | null;
  used_bytes: number | null;
  used_gb: number | null;
  usage_percent: number | null;
}

export interface HostUptime { seconds: number | null; human: string | null }

export interface HostSample {
  cpu: HostCpu;
  memory: HostSpace;
  disk: HostSpace;
  uptime: HostUptime;
  /** When this sample was taken (ISO 8601). */
  timestamp: string;
  /** Which parts could not be read (empty when all are present); their fields are null. */
  errors: string[];
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export const EMPTY_SPACE: HostSpace = Object.freeze({ total_bytes: null, total_gb: null, available_bytes: null, available_gb: null, used_bytes: null, used_gb: null, usage_percent: null });

export function space(total: number, available: number): HostSpace {
  const avail = Math.min(Math.max(0, available), total);
  const used = total - avail;
  return { total_bytes: total, total_gb: toGb(total), available_bytes: avail, available_gb: toGb(avail), used_bytes: used, used_gb: toGb(used), usage_percent: percent(used, total) };
}

export interface HostMetricsOptions {
  /** How long a sample is reused (default 2000 ms). */
  cacheMs?: number;
  /** The filesystem whose figures are reported as `disk` (default "/"). */
  diskPath?: string;
}

export class HostMetrics {
  private readonly cacheMs: number;
  private readonly diskPath: string;
  private last?: { at: number; sample: HostSample };
  private pending?: Promise<HostSample>;

  constructor(opts: HostMetricsOptions = {}) {
    this.cacheMs = opts.cacheMs ?? 2000;
    this.diskPath = opts.diskPath ?? '/';
  }

  /** The latest sample, taken now unless one younger than cacheMs exists. */
  sample(): Promise<HostSample> {
    if (this.last && Date.now() - this.last.at < this.cacheMs) return Promise.resolve(this.last.sample);
    this.pending ??= this.take().then(
      (sample) => { this.last = { at: Date.now(), sample }; this.pending = undefined; return sample; },
      (err: unknown) => { this.pending = undefined; throw err; },
    );
    return this.pending;
  }

  private async take(): Promise<HostSample> {
    const errors: string[] = [];
    si ??= require('systeminformation') as typeof Si;
    const [load, mem, disk] = await Promise.allSettled([si.currentLoad(), si.mem(), fsp.statfs(this.diskPath)]);
    const [l1, l5, l15] = os.loadavg();
    let usage: number | null = null;
    if (load.status === 'fulfilled' && Number.isFinite(load.value.currentLoad)) usage = Math.min(100, Math.max(0, Math.round(load.value.currentLoad * 10) / 10));
    else errors.push('cpu');
    let memory: HostSpace = EMPTY_SPACE;
    if (mem.status === 'fulfilled' && mem.value.total > 0) memory = space(mem.value.total, mem.value.available);
    else errors.push('memory');
    let diskSpace: HostSpace = EMPTY_SPACE;
    if (disk.status === 'fulfilled' && disk.value.blocks > 0) {
      // Same figures as node_exporter's node_filesystem_{size,avail}_bytes: blocks and blocks
      // available to unprivileged users, times the block size.
      diskSpace = space(disk.value.blocks * disk.value.bsize, disk.value.bavail * disk.value.bsize);
    } else errors.push('disk');
    const up = Math.floor(os.uptime());
    return {
      cpu: { cores: os.cpus().length, load_1m: round2(l1), load_5m: round2(l5), load_15m: round2(l15), usage_percent: usage },
      memory,
      disk: diskSpace,
      uptime: { seconds: up, human: humanUptime(up) },
      timestamp: new Date().toISOString(),
      errors,
    };
  }
}
