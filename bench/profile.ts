// `--only profile`: runs the daemon under `node --cpu-prof` while wrk drives GET, then PUT,
// and summarizes where the CPU went (self time by function and by area) per thread.
import fs from 'node:fs';
import path from 'node:path';
import type { BenchConfig } from './lib/config';
import { tempDir } from './lib/procs';
import { prefillDaemon, startDaemon } from './daemon';
import { wrkOnce, type HttpTarget, type Log } from './load';
import type { Workload } from './wrk-scripts';

interface CpuNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface CpuProfile { nodes: CpuNode[]; samples: number[]; timeDeltas: number[] }

function area(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native/builtin)';
  if (url.includes('/node_modules/lmdb/')) return 'lmdb-js';
  if (url.includes('uws-js-unofficial')) return 'uWS (js)';
  if (url.includes('/node_modules/piscina/')) return 'piscina';
  if (url.includes('/node_modules/pino')) return 'pino';
  if (url.includes('/node_modules/ajv')) return 'ajv';
  if (url.includes('/node_modules/')) return 'other deps';
  if (url.startsWith('node:')) return 'node core';
  const m = /\/dist\/([^/]+\/[^/]+)/.exec(url);
  return m ? `outpost ${m[1].replace(/\.js$/, '')}` : url;
}

export function summarizeProfile(file: string, top = 15): string {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + (p.timeDeltas[i + 1] ?? 0));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const fns = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const short = f.url ? f.url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^file:\/\//, '') : '';
    const key = `${f.functionName || '(anonymous)'}${short ? ` ${short}:${f.lineNumber + 1}` : ''}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
    const a = area(f.url, f.functionName);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  const fmt = (m: Map<string, number>, k: number): string[] => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => `  ${(100 * us / total).toFixed(1).padStart(5)}%  ${name}`);
  return [`${path.basename(file)}: ${(total / 1e6).toFixed(1)} s sampled`, ' by area:', ...fmt(areas, 10), ' top functions (self time):', ...fmt(fns, top)].join('\n');
}

export async function profileSection(cfg: BenchConfig, target: Omit<HttpTarget, 'port'>, valueB64: string, outDir: string, log: Log): Promise<string> {
  const report: string[] = [];
  for (const w of ['get', 'put'] as Workload[]) {
    const profDir = tempDir(`cpuprof-${w}`);
    const d = await startDaemon(cfg, [], ['--cpu-prof', '--cpu-prof-dir', profDir]);
    try {
      if (w === 'get') await prefillDaemon(d.port, cfg.keyCount, target.shape.putBody, valueB64);
      const r = await wrkOnce(cfg, { ...target, port: d.port }, w, cfg.duration);
      log(`  profiled ${w}: ${Math.round(r.round.rps)} req/s, p99 ${r.round.p99} ms (under --cpu-prof)`);
      report.push(`## ${w.toUpperCase()} under wrk: ${Math.round(r.round.rps)} req/s (profiler on)`);
    } finally {
      await d.stop();
    }
    const files = fs.readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')).sort();
    for (const f of files) {
      fs.copyFileSync(path.join(profDir, f), path.join(outDir, `${w}-${f}`));
      // CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile: tid 0 is the main thread.
      const tid = f.split('.')[4];
      report.push(`### thread ${tid === '0' ? '0 (main)' : `${tid} (worker)`}`, summarizeProfile(path.join(profDir, f)));
    }
  }
  const text = report.join('\n');
  fs.writeFileSync(path.join(outDir, 'profile.txt'), text + '\n');
  return text;
}
