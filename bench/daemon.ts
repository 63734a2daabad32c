// outpostd as the bench sees it: a child process pinned to the server CPU, on a fresh temp
// data dir and a free loopback port, prefilled over its own API.
import path from 'node:path';
import { keyName, NAMESPACE, type BenchConfig } from './lib/config';
import { freePort, parallel, request, sleep, waitHttp } from './lib/net';
import { DAEMON_NODE_FLAGS, pinned, removeTempDir, start, tempDir, type Proc } from './lib/procs';
import { processMemory } from './lib/sysinfo';
import { commandLine } from './load';

export const DAEMON_MAIN = path.resolve(__dirname, '..', 'daemon', 'main.js');
/** outpostd with a write mode only the ablation carries (`--ablation-write-mode inline|per-op`). */
export const ABLATION_MAIN = path.resolve(__dirname, 'ablation', 'outpostd.js');

export interface RunningDaemon {
  proc: Proc;
  port: number;
  dataDir: string;
  command: string;
  stop(): Promise<void>;
}

export async function startDaemon(cfg: BenchConfig, extraArgs: string[] = [], nodeArgs: string[] = [], main = DAEMON_MAIN): Promise<RunningDaemon> {
  const dataDir = tempDir('daemon');
  const port = await freePort();
  const args = [...DAEMON_NODE_FLAGS, ...nodeArgs, main, '--data-dir', dataDir, '--api-port', String(port), '--log-level', 'warn', '--ssh-enabled', 'false', '--proxy-enabled', 'false', ...cfg.daemonArgs, ...extraArgs];
  const [cmd, argv] = pinned(cfg.serverCpu, process.execPath, args);
  const proc = start('outpostd', cmd, argv, { env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  // At --log-level warn the "outpostd listening" line is not logged: poll /healthz instead,
  // which answers 200 only once startup is complete.
  const died = proc.exited.then(() => { throw new Error(`outpostd exited during startup:\n${proc.err()}${proc.out()}`); });
  died.catch(() => undefined);
  await Promise.race([waitHttp(port, '/healthz', 30_000), died]);
  const shown = argv.map((a) => (a === process.execPath ? 'node' : a === main ? path.relative(path.resolve(__dirname, '..', '..'), main) : a === dataDir ? '$TMP/data' : a === String(port) ? '$PORT' : a));
  return {
    proc, port, dataDir,
    command: commandLine(cmd === process.execPath ? 'node' : cmd, shown),
    async stop() {
      await proc.stop(10_000);
      removeTempDir(dataDir);
    },
  };
}

/** PUTs keys k0..k{n-1} with the bench value; checks one read back. */
export async function prefillDaemon(port: number, keys: number, putBody: string, valueB64: string): Promise<void> {
  await parallel(keys, 64, async (i) => {
    const r = await request(port, 'PUT', `/api/v1/kv/${NAMESPACE}/${keyName(i)}`, putBody);
    if (r.status !== 200) throw new Error(`prefill PUT ${keyName(i)} -> ${r.status} ${r.body}`);
  });
  const g = await request(port, 'GET', `/api/v1/kv/${NAMESPACE}/${keyName(keys - 1)}`);
  if (g.status !== 200 || !g.body.includes(valueB64)) throw new Error(`prefill check failed: ${g.status} ${g.body}`);
}

/** RSS after `idleMs` with no traffic. */
export async function idleRss(pid: number, idleMs: number): Promise<ReturnType<typeof processMemory>> {
  await sleep(idleMs);
  return processMemory(pid);
}
