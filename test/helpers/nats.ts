// A throw-away nats-server (Debian package `nats-server`) with JetStream on a temp store dir,
// on loopback. The port is the OS's: -p -1 on the first start (read back from the log), or one
// reserved by listening on port 0 when the test needs the URL before the server runs (NATS
// down at start). stop()/start() keep the port and the store (a restart, with the stream);
// pause()/resume() freeze the process (SIGSTOP/SIGCONT): connections stay open, nothing answers.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { Test } from 'tap';
import { tempDir } from './daemon';

export interface NatsServer {
  url: string;
  port: number;
  storeDir: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  pause(): void;
  resume(): void;
}

export const NATS_SERVER = process.env.NATS_SERVER_BIN ?? 'nats-server';

/** A loopback port the OS picked (listened on once, then released). */
export function reservePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Creates a server; `running: false` leaves it stopped (call start()) with its port already chosen. */
export async function natsServer(t: Test, opts: { running?: boolean } = {}): Promise<NatsServer> {
  const storeDir = tempDir(t, 'outpost-nats-');
  let port = opts.running === false ? await reservePort() : -1;
  let proc: ChildProcess | undefined;
  let exited: Promise<void> | undefined;

  const start = (timeoutMs = 15_000) => new Promise<void>((resolve, reject) => {
    if (proc) { resolve(); return; }
    const p = spawn(NATS_SERVER, ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    exited = new Promise((r) => p.on('exit', () => r()));
    let log = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`nats-server did not start in ${timeoutMs} ms:\n${log}`)); }, timeoutMs);
    p.on('error', (err) => { clearTimeout(timer); proc = undefined; reject(new Error(`cannot run ${NATS_SERVER} (apt-get install nats-server): ${err.message}`)); });
    p.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      const m = log.match(/Listening for client connections on 127\.0\.0\.1:(\d+)/);
      if (m && port === -1) port = Number(m[1]);
      if (/Server is ready/.test(log)) { clearTimeout(timer); resolve(); }
    });
    void exited.then(() => { clearTimeout(timer); if (proc === p) proc = undefined; reject(new Error(`nats-server exited:\n${log}`)); });
  });

  const stop = async () => {
    const p = proc;
    if (!p) return;
    p.kill('SIGCONT');
    p.kill('SIGKILL');
    await exited;
    proc = undefined;
  };
  t.teardown(stop);
  if (opts.running !== false) await start();
  return {
    get url() { return `nats://127.0.0.1:${port}`; },
    get port() { return port; },
    storeDir,
    start: () => start(),
    stop,
    pause: () => { proc?.kill('SIGSTOP'); },
    resume: () => { proc?.kill('SIGCONT'); },
  };
}
