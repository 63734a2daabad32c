// `node dist/bench/proxy.js [--gib N] [--runs N]`: throughput of the agent's proxies against a
// direct connection to the same local sink, in one run. Starts its own outpostd (child process,
// loopback ports below 32768, proxies on, the sink allowed with proxy.allow_cidrs) and a sink
// process; the client is this process. Each transfer moves N GiB (default 1) download and
// upload over raw TCP (direct, HTTP CONNECT, SOCKS5), plus a curl download the same three ways.
// Prints MiB/s (median of the runs) and the ratio to direct (target ≥ 0.8), twice: with every
// process sharing all CPUs, and pinned (outpostd alone on CPU 0; sink, client and curl on CPU 1),
// which shows whether the proxy keeps up when it does not compete with the endpoints for CPU.
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './lib/net';
import { cleanupAll, DAEMON_NODE_FLAGS, installCleanupHandlers, start, tempDir } from './lib/procs';

const HOST = '127.0.0.1';
const MAIN = path.resolve(__dirname, '..', 'daemon', 'main.js');
const CHUNK = Buffer.alloc(1 << 20, 0x61);
const MiB = 1 << 20;

// ---- the sink (a child process): raw TCP on one port, HTTP on another ----
// Raw protocol: the client sends 'D' or 'U' and 8 bytes of length. D: the sink sends that many
// bytes and ends. U: the sink reads that many bytes, then answers 'k' and ends.
function sinkMain(): void {
  const raw = net.createServer({ noDelay: true }, (s) => {
    s.on('error', () => s.destroy());
    let head = Buffer.alloc(0);
    const onHead = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      if (head.length < 9) return;
      s.off('data', onHead);
      const mode = String.fromCharCode(head[0]);
      const n = Number(head.readBigUInt64BE(1));
      const rest = head.length - 9;
      if (mode === 'D') send(s, n);
      else receive(s, n, rest);
    };
    s.on('data', onHead);
  });
  const web = http.createServer((req, res) => {
    const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
    if (!m) { res.statusCode = 404; res.end(); return; }
    res.setHeader('content-length', m[1]);
    send(res, Number(m[1]));
  });
  raw.listen(0, HOST, () => web.listen(0, HOST, () => {
    process.stdout.write(`sink ready raw=${(raw.address() as net.AddressInfo).port} http=${(web.address() as net.AddressInfo).port}\n`);
  }));
}

function send(out: NodeJS.WritableStream & { writableLength?: number }, n: number): void {
  let left = n;
  const pump = () => {
    while (left > 0) {
      const c = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= c.length;
      if (!out.write(c)) { out.once('drain', pump); return; }
    }
    out.end();
  };
  pump();
}

function receive(s: net.Socket, n: number, already: number): void {
  let got = already;
  const check = () => { if (got >= n) { s.off('data', onData); s.end('k'); } };
  const onData = (d: Buffer) => { got += d.length; check(); };
  s.on('data', onData);
  check();
}

// ---- the client ----
type Mode = 'direct' | 'connect' | 'socks5';
interface Target { sinkRaw: number; sinkHttp: number; httpProxy: number; socks5: number; password: string }

function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port, noDelay: true });
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

function readExactly(s: net.Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= n) {
        s.off('data', onData); s.off('error', reject);
        s.pause();
        if (buf.length > n) s.unshift(buf.subarray(n));
        resolve(buf.subarray(0, n));
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.resume(); // a 'data' listener alone does not restart a paused socket
  });
}

