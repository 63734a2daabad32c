// Starts one anchor server (bench/anchors/*.js) as a child process pinned to the server CPU.
import path from 'node:path';
import type { BenchConfig } from './lib/config';
import { freePort } from './lib/net';
import { pinned, removeTempDir, start, tempDir, type Proc } from './lib/procs';
import { commandLine } from './load';

export type AnchorName = 'uws-hello' | 'http-lmdb' | 'uws-lmdb-put';

export interface RunningAnchor { name: AnchorName; proc: Proc; port: number; command: string; stop(): Promise<void> }

export async function startAnchor(cfg: BenchConfig, name: AnchorName): Promise<RunningAnchor> {
  const script = path.join(__dirname, 'anchors', `${name}.js`);
  const dataDir = name === 'uws-hello' ? undefined : tempDir(name);
  const port = await freePort();
  const args = [script, '--port', String(port), '--keys', String(cfg.keyCount), '--value-bytes', String(cfg.valueBytes), ...(dataDir ? ['--data-dir', dataDir] : [])];
  const [cmd, argv] = pinned(cfg.serverCpu, process.execPath, args);
  const proc = start(name, cmd, argv, { env: { PATH: process.env.PATH, HOME: process.env.HOME } });
  const m = await proc.waitFor(/"msg":"anchor ready","port":(\d+)/, 60_000);
  const shown = argv.map((a) => (a === process.execPath ? 'node' : a === script ? path.relative(process.cwd(), script) : a === dataDir ? '$TMP/data' : a === String(port) ? '$PORT' : a));
  return {
    name, proc, port: Number(m[1]),
    command: commandLine(cmd === process.execPath ? 'node' : cmd, shown),
    async stop() {
      await proc.stop(5000);
      if (dataDir) removeTempDir(dataDir);
    },
  };
}
