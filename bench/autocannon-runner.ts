// One autocannon run in its own process (so it can be pinned with taskset, like wrk).
// argv[2] is a JSON RunnerSpec; prints one JSON line: the summary the orchestrator needs.
import type { Workload } from './wrk-scripts';

export interface RunnerSpec {
  url: string;
  connections: number;
  duration: number;
  workload: Workload;
  keys: number;
  putBody: string;
  mixedPutShare: number;
  namespace: string;
}

export interface RunnerResult {
  rps: number;
  p50: number;
  p99: number;
  total: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

interface AcRequest { method?: string; path?: string; body?: string; headers?: Record<string, string>; setupRequest?: (r: AcRequest) => AcRequest }
interface AcResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AcResult>;

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as RunnerSpec;
  const autocannon = require('autocannon') as Autocannon;
  const base = `/api/v1/kv/${spec.namespace}/k`;
  const rnd = (): number => Math.floor(Math.random() * spec.keys);
  const hdrs = { 'content-type': 'application/json' };
  const setupRequest = (r: AcRequest): AcRequest => {
    const put = spec.workload === 'put' || (spec.workload === 'mixed' && Math.random() < spec.mixedPutShare);
    r.path = base + rnd();
    if (put) { r.method = 'PUT'; r.body = spec.putBody; r.headers = hdrs; } else { r.method = 'GET'; r.body = undefined; r.headers = {}; }
    return r;
  };
  const res = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.duration,
    pipelining: 1,
    timeout: 10,
    requests: [{ setupRequest }],
  });
  const out: RunnerResult = {
    // requests.average is the mean of per-second samples; total/duration is the same within
    // a rounding error and also counts the last partial second.
    rps: res.requests.total / (res.duration || spec.duration),
    p50: res.latency.p50,
    p99: res.latency.p99,
    total: res.requests.total,
    non2xx: res.non2xx,
    errors: res.errors,
    timeouts: res.timeouts,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => { process.stderr.write(`autocannon-runner: ${(err as Error).stack}\n`); process.exit(1); });
