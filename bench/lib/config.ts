// Benchmark settings: command-line switches and environment, resolved once.
export const SECTIONS = ['anchors', 'daemon', 'ablation', 'redis', 'queue-stream-ts', 'profile'] as const;
export type Section = (typeof SECTIONS)[number];
/** Sections a plain `npm run bench` runs; `profile` only runs when asked for. */
export const DEFAULT_SECTIONS: Section[] = ['anchors', 'daemon', 'ablation', 'redis', 'queue-stream-ts'];

export interface BenchConfig {
  /** Seconds per measured round. */
  duration: number;
  rounds: number;
  /** Seconds of unmeasured load before the rounds of each server/workload. */
  warmup: number;
  connections: number;
  valueBytes: number;
  keyCount: number;
  quick: boolean;
  sections: Section[];
  /** CPU for servers and for load generators (taskset -c). */
  serverCpu: string;
  clientCpu: string;
  /** Parent of every temp dir (data dirs live here: pick the disk you want fsync measured on). */
  tmpRoot: string | undefined;
  /** Write bench/RESULTS.md even when only some sections ran. */
  writeResults: boolean;
  /** Extra outpostd flags for every daemon the bench starts (BENCH_DAEMON_ARGS), for experiments. */
  daemonArgs: string[];
}

function num(name: string, def: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got '${raw}'`);
  return n;
}

export const USAGE = `usage: node dist/bench/run.js [--only ${SECTIONS.join(',')}] [--write-results]
env: BENCH_DURATION=seconds per round (10)  BENCH_ROUNDS (3)  BENCH_WARMUP=seconds (2)
     BENCH_QUICK=1 (2 s rounds, 1 round: a smoke run)  BENCH_CONNECTIONS (50)  BENCH_KEYS (10000)
     BENCH_TS_POINTS=points written for the FloQL query in queue-stream-ts (1000000)
     BENCH_TMPDIR=parent of temp/data dirs (os.tmpdir())
     BENCH_DAEMON_ARGS='--partitions 1 --workers 1' extra outpostd flags for every daemon started`;

export function loadBenchConfig(argv: string[]): BenchConfig {
  const quick = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');
  let sections: Section[] = DEFAULT_SECTIONS;
  let writeResults = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') { process.stdout.write(USAGE + '\n'); process.exit(0); }
    if (a === '--write-results') { writeResults = true; continue; }
    if (a === '--only' || a.startsWith('--only=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (!v) throw new Error('--only needs a comma-separated list of sections');
      sections = v.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
        if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section '${s}'; known: ${SECTIONS.join(', ')}`);
        return s as Section;
      });
      continue;
    }
    throw new Error(`unknown argument '${a}'\n${USAGE}`);
  }
  return {
    duration: num('BENCH_DURATION', quick ? 2 : 10),
    rounds: Math.round(num('BENCH_ROUNDS', quick ? 1 : 3)),
    warmup: num('BENCH_WARMUP', quick ? 1 : 2),
    connections: Math.round(num('BENCH_CONNECTIONS', 50)),
    valueBytes: 100,
    keyCount: Math.round(num('BENCH_KEYS', 10_000)),
    quick,
    sections,
    serverCpu: '0',
    clientCpu: '1',
    tmpRoot: process.env.BENCH_TMPDIR || undefined,
    // Smoke runs and partial runs go to bench/out/ so they never clobber the real RESULTS.md.
    writeResults: writeResults || (!quick && sameSet(sections, DEFAULT_SECTIONS)),
    daemonArgs: (process.env.BENCH_DAEMON_ARGS ?? '').split(/\s+/).filter(Boolean),
  };
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length >= b.length && b.every((x) => a.includes(x));
}

/** The fixed 100-byte value every store writes and reads, and its base64 form. */
export function benchValue(bytes: number): { raw: Buffer; b64: string } {
  const raw = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) raw[i] = 97 + (i % 26);
  return { raw, b64: raw.toString('base64') };
}

export const NAMESPACE = 'bench';
export const keyName = (i: number): string => `k${i}`;
