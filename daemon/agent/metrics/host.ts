// Host metrics: the Edge Admin reference's HostMetricsResponse (cpu, memory, root disk, uptime)
// plus what an operator would otherwise run node_exporter for: CPU time by mode, network and
// disk I/O counters, every mounted filesystem. On Linux everything is read from /proc and
// fs.statfs, asynchronously, never with sync calls that could stall the event loop on a slow
// /proc; elsewhere the os module stands in. start() samples in the background every intervalMs,
// so a scrape or a GET only reads the latest sample; concurrent callers share one sampling in
// flight. (systeminformation's currentLoad() measured CPU over 0.5 s on its first call: that was
// the 0.41 s worst-case scrape.)
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import { humanUptime, percent, toGb } from '../../metrics/format';
import { busyRatio, parseDiskstats, parseMeminfo, parseMountinfo, parseNetDev, parseProcStat, type CpuTimes, type DiskStat, type Mount, type NetDev } from './procfs';

export interface HostCpu {
  /** CPU cores the OS reports (os.cpus().length). */
  cores: number;
  load_1m: number;
  load_5m: number;
  load_15m: number;
  /** Busy share of all cores since the previous sample (since boot for the first one), percent. */
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

export interface Filesystem extends Mount { size_bytes: number; avail_bytes: number; free_bytes: number; files: number; files_free: number }

export interface HostSample {
  cpu: HostCpu;
  memory: HostSpace;
  disk: HostSpace;
  uptime: HostUptime;
  /** When this sample was taken (ISO 8601). */
  timestamp: string;
  /** Which parts could not be read (empty when all are present); their fields are null. */
  errors: string[];
  /** Busy share of all cores, 0..1 (usage_percent / 100 before rounding). */
  cpuRatio: number | null;
  /** Cumulative CPU time of all cores by mode (Linux). */
  cpuTimes?: CpuTimes;
  network: NetDev[];
  disks: DiskStat[];
  filesystems: Filesystem[];
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export const EMPTY_SPACE: HostSpace = Object.freeze({ total_bytes: null, total_gb: null, available_bytes: null, available_gb: null, used_bytes: null, used_gb: null, usage_percent: null });

export function space(total: number, available: number): HostSpace {
  const avail = Math.min(Math.max(0, available), total);
  const used = total - avail;
  return { total_bytes: total, total_gb: toGb(total), available_bytes: avail, available_gb: toGb(avail), used_bytes: used, used_gb: toGb(used), usage_percent: percent(used, total) };
}

export interface HostMetricsOptions {
  /** How old a sample may be before sample() takes a new one (default 2000 ms). */
  cacheMs?: number;
  /** Background sampling period once start() is called (default 5000 ms). */
  intervalMs?: number;
  /** The filesystem whose figures are reported as `disk` (default "/"). */
  diskPath?: string;
  /** A part (a file read, one statfs) that takes longer is reported missing (default 2000 ms). */
  partTimeoutMs?: number;
}

const LINUX = process.platform === 'linux';

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export class HostMetrics {
  private readonly cacheMs: number;
  private readonly intervalMs: number;
  private readonly diskPath: string;
  private readonly partTimeoutMs: number;
  private last?: { at: number; sample: HostSample };
  private pending?: Promise<HostSample>;
  private prevCpu?: CpuTimes;
  private timer?: NodeJS.Timeout;
  /** Mount points whose statfs has not returned yet (a hung NFS server): not asked again meanwhile. */
  private readonly statfsInFlight = new Set<string>();

  constructor(opts: HostMetricsOptions = {}) {
    this.intervalMs = opts.intervalMs ?? 5000;
    this.cacheMs = opts.cacheMs ?? 2000;
    this.diskPath = opts.diskPath ?? '/';
    this.partTimeoutMs = opts.partTimeoutMs ?? 2000;
  }

  /** Samples now and then every intervalMs; sample() then serves the background sample. */
  start(): void {
    if (this.timer) return;
    const tick = () => { this.refresh().catch(() => undefined); };
    this.timer = setInterval(tick, this.intervalMs);
    this.timer.unref();
    tick();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * The latest sample. Served from memory while it is younger than cacheMs, or — with background
   * sampling running — younger than three periods; otherwise taken now.
   */
  sample(): Promise<HostSample> {
    const maxAge = this.timer ? Math.max(this.cacheMs, 3 * this.intervalMs) : this.cacheMs;
    if (this.last && Date.now() - this.last.at < maxAge) return Promise.resolve(this.last.sample);
    return this.refresh();
  }

  /** Takes a new sample (shared with a sampling already in flight). */
  refresh(): Promise<HostSample> {
    this.pending ??= this.take().then(
      (sample) => { this.last = { at: Date.now(), sample }; this.pending = undefined; return sample; },
      (err: unknown) => { this.pending = undefined; throw err; },
    );
    return this.pending;
  }

  private read(file: string): Promise<string> {
    return within(fsp.readFile(file, 'utf8'), this.partTimeoutMs, file);
  }

  private statfs(path: string): Promise<{ blocks: number; bavail: number; bfree: number; bsize: number; files: number; ffree: number }> {
    if (this.statfsInFlight.has(path)) return Promise.reject(new Error(`statfs ${path} still pending`));
    this.statfsInFlight.add(path);
    const p = fsp.statfs(path).finally(() => this.statfsInFlight.delete(path));
    return within(p, this.partTimeoutMs, `statfs ${path}`);
  }

  private async take(): Promise<HostSample> {
    const errors: string[] = [];
    const [stat, meminfo, disk, netdev, diskstats, mountinfo] = await Promise.allSettled([
      LINUX ? this.read('/proc/stat') : Promise.reject(new Error('no /proc')),
      LINUX ? this.read('/proc/meminfo') : Promise.reject(new Error('no /proc')),
      this.statfs(this.diskPath),
      LINUX ? this.read('/proc/net/dev') : Promise.resolve(''),
      LINUX ? this.read('/proc/diskstats') : Promise.resolve(''),
      LINUX ? this.read('/proc/self/mountinfo') : Promise.resolve(''),
    ]);

    let cpuTimes: CpuTimes | undefined;
    let ratio: number | null = null;
    if (stat.status === 'fulfilled' && (cpuTimes = parseProcStat(stat.value))) {
      ratio = busyRatio(cpuTimes, this.prevCpu);
      this.prevCpu = cpuTimes;
    } else if (!LINUX) {
      ratio = this.osCpuRatio();
    }
    if (ratio === null) errors.push('cpu');

    let memory: HostSpace = EMPTY_SPACE;
    const mem = meminfo.status === 'fulfilled' ? parseMeminfo(meminfo.value) : LINUX ? undefined : { total: os.totalmem(), available: os.freemem() };
    if (mem && mem.total > 0) memory = space(mem.total, mem.available);
    else errors.push('memory');

    let diskSpace: HostSpace = EMPTY_SPACE;
    if (disk.status === 'fulfilled' && disk.value.blocks > 0) {
      // Same figures as node_exporter's node_filesystem_{size,avail}_bytes: blocks and blocks
      // available to unprivileged users, times the block size.
      diskSpace = space(disk.value.blocks * disk.value.bsize, disk.value.bavail * disk.value.bsize);
    } else errors.push('disk');

    const mounts: Mount[] = mountinfo.status === 'fulfilled' && mountinfo.value ? parseMountinfo(mountinfo.value) : [{ mountpoint: this.diskPath, fstype: 'unknown', device: 'unknown' }];
    const filesystems = (await Promise.all(mounts.map(async (m): Promise<Filesystem | undefined> => {
      try {
        const s = m.mountpoint === this.diskPath && disk.status === 'fulfilled' ? disk.value : await this.statfs(m.mountpoint);
        if (!(s.blocks > 0)) return undefined;
        return { ...m, size_bytes: s.blocks * s.bsize, avail_bytes: s.bavail * s.bsize, free_bytes: s.bfree * s.bsize, files: s.files, files_free: s.ffree };
      } catch {
        return undefined; // unreadable (permissions, a hung network mount): left out of this sample
      }
    }))).filter((f): f is Filesystem => f !== undefined);

    const [l1, l5, l15] = os.loadavg();
    const up = Math.floor(os.uptime());
    return {
      cpu: { cores: os.cpus().length, load_1m: round2(l1), load_5m: round2(l5), load_15m: round2(l15), usage_percent: ratio === null ? null : Math.round(ratio * 1000) / 10 },
      memory,
      disk: diskSpace,
      uptime: { seconds: up, human: humanUptime(up) },
      timestamp: new Date().toISOString(),
      errors,
      cpuRatio: ratio,
      cpuTimes,
      network: netdev.status === 'fulfilled' ? parseNetDev(netdev.value) : [],
      disks: diskstats.status === 'fulfilled' ? parseDiskstats(diskstats.value) : [],
      filesystems,
    };
  }

  private prevOsCpu?: { busy: number; total: number };

  /** Busy ratio from os.cpus() times (platforms without /proc). */
  private osCpuRatio(): number | null {
    let busy = 0, total = 0;
    for (const c of os.cpus()) {
      const t = c.times;
      busy += t.user + t.nice + t.sys + t.irq;
      total += t.user + t.nice + t.sys + t.irq + t.idle;
    }
    const prev = this.prevOsCpu;
    this.prevOsCpu = { busy, total };
    const dt = total - (prev?.total ?? 0);
    return dt > 0 ? Math.min(1, Math.max(0, (busy - (prev?.busy ?? 0)) / dt)) : null;
  }
}
