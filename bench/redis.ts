// Redis 7 anchors: one instance without persistence, one with appendfsync always (every
// acknowledged write fsynced, the durability the daemon's PUT promises), loaded by
// redis-benchmark. redis-benchmark counts requests, not seconds: a calibration run (also the
// warmup) sets -n so that a round lasts about BENCH_DURATION.
import net from 'node:net';
import type { BenchConfig } from './lib/config';
import { freePort, HOST, waitRedis } from './lib/net';
import { pinned, removeTempDir, run, start, tempDir, type Proc } from './lib/procs';
import { cpuSampler } from './lib/sysinfo';
import { commandLine, fmtMs, summarize, type Log, type Round, type Series } from './load';

export type RedisKind = 'redis-nopersist' | 'redis-aof-always';

export interface RunningRedis { kind: RedisKind; proc: Proc; port: number; command: string; stop(): Promise<void> }

const PERSISTENCE: Record<RedisKind, string[]> = {
  'redis-nopersist': ['--save', '', '--appendonly', 'no'],
  'redis-aof-always': ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'],
};

/** `redis-server --version` must say 7.x; returns the version. */
export function checkRedisVersion(versionLine: string | undefined): string {
  const v = /v=(\d+\.\d+\.\d+)/.exec(versionLine ?? '')?.[1];
  if (!v) throw new Error(`cannot read the redis-server version from '${versionLine}'`);
  if (!v.startsWith('7.')) throw new Error(`redis-server ${v} found; the bench compares against Redis 7.x`);
  return v;
}

export async function startRedis(cfg: BenchConfig, kind: RedisKind): Promise<RunningRedis> {
  const dir = tempDir(kind);
  const port = await freePort();
  const args = ['--port', String(port), '--bind', HOST, '--protected-mode', 'yes', '--daemonize', 'no', '--dir', dir, '--loglevel', 'warning', ...PERSISTENCE[kind]];
  const [cmd, argv] = pinned(cfg.serverCpu, 'redis-server', args);
  const proc = start(kind, cmd, argv);
  const died = proc.exited.then(() => { throw new Error(`${kind} exited during startup:\n${proc.err()}${proc.out()}`); });
  died.catch(() => undefined);
  await Promise.race([waitRedis(port, 10_000), died]);
  const shown = argv.map((a) => (a === dir ? '$TMP' : a === String(port) ? '$PORT' : a));
  return {
    kind, proc, port,
    command: commandLine(cmd, shown),
    async stop() {
      await proc.stop(5000);
      removeTempDir(dir);
    },
  };
}

/** SETs key:000000000000 .. key:{n-1} (redis-benchmark's -r key names) in one pipeline. */
export function prefillRedis(port: number, keys: number, value: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    for (let i = 0; i < keys; i++) {
      const k = `key:${String(i).padStart(12, '0')}`;
      parts.push(Buffer.from(`*3\r\n$3\r\nSET\r\n$${k.length}\r\n${k}\r\n$${value.length}\r\n`), value, Buffer.from('\r\n'));
    }
    const s = net.connect(port, HOST);
    let oks = 0;
    let tail = '';
    const t = setTimeout(() => { s.destroy(); reject(new Error('redis prefill timed out')); }, 60_000);
    s.on('connect', () => s.write(Buffer.concat(parts)));
    s.on('data', (d) => {
      const str = tail + d.toString();
      const lines = str.split('\r\n');
      tail = lines.pop()!;
      for (const l of lines) {
        if (l === '+OK') oks++;
        else { clearTimeout(t); s.destroy(); reject(new Error(`redis prefill: ${l}`)); return; }
      }
      if (oks === keys) { clearTimeout(t); s.end(); resolve(); }
    });
    s.on('error', (e) => { clearTimeout(t); reject(e); });
  });
}

function parseCsv(out: string): Round {
  const lines = out.split(/\r?\n/).filter((l) => l.startsWith('"'));
  const head = lines.findIndex((l) => l.startsWith('"test"'));
  if (head < 0 || !lines[head + 1]) throw new Error(`cannot parse redis-benchmark output:\n${out}`);
  const cols = lines[head].split(',').map((c) => c.replace(/"/g, ''));
  const vals = lines[head + 1].split(',').map((c) => c.replace(/"/g, ''));
  const get = (k: string): number => Number(vals[cols.indexOf(k)]);
  return { rps: get('rps'), p50: get('p50_latency_ms'), p99: get('p99_latency_ms'), non2xx: 0, errors: 0, total: NaN };
}

export function benchmarkArgs(cfg: BenchConfig, port: number, test: 'get' | 'set', n: number): string[] {
  return ['-h', HOST, '-p', String(port), '-c', String(cfg.connections), '-n', String(n), '-d', String(cfg.valueBytes), '-P', '1', '-r', String(cfg.keyCount), '-t', test, '--csv'];
}

async function benchOnce(cfg: BenchConfig, port: number, test: 'get' | 'set', n: number, expectSeconds: number): Promise<{ round: Round; command: string }> {
  const [cmd, args] = pinned(cfg.clientCpu, 'redis-benchmark', benchmarkArgs(cfg, port, test, n));
  const r = await run('redis-benchmark', cmd, args, Math.max(60, expectSeconds * 4 + 30) * 1000);
  if (r.timedOut || r.code !== 0) throw new Error(`redis-benchmark failed (${r.timedOut ? 'timeout' : `exit ${r.code}`}): ${r.stderr}${r.stdout}`);
  const round = parseCsv(r.stdout);
  round.total = n;
  return { round, command: commandLine(cmd, args.map((a) => (a === String(port) ? '$PORT' : a))) };
}

export async function measureRedis(cfg: BenchConfig, kind: RedisKind, port: number, test: 'get' | 'set', log: Log, serverPid: number): Promise<Series> {
  // Calibration doubles as the warmup: about cfg.warmup seconds at a guessed 20k req/s floor.
  const cal = await benchOnce(cfg, port, test, Math.max(5000, Math.round(20_000 * cfg.warmup)), 60);
  const n = Math.max(10_000, Math.round(cal.round.rps * cfg.duration));
  const rounds: Round[] = [];
  let command = '';
  for (let i = 0; i < cfg.rounds; i++) {
    const cpu = cpuSampler(serverPid, cfg.serverCpu);
    const r = await benchOnce(cfg, port, test, n, cfg.duration);
    const share = cpu();
    r.round.serverCpu = share.server;
    r.round.otherCpu = share.other;
    command ||= r.command;
    rounds.push(r.round);
    log(`    redis-benchmark ${kind} ${test.toUpperCase()} round ${i + 1}/${cfg.rounds}: ${Math.round(r.round.rps)} req/s  p50 ${fmtMs(r.round.p50)}  p99 ${fmtMs(r.round.p99)}  server CPU ${share.server}%  other on CPU${cfg.serverCpu} ${share.other}%  (-n ${n})`);
  }
  return summarize(kind, test.toUpperCase(), 'redis-benchmark', rounds, command);
}