async function open(mode: Mode, t: Target): Promise<net.Socket> {
  if (mode === 'direct') return connectTcp(t.sinkRaw);
  if (mode === 'connect') {
    const s = await connectTcp(t.httpProxy);
    const auth = Buffer.from(`_:${t.password}`).toString('base64');
    s.write(`CONNECT ${HOST}:${t.sinkRaw} HTTP/1.1\r\nHost: ${HOST}:${t.sinkRaw}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
    const expected = 'HTTP/1.1 200 Connection Established\r\n\r\n';
    const head = (await readExactly(s, expected.length)).toString('latin1');
    if (head !== expected) throw new Error(`CONNECT failed: ${head}`);
    return s;
  }
  const s = await connectTcp(t.socks5);
  s.write(Buffer.from([5, 1, 2]));
  if (!(await readExactly(s, 2)).equals(Buffer.from([5, 2]))) throw new Error('socks5: method refused');
  s.write(Buffer.concat([Buffer.from([1, 1]), Buffer.from('_'), Buffer.from([t.password.length]), Buffer.from(t.password)]));
  if ((await readExactly(s, 2))[1] !== 0) throw new Error('socks5: auth failed');
  s.write(Buffer.from([5, 1, 0, 1, 127, 0, 0, 1, t.sinkRaw >> 8, t.sinkRaw & 255]));
  const rep = await readExactly(s, 10);
  if (rep[1] !== 0) throw new Error(`socks5: reply ${rep[1]}`);
  return s;
}

/** One transfer of n bytes; MiB/s from the request to the last byte (download) or the ack (upload). */
async function transfer(mode: Mode, dir: 'down' | 'up', n: number, t: Target): Promise<number> {
  const s = await open(mode, t);
  const header = Buffer.alloc(9);
  header[0] = dir === 'down' ? 0x44 : 0x55;
  header.writeBigUInt64BE(BigInt(n), 1);
  const t0 = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    s.on('error', reject);
    s.write(header);
    if (dir === 'down') {
      let got = 0;
      s.on('data', (d: Buffer) => { got += d.length; });
      s.on('end', () => (got === n ? resolve() : reject(new Error(`${mode} down: got ${got} of ${n} bytes`))));
      s.resume();
    } else {
      s.on('data', (d: Buffer) => { if (d.includes(0x6b)) resolve(); });
      s.resume();
      let left = n;
      const pump = () => {
        while (left > 0) {
          const c = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
          left -= c.length;
          if (!s.write(c)) { s.once('drain', pump); return; }
        }
      };
      pump();
    }
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  s.destroy();
  return n / MiB / secs;
}

let curlPrefix: string[] = [];

function curlDownload(mode: Mode, n: number, t: Target): Promise<number> {
  const proxy = mode === 'connect' ? ['-p', '-x', `http://_:${t.password}@${HOST}:${t.httpProxy}`]
    : mode === 'socks5' ? ['--socks5', `${HOST}:${t.socks5}`, '--proxy-user', `_:${t.password}`] : [];
  return new Promise((resolve, reject) => {
    const argv = [...curlPrefix, 'curl', '-sS', '--noproxy', '', '-o', '/dev/null', '-w', '%{speed_download} %{size_download}', ...proxy, `http://${HOST}:${t.sinkHttp}/bytes/${n}`];
    execFile(argv[0], argv.slice(1), { env: { PATH: process.env.PATH }, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) { reject(new Error(`curl ${mode}: ${stderr || err.message}`)); return; }
      const [speed, size] = stdout.trim().split(' ').map(Number);
      if (size !== n) { reject(new Error(`curl ${mode}: ${size} of ${n} bytes`)); return; }
      resolve(speed / MiB);
    });
  });
}

/** A port below 32768 (outside Linux's ephemeral range) that is free right now. */
async function lowPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const p = 20000 + crypto.randomInt(12000);
    if (taken.has(p)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, HOST, () => s.close(() => resolve(true)));
    });
    if (free) { taken.add(p); return p; }
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const opt = (name: string, def: number) => { const i = argv.indexOf(name); return i >= 0 ? Number(argv[i + 1]) : def; };
  const gib = opt('--gib', 1);
  const runs = opt('--runs', 3);
  const n = Math.round(gib * 1024 * MiB);
  installCleanupHandlers();

  const sink = start('sink', process.execPath, [__filename, '--sink']);
  const m = await sink.waitFor(/sink ready raw=(\d+) http=(\d+)/, 10_000);
  const taken = new Set<number>();
  const [api, httpProxy, socks5] = [await lowPort(taken), await lowPort(taken), await lowPort(taken)];
  const password = crypto.randomBytes(24).toString('base64url');
  const dataDir = tempDir('proxy');
  const daemon = start('outpostd', process.execPath, [...DAEMON_NODE_FLAGS, MAIN, '--data-dir', dataDir, '--api-port', String(api), '--ssh-enabled', 'false', '--proxy-enabled', 'true', '--http-proxy-port', String(httpProxy), '--socks5-port', String(socks5), '--log-level', 'warn'], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PROXY_PASSWORD: password, OUTPOST_PROXY_ALLOW_CIDRS: `${HOST}/32` },
  });
  await waitListening(httpProxy, socks5, daemon);
  const target: Target = { sinkRaw: Number(m[1]), sinkHttp: Number(m[2]), httpProxy, socks5, password };

  const rows: Array<{ phase: string; what: string; mode: Mode; mibs: number[] }> = [];
  const modes: Mode[] = ['direct', 'connect', 'socks5'];
  const cases: Array<{ what: string; run: (mode: Mode) => Promise<number> }> = [
    { what: 'download (raw TCP)', run: (mode) => transfer(mode, 'down', n, target) },
    { what: 'upload (raw TCP)', run: (mode) => transfer(mode, 'up', n, target) },
    { what: 'download (curl)', run: (mode) => curlDownload(mode, n, target) },
  ];
  const all = os.cpus().length > 1 ? `0-${os.cpus().length - 1}` : '0';
  const pin = (pid: number, cpus: string) => execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  const phases = [
    { phase: 'shared CPUs', setup: () => { for (const pid of [daemon.pid, sink.pid, process.pid]) pin(pid, all); curlPrefix = []; } },
    { phase: 'pinned', setup: () => { pin(daemon.pid, '0'); pin(sink.pid, '1'); pin(process.pid, '1'); curlPrefix = ['taskset', '-c', '1']; } },
  ].filter((p) => p.phase !== 'pinned' || (os.cpus().length > 1 && !argv.includes('--no-pin')));
  try {
    for (const ph of phases) {
      ph.setup();
      for (const c of cases) {
        const byMode = new Map<Mode, number[]>(modes.map((mo) => [mo, []]));
        await transfer('direct', 'down', 64 * MiB, target); // warm-up
        for (let r = 0; r < runs; r++) {
          for (const mode of modes) {
            const v = await c.run(mode);
            if (process.env.BENCH_VERBOSE) process.stderr.write(`${ph.phase} ${c.what} ${mode}: ${v.toFixed(0)} MiB/s\n`);
            byMode.get(mode)!.push(v);
          }
        }
        for (const mode of modes) rows.push({ phase: ph.phase, what: c.what, mode, mibs: byMode.get(mode)! });
      }
    }
  } finally {
    await daemon.stop();
    await sink.stop();
    await cleanupAll();
  }

  const cpus = os.cpus();
  const lines = [
    `proxy throughput, ${gib} GiB per transfer, median of ${runs} runs; ${cpus.length} × ${cpus[0]?.model ?? 'cpu'}; node ${process.version}; ${new Date().toISOString()}`,
    '',
    '| CPUs | transfer | path | MiB/s (median) | runs | ratio to direct | target ≥ 0.8 |',
    '|---|---|---|---|---|---|---|',
  ];
  const results: Record<string, unknown>[] = [];
  for (const row of rows) {
    const med = median(row.mibs);
    const direct = median(rows.find((r) => r.phase === row.phase && r.what === row.what && r.mode === 'direct')!.mibs);
    const ratio = med / direct;
    const mark = row.mode === 'direct' ? '' : ratio >= 0.8 ? '✔' : '✘';
    lines.push(`| ${row.phase} | ${row.what} | ${row.mode} | ${med.toFixed(0)} | ${row.mibs.map((x) => x.toFixed(0)).join(', ')} | ${row.mode === 'direct' ? '1.00' : ratio.toFixed(2)} | ${mark} |`);
    results.push({ cpus: row.phase, transfer: row.what, path: row.mode, mib_per_s: Math.round(med), runs: row.mibs.map(Math.round), ratio_to_direct: Number(ratio.toFixed(3)) });
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  const outDir = path.resolve(__dirname, '..', '..', 'bench', 'out');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'proxy.json'), JSON.stringify({ date: new Date().toISOString(), gib, runs, results }, null, 2));
}

async function waitListening(httpPort: number, socksPort: number, daemon: ReturnType<typeof start>): Promise<void> {
  const end = Date.now() + 20_000;
  for (;;) {
    const ok = await Promise.all([httpPort, socksPort].map((p) => connectTcp(p).then((s) => { s.destroy(); return true; }, () => false)));
    if (ok.every(Boolean)) return;
    if (!daemon.alive()) throw new Error(`outpostd exited:\n${daemon.out()}\n${daemon.err()}`);
    if (Date.now() > end) throw new Error('outpostd proxies not listening after 20 s');
    await sleep(100);
  }
}

if (process.argv.includes('--sink')) sinkMain();
else main().catch(async (err) => {
  process.stderr.write(`bench proxy: ${(err as Error).stack ?? err}\n`);
  await cleanupAll();
  process.exit(1);
});
