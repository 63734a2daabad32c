// `node dist/bench/ws-batch.js`: batched KV GET / durable PUT, queue round trips (one op per
// frame, and batched) and stream append/read over the binary WebSocket batch protocol, against the HTTP KV GET rate (wrk) and, when redis-benchmark exists, Redis GET
// without pipelining, all in one run. Server on CPU 0, load on CPU 1. Writes bench/out/ws-batch.json.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadBenchConfig } from './lib/config';
import { pinned, run } from './lib/procs';
import { startDaemon } from './daemon';
import { startRedis } from './redis';

async function main(): Promise<void> {
  const cfg = loadBenchConfig(process.argv.slice(2).filter((a) => a !== '--write-results'));
  const seconds = cfg.quick ? 2 : 8;
  const d = await startDaemon(cfg);
  const results: Record<string, unknown> = { date: new Date().toISOString(), seconds, batch: 1000, inflight: 4, keys: cfg.keyCount, valueBytes: cfg.valueBytes };
  try {
    const spec = { url: `http://127.0.0.1:${d.port}`, keys: cfg.keyCount, valueBytes: cfg.valueBytes, seconds, batch: 1000, inflight: 4, prefill: true };
    const [cmd, args] = pinned(cfg.clientCpu, process.execPath, [path.join(__dirname, 'ws-batch-runner.js'), JSON.stringify(spec)]);
    const r = await run('ws-batch', cmd, args, (seconds * 2 + 60) * 1000);
    if (r.code !== 0) throw new Error(`ws-batch runner failed: ${r.stderr}`);
    Object.assign(results, JSON.parse(r.stdout.trim().split('\n').pop()!));
    // Queue round trips and stream throughput over the same protocol.
    for (const [mode, extra] of [['queue', { batch: 100, workers: cfg.connections }], ['stream', { batch: 100 }]] as const) {
      const s2 = { ...spec, mode, prefill: false, valueBytes: 100, ...extra };
      const [qc, qa] = pinned(cfg.clientCpu, process.execPath, [path.join(__dirname, 'ws-batch-runner.js'), JSON.stringify(s2)]);
      const q = await run(`ws-batch ${mode}`, qc, qa, (seconds * 4 + 60) * 1000);
      if (q.code !== 0) throw new Error(`ws-batch runner (${mode}) failed: ${q.stderr}`);
      Object.assign(results, JSON.parse(q.stdout.trim().split('\n').pop()!));
    }
    const lua = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-wsb-')), 'get.lua');
    fs.writeFileSync(lua, `math.randomseed(7)\nrequest = function() return wrk.format("GET", "/api/v1/kv/bench/k" .. math.random(0, ${cfg.keyCount - 1})) end\n`);
    const [wcmd, wargs] = pinned(cfg.clientCpu, 'wrk', ['-t1', `-c${cfg.connections}`, `-d${seconds}s`, '-s', lua, `http://127.0.0.1:${d.port}/`]);
    const w = await run('wrk', wcmd, wargs, (seconds + 30) * 1000);
    results.http_get_per_sec = Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(w.stdout)?.[1] ?? NaN));
  } finally {
    await d.stop();
  }
  try {
    const redis = await startRedis(cfg, 'redis-nopersist');
    try {
      const [rcmd, rargs] = pinned(cfg.clientCpu, 'redis-benchmark', ['-p', String(redis.port), '-c', String(cfg.connections), '-n', String(seconds * 80000), '-d', String(cfg.valueBytes), '-P', '1', '-r', String(cfg.keyCount), '-t', 'get', '--csv']);
      const rb = await run('redis-benchmark', rcmd, rargs, (seconds * 4 + 60) * 1000);
      results.redis_get_per_sec = Math.round(Number(/"GET","([\d.]+)"/.exec(rb.stdout)?.[1] ?? NaN));
    } finally {
      await redis.stop();
    }
  } catch (e) {
    results.redis_error = (e as Error).message;
  }
  const get = results.get_ops_per_sec as number;
  results.ratio_vs_http_get = Number((get / (results.http_get_per_sec as number)).toFixed(2));
  results.ratio_vs_redis_get = Number((get / (results.redis_get_per_sec as number)).toFixed(2));
  fs.mkdirSync(path.join(__dirname, '..', '..', 'bench', 'out'), { recursive: true });
  fs.writeFileSync(path.join(__dirname, '..', '..', 'bench', 'out', 'ws-batch.json'), JSON.stringify(results, null, 2));
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
}

main().catch((e) => { process.stderr.write(String(e?.stack ?? e) + '\n'); process.exit(1); });
