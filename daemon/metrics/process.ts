// Process-level families shared by both roles' /metrics: process_* (the names every Prometheus
// client library uses), nodejs_* heap and event-loop lag, and outpost_build_info. What needs a
// system call that could be slow (counting /proc/self/fd, reading limits) or a window (event-loop
// delay) is collected in the background every WINDOW_MS; a scrape only reads memory.
import { promises as fsp } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { PromText } from './text';

/** The event-loop lag figures cover this window (and fds are recounted this often). */
export const WINDOW_MS = 10_000;

interface Lag { min: number; max: number; mean: number; stddev: number; p50: number; p90: number; p99: number }

const NS = 1e-9;

function lagOf(h: IntervalHistogram): Lag | undefined {
  if (h.count === 0) return undefined;
  return { min: h.min * NS, max: h.max * NS, mean: h.mean * NS, stddev: h.stddev * NS, p50: h.percentile(50) * NS, p90: h.percentile(90) * NS, p99: h.percentile(99) * NS };
}

class ProcessCollector {
  private users = 0;
  private timer?: NodeJS.Timeout;
  private histogram?: IntervalHistogram;
  private lastLag?: Lag;
  /** Before the first window closes: the running figures, recomputed at most once a second (stddev walks the whole histogram). */
  private early?: { at: number; lag?: Lag };
  private fds?: number;
  private maxFds?: number;
  private sampling = false;
  /** Seconds since the epoch when this process started (fixed). */
  readonly startTime = Math.round((Date.now() / 1000 - process.uptime()) * 1000) / 1000;

  /** A daemon part that serves /metrics starts the background collection; release() stops it with the last user. */
  acquire(): void {
    if (this.users++ > 0) return;
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.timer = setInterval(() => this.sample(), WINDOW_MS);
    this.timer.unref();
    this.sample();
  }

  release(): void {
    if (this.users === 0 || --this.users > 0) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.histogram?.disable();
    this.histogram = undefined;
    this.lastLag = undefined;
    this.early = undefined;
  }

  private sample(): void {
    const h = this.histogram;
    if (h) {
      this.lastLag = lagOf(h) ?? this.lastLag;
      h.reset();
    }
    if (this.sampling || process.platform !== 'linux') return;
    this.sampling = true;
    Promise.all([
      fsp.readdir('/proc/self/fd').then((l) => { this.fds = l.length; }, () => undefined),
      this.maxFds === undefined
        ? fsp.readFile('/proc/self/limits', 'utf8').then((t) => {
          const m = /^Max open files\s+(\d+|unlimited)/m.exec(t);
          if (m && m[1] !== 'unlimited') this.maxFds = Number(m[1]);
        }, () => undefined)
        : undefined,
    ]).finally(() => { this.sampling = false; });
  }

  render(p: PromText): void {
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    p.counter('process_cpu_user_seconds_total', 'user CPU time spent by the process (all threads), seconds', [[undefined, cpu.user / 1e6]]);
    p.counter('process_cpu_system_seconds_total', 'system CPU time spent by the process (all threads), seconds', [[undefined, cpu.system / 1e6]]);
    p.counter('process_cpu_seconds_total', 'user and system CPU time spent by the process, seconds', [[undefined, (cpu.user + cpu.system) / 1e6]]);
    p.gauge('process_start_time_seconds', 'start time of the process since the Unix epoch, seconds', [[undefined, this.startTime]]);
    p.gauge('process_resident_memory_bytes', 'resident set size of the whole process (all threads), bytes', [[undefined, mem.rss]]);
    p.gauge('process_open_fds', `open file descriptors (recounted every ${WINDOW_MS / 1000} s)`, [[undefined, this.fds]]);
    p.gauge('process_max_fds', 'limit of open file descriptors', [[undefined, this.maxFds]]);
    p.gauge('nodejs_heap_size_used_bytes', 'V8 heap in use on the main thread, bytes', [[undefined, mem.heapUsed]]);
    p.gauge('nodejs_heap_size_total_bytes', 'V8 heap allocated on the main thread, bytes', [[undefined, mem.heapTotal]]);
    p.gauge('nodejs_external_memory_bytes', 'C++ memory bound to JS objects (includes array buffers), bytes', [[undefined, mem.external]]);
    p.gauge('nodejs_array_buffers_bytes', 'memory of Buffers and ArrayBuffers, bytes', [[undefined, mem.arrayBuffers]]);
    let lag = this.lastLag;
    if (!lag && this.histogram) {
      if (!this.early || Date.now() - this.early.at > 1000) this.early = { at: Date.now(), lag: lagOf(this.histogram) };
      lag = this.early.lag;
    }
    if (lag) {
      const w = `over the last ${WINDOW_MS / 1000} s window (perf_hooks.monitorEventLoopDelay, 10 ms resolution), seconds`;
      p.gauge('nodejs_eventloop_lag_min_seconds', `smallest event-loop delay ${w}`, [[undefined, lag.min]]);
      p.gauge('nodejs_eventloop_lag_max_seconds', `largest event-loop delay ${w}`, [[undefined, lag.max]]);
      p.gauge('nodejs_eventloop_lag_mean_seconds', `mean event-loop delay ${w}`, [[undefined, lag.mean]]);
      p.gauge('nodejs_eventloop_lag_stddev_seconds', `standard deviation of the event-loop delay ${w}`, [[undefined, lag.stddev]]);
      p.gauge('nodejs_eventloop_lag_p50_seconds', `median event-loop delay ${w}`, [[undefined, lag.p50]]);
      p.gauge('nodejs_eventloop_lag_p90_seconds', `90th percentile of the event-loop delay ${w}`, [[undefined, lag.p90]]);
      p.gauge('nodejs_eventloop_lag_p99_seconds', `99th percentile of the event-loop delay ${w}`, [[undefined, lag.p99]]);
    }
  }
}

/** One per process: both roles' /metrics read the same process figures. */
export const processMetrics = new ProcessCollector();

export interface BuildInfo { version: string; role: 'agent' | 'admin'; [label: string]: string }

/** `outpost_build_info{version, node_version, role, …} 1`. */
export function renderBuildInfo(p: PromText, info: BuildInfo): void {
  p.gauge('outpost_build_info', 'build and runtime of this daemon (always 1; the labels carry the information)', [[
    { ...info, node_version: process.version, platform: process.platform, arch: process.arch }, 1,
  ]]);
}
