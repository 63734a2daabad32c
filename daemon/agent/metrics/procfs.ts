// Parsers of the Linux /proc files the host metrics read directly (what node_exporter reads), so
// an operator gets network, disk I/O and filesystem figures without running node_exporter.
// Pure functions over the file text: the reading happens in host.ts, in the background.

/** CPU time of all cores by mode, seconds (the `cpu` line of /proc/stat; USER_HZ is 100 on Linux). */
export interface CpuTimes { user: number; nice: number; system: number; idle: number; iowait: number; irq: number; softirq: number; steal: number }
export const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;
const USER_HZ = 100;

export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  if (v.length < 4 || v.some((n) => !Number.isFinite(n))) return undefined;
  const at = (i: number) => (v[i] ?? 0) / USER_HZ;
  return { user: at(0), nice: at(1), system: at(2), idle: at(3), iowait: at(4), irq: at(5), softirq: at(6), steal: at(7) };
}

/** Busy share of the CPU time between two readings (or since boot without a previous one), 0..1. */
export function busyRatio(now: CpuTimes, prev?: CpuTimes): number | null {
  const total = (c: CpuTimes) => CPU_MODES.reduce((a, m) => a + c[m], 0);
  const idle = (c: CpuTimes) => c.idle + c.iowait;
  const dt = total(now) - (prev ? total(prev) : 0);
  if (!(dt > 0)) return null;
  const busy = dt - (idle(now) - (prev ? idle(prev) : 0));
  return Math.min(1, Math.max(0, busy / dt));
}

/** MemTotal and MemAvailable of /proc/meminfo, bytes. */
export function parseMeminfo(text: string): { total: number; available: number } | undefined {
  const kb = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kb('MemTotal');
  const available = kb('MemAvailable') ?? kb('MemFree');
  return total && available !== undefined ? { total, available } : undefined;
}

export interface NetDev {
  device: string;
  receive_bytes: number; receive_packets: number; receive_errors: number; receive_drop: number;
  transmit_bytes: number; transmit_packets: number; transmit_errors: number; transmit_drop: number;
}

/** Per-interface counters of /proc/net/dev (two header lines, then `name: 16 numbers`). */
export function parseNetDev(text: string): NetDev[] {
  const out: NetDev[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const device = line.slice(0, colon).trim();
    const v = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (!device || v.length < 16 || v.some((n) => !Number.isFinite(n))) continue;
    out.push({
      device,
      receive_bytes: v[0], receive_packets: v[1], receive_errors: v[2], receive_drop: v[3],
      transmit_bytes: v[8], transmit_packets: v[9], transmit_errors: v[10], transmit_drop: v[11],
    });
  }
  return out;
}

export interface DiskStat {
  device: string;
  reads_completed: number; read_bytes: number; writes_completed: number; written_bytes: number;
  io_time_seconds: number;
}

/** Whole disks only, like node_exporter's default: no partitions, loop, ram or floppy devices. */
const SKIP_DISK = /^(z?ram|loop|fd|(h|s|v|xv)d[a-z]+|nvme\d+n\d+p|mmcblk\d+p)\d+$/;

/** /proc/diskstats: reads/writes completed, sectors (always 512 bytes there) read/written, ms doing I/O. */
export function parseDiskstats(text: string): DiskStat[] {
  const out: DiskStat[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 14) continue;
    const device = f[2];
    if (SKIP_DISK.test(device)) continue;
    const n = (i: number) => Number(f[i]);
    out.push({ device, reads_completed: n(3), read_bytes: n(5) * 512, writes_completed: n(7), written_bytes: n(9) * 512, io_time_seconds: n(12) / 1000 });
  }
  return out.filter((d) => [d.reads_completed, d.read_bytes, d.writes_completed, d.written_bytes, d.io_time_seconds].every(Number.isFinite));
}

export interface Mount { mountpoint: string; fstype: string; device: string }

/** Kernel-internal filesystems with no space to report (node_exporter's default exclusions). */
const PSEUDO_FS = new Set(['autofs', 'binfmt_misc', 'bpf', 'cgroup', 'cgroup2', 'configfs', 'debugfs', 'devpts', 'devtmpfs', 'efivarfs', 'fusectl', 'hugetlbfs', 'mqueue', 'nsfs', 'proc', 'procfs', 'pstore', 'rpc_pipefs', 'securityfs', 'selinuxfs', 'sysfs', 'tracefs']);
/** Mount points of the kernel's own trees and container layers (node_exporter's default exclusions). */
const SKIP_MOUNT = /^\/(dev|proc|sys|run\/credentials\/.+|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/;

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/**
 * Mounted filesystems of /proc/self/mountinfo (`id parent major:minor root mountpoint options
 * [optional fields] - fstype source superoptions`), pseudo filesystems left out; a mount point
 * mounted over keeps the last (visible) mount.
 */
export function parseMountinfo(text: string): Mount[] {
  const byPoint = new Map<string, Mount>();
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    if (left.length < 5 || right.length < 2) continue;
    const mountpoint = unescapeMount(left[4]);
    const fstype = right[0];
    if (PSEUDO_FS.has(fstype) || SKIP_MOUNT.test(mountpoint)) continue;
    byPoint.delete(mountpoint);
    byPoint.set(mountpoint, { mountpoint, fstype, device: unescapeMount(right[1]) });
  }
  return [...byPoint.values()];
}
