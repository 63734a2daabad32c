// SSH benchmark (`npm run bench:ssh`): outpostd's SSH server against a second OpenSSH sshd that
// this script starts on a loopback port with its own sshd_config, host key and authorized_keys in
// a temp dir (the system sshd is never touched), measured with the same OpenSSH client in the
// same run: connection+auth+exec latency of sequential `ssh host true`, throughput of 500 MiB
// through `ssh host 'cat > /dev/null'` (default cipher and aes128-gcm), and how many concurrent
// sessions outpostd holds with its RSS at each step. Prints a table with ratios against the
// targets and writes bench/results/ssh.json. Installs nothing: bench/setup.sh does.
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { HOST, sleep } from './lib/net';
import { cleanupAll, DAEMON_NODE_FLAGS, installCleanupHandlers, run, start, tempDir, type Proc } from './lib/procs';
import { machineInfo, median, processMemory, round1 } from './lib/sysinfo';

const ROOT = path.resolve(__dirname, '..', '..');
const env = process.env;
const num = (name: string, def: number): number => (env[name] !== undefined && env[name] !== '' ? Number(env[name]) : def);

const CFG = {
  latencyRuns: num('BENCH_SSH_LATENCY_RUNS', 20),
  warmupRuns: num('BENCH_SSH_WARMUP_RUNS', 2),
  throughputBytes: num('BENCH_SSH_THROUGHPUT_MB', 500) * 1024 * 1024,
  throughputRounds: num('BENCH_SSH_THROUGHPUT_ROUNDS', 3),
  concurrencySteps: (env.BENCH_SSH_CONCURRENCY_STEPS ?? '50,100,200,300,400,500').split(',').map(Number).filter((n) => n > 0),
  /** How many session handshakes are in flight at once while ramping up. */
  rampParallel: num('BENCH_SSH_RAMP_PARALLEL', 8),
  /** outpostd entry point (another worktree's build can be measured: BENCH_SSH_DAEMON=/path/dist/daemon/main.js). */
  daemonMain: env.BENCH_SSH_DAEMON ?? path.join(ROOT, 'dist', 'daemon', 'main.js'),
  /** Pin servers to CPU 0 and ssh clients to CPU 1 with taskset (default when 2+ CPUs and taskset exist). */
  pin: env.BENCH_SSH_PIN !== '0' && os.availableParallelism() >= 2 && has('taskset'),
  resultsFile: env.BENCH_SSH_RESULTS ?? path.join(ROOT, 'bench', 'results', 'ssh.json'),
};

const TARGET_LATENCY = 0.25;
const TARGET_THROUGHPUT = 1.0;
const AES = 'aes128-gcm@openssh.com';
const SSHD = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'].find((p) => fs.existsSync(p));
const BENCH_ACCOUNT = env.BENCH_SSH_ACCOUNT ?? (process.getuid?.() === 0 ? 'outpost-bench' : os.userInfo().username);
const SSH_USERNAME = 'bench';

function has(cmd: string): boolean {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}
const log = (msg: string): void => { process.stderr.write(`bench:ssh: ${msg}\n`); };
const pinArgs = (cpu: string, cmd: string, args: string[]): [string, string[]] => (CFG.pin ? ['taskset', ['-c', cpu, cmd, ...args]] : [cmd, args]);

/** A loopback TCP port below 32768 (outside Linux's ephemeral range, so client sockets cannot take it). */
async function lowPort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + crypto.randomInt(12000);
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, HOST, () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free loopback port below 32768');
}

/** Resolves once something on `port` sends an SSH identification line. */
async function waitSshBanner(port: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      return await new Promise<string>((resolve, reject) => {
        const s = net.connect(port, HOST);
        let buf = '';
        const t = setTimeout(() => { s.destroy(); reject(new Error('no banner')); }, 2000);
        s.on('data', (d) => { buf += d.toString('latin1'); const i = buf.indexOf('\n'); if (i >= 0) { clearTimeout(t); s.destroy(); resolve(buf.slice(0, i).trim()); } });
        s.on('error', (e) => { clearTimeout(t); reject(e); });
      });
    } catch (err) { last = (err as Error).message; }
    await sleep(100);
  }
  throw new Error(`no SSH server on ${HOST}:${port} after ${timeoutMs} ms (${last})`);
}

// ---------------------------------------------------------------------------------------------
// Servers

interface Target {
  name: 'openssh' | 'outpostd';
  port: number;
  /** Login name on this server. */
  user: string;
  proc: Proc;
  banner: string;
  stop(): Promise<void>;
}

interface Keys { dir: string; clientKey: string; clientPub: string }

function makeKeys(): Keys {
  const dir = tempDir('ssh');
  // sshd reads AuthorizedKeysFile as the target account: the dir must be traversable by it.
  fs.chmodSync(dir, 0o755);
  const clientKey = path.join(dir, 'client_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'outpost-bench', '-f', clientKey]);
  return { dir, clientKey, clientPub: fs.readFileSync(`${clientKey}.pub`, 'utf8').trim() };
}

/** The bench account both servers run sessions as (created when we are root and it is missing). */
function ensureAccount(): void {
  let exists = true;
  try { execFileSync('getent', ['passwd', BENCH_ACCOUNT], { stdio: 'ignore' }); } catch { exists = false; }
  if (!exists) {
    if (process.getuid?.() !== 0) throw new Error(`account ${BENCH_ACCOUNT} does not exist (set BENCH_SSH_ACCOUNT)`);
    log(`creating the bench account ${BENCH_ACCOUNT} (useradd --create-home --shell /bin/bash)`);
    execFileSync('useradd', ['--create-home', '--shell', '/bin/bash', BENCH_ACCOUNT]);
  }
  // useradd leaves the password locked ("!"), and sshd without PAM refuses locked accounts even for
  // key logins: mark it "no password" instead ("*"), only for the bench's own account.
  if (BENCH_ACCOUNT === 'outpost-bench' && process.getuid?.() === 0) {
    const shadow = execFileSync('getent', ['shadow', BENCH_ACCOUNT], { encoding: 'utf8' }).split(':')[1] ?? '';
    if (shadow.startsWith('!')) execFileSync('usermod', ['-p', '*', BENCH_ACCOUNT]);
  }
}

async function startOpenSsh(keys: Keys): Promise<Target> {
  if (!SSHD) throw new Error('sshd not found: run bench/setup.sh (installs openssh-server)');
  const dir = path.join(keys.dir, 'sshd');
  fs.mkdirSync(dir, { mode: 0o755 });
  const hostKey = path.join(dir, 'ssh_host_ed25519_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench-sshd', '-f', hostKey]);
  const authorized = path.join(dir, 'authorized_keys');
  fs.writeFileSync(authorized, keys.clientPub + '\n', { mode: 0o644 });
  const port = await lowPort();
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(config, [
    `Port ${port}`,
    `ListenAddress ${HOST}`,
    `HostKey ${hostKey}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${authorized}`,
    'UsePAM no',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    `PermitRootLogin ${BENCH_ACCOUNT === 'root' ? 'prohibit-password' : 'no'}`,
    `AllowUsers ${BENCH_ACCOUNT}`,
    // The temp dir lives under /tmp (mode 1777), which StrictModes would refuse.
    'StrictModes no',
    'MaxStartups 100:30:200',
    'PrintMotd no',
    'PrintLastLog no',
    'UseDNS no',
    'Subsystem sftp internal-sftp',
    'LogLevel ERROR',
    '',
  ].join('\n'));
  // sshd needs its (empty, root-owned) privilege-separation dir; systemd's unit usually creates it at boot.
  if (process.getuid?.() === 0 && !fs.existsSync('/run/sshd')) {
    log('creating /run/sshd (sshd\'s privilege-separation directory)');
    fs.mkdirSync('/run/sshd', { mode: 0o755 });
  }
  execFileSync(SSHD, ['-t', '-f', config]);
  const [cmd, args] = pinArgs('0', SSHD, ['-D', '-e', '-f', config]);
  const proc = start('sshd', cmd, args, { env: { PATH: env.PATH } });
  const banner = await waitSshBanner(port, 10_000);
  return { name: 'openssh', port, user: BENCH_ACCOUNT, proc, banner, stop: () => proc.stop(3000) };
}

type OursResult = { target: Target; pid: number } | { skipped: string };

async function startOutpostd(keys: Keys): Promise<OursResult> {
  if (!fs.existsSync(CFG.daemonMain)) return { skipped: `${CFG.daemonMain} not found (run npm run build)` };
  const dataDir = tempDir('ssh-daemon');
  const masterKey = crypto.randomBytes(24).toString('hex');
  const sshPort = await lowPort();
  const [cmd, args] = pinArgs('0', process.execPath, [
    ...DAEMON_NODE_FLAGS, CFG.daemonMain, '--data-dir', dataDir, '--api-port', '0', '--bind', HOST, '--log-level', 'info',
    '--ssh-enabled', 'true', '--ssh-port', String(sshPort), '--ssh-run-as', BENCH_ACCOUNT, '--proxy-enabled', 'false',
  ]);
  const proc = start('outpostd', cmd, args, { env: { PATH: env.PATH, HOME: env.HOME, MASTER_KEY: masterKey } });
  let apiPort: number;
  try {
    apiPort = Number((await proc.waitFor(/"port":(\d+)[^\n]*"msg":"outpostd listening"/, 30_000))[1]);
  } catch (err) {
    await proc.stop(2000);
    return { skipped: `outpostd did not start: ${(err as Error).message.split('\n')[0]}` };
  }
  const stopOurs = () => proc.stop(10_000);
  // The SSH API of the reference: SshUsernameCreateRequest {username, password?, public_keys: [{key_name, public_key}]}.
  const body = JSON.stringify({ username: SSH_USERNAME, public_keys: [{ key_name: 'bench', public_key: keys.clientPub }] });
  const r = await authed(apiPort, masterKey, 'POST', '/api/v1/agent/ssh_usernames', body);
  if (r.status === 404 || r.status === 405) {
    await stopOurs();
    return { skipped: `this outpostd build has no POST /api/v1/agent/ssh_usernames (HTTP ${r.status}): the SSH server is not merged yet` };
  }
  if (r.status !== 201 && r.status !== 200) {
    await stopOurs();
    return { skipped: `POST /api/v1/agent/ssh_usernames answered ${r.status}: ${r.body.slice(0, 300)}` };
  }
  let banner: string;
  try {
    banner = await waitSshBanner(sshPort, 10_000);
  } catch (err) {
    await stopOurs();
    return { skipped: `outpostd's SSH server did not answer on ${sshPort}: ${(err as Error).message}` };
  }
  return { target: { name: 'outpostd', port: sshPort, user: SSH_USERNAME, proc, banner, stop: stopOurs }, pid: proc.pid };
}

function authed(port: number, key: string, method: string, p: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const http = require('node:http') as typeof import('node:http');
    const req = http.request({ host: HOST, port, method, path: p, headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) }, timeout: 10_000 }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

// ---------------------------------------------------------------------------------------------
// The OpenSSH client

function sshArgs(keys: Keys, t: Target, extra: string[], command: string): string[] {
  return [
    '-F', '/dev/null', '-i', keys.clientKey, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR', '-o', 'ControlMaster=no', '-o', 'ControlPath=none', '-o', 'ConnectTimeout=20',
    '-p', String(t.port), ...extra, `${t.user}@${HOST}`, command,
  ];
}

/** Runs one `ssh host <command>` to completion; returns its wall time in ms. */
async function sshOnce(keys: Keys, t: Target, command: string, extra: string[] = []): Promise<{ ms: number; code: number | null; stdout: string; stderr: string }> {
  const [cmd, args] = pinArgs('1', 'ssh', sshArgs(keys, t, extra, command));
  const t0 = process.hrtime.bigint();
  const r = await run(`ssh ${t.name}`, cmd, args, 60_000, { env: { PATH: env.PATH, HOME: env.HOME } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { ms, code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** What the client negotiated with a server (kex, cipher, MAC), from `ssh -v`. */
async function negotiated(keys: Keys, t: Target, extra: string[] = []): Promise<{ kex?: string; cipher?: string; mac?: string }> {
  const r = await sshOnce(keys, t, 'true', ['-v', ...extra]);
  const kex = /kex: algorithm: (\S+)/.exec(r.stderr)?.[1];
  const m = /kex: client->server cipher: (\S+) MAC: (\S+)/.exec(r.stderr);
  return { kex, cipher: m?.[1], mac: m?.[2] };
}

// ---------------------------------------------------------------------------------------------
// Measurements

interface LatencyStats { runs: number; mean_ms: number; median_ms: number; p95_ms: number; min_ms: number; max_ms: number; samples_ms: number[] }

function latencyStats(xs: number[]): LatencyStats {
  const s = [...xs].sort((a, b) => a - b);
  const r2 = (n: number) => Math.round(n * 100) / 100;
  return {
    runs: s.length,
    mean_ms: r2(s.reduce((a, b) => a + b, 0) / s.length),
    median_ms: r2(median(s)),
    p95_ms: r2(s[Math.max(0, Math.ceil(0.95 * s.length) - 1)]),
    min_ms: r2(s[0]),
    max_ms: r2(s[s.length - 1]),
    samples_ms: s.map(r2),
  };
}

/** Sequential `ssh host true`, the servers interleaved run by run so drift hits both alike. */
async function measureLatency(keys: Keys, targets: Target[]): Promise<Record<string, LatencyStats>> {
  const samples: Record<string, number[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
  for (let i = 0; i < CFG.warmupRuns + CFG.latencyRuns; i++) {
    for (const t of targets) {
      const r = await sshOnce(keys, t, 'true');
      if (r.code !== 0) throw new Error(`ssh ${t.name} true exited ${r.code}: ${r.stderr.trim()}`);
      if (i >= CFG.warmupRuns) samples[t.name].push(r.ms);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, latencyStats(v)]));
}

interface ThroughputRound { mib_per_s: number; seconds: number; wall_seconds: number }

/**
 * One round: `ssh host 'echo ready; exec cat > /dev/null'`; the clock starts when the remote
 * side says ready (connection setup excluded) and stops when ssh exits after the last byte.
 */
async function throughputOnce(keys: Keys, t: Target, extra: string[], chunk: Buffer): Promise<ThroughputRound> {
  const [cmd, args] = pinArgs('1', 'ssh', sshArgs(keys, t, extra, 'echo ready; exec cat > /dev/null'));
  const wall0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { env: { PATH: env.PATH, HOME: env.HOME }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 300_000);
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('ready')) resolve(); });
      void exited.then((code) => reject(new Error(`ssh ${t.name} exited (${code}) before the remote side was ready: ${stderr.trim()}`)));
    });
    const t0 = process.hrtime.bigint();
    let left = CFG.throughputBytes;
    while (left > 0) {
      const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      if (!child.stdin.write(piece)) await new Promise<void>((resolve) => child.stdin.once('drain', resolve));
    }
    child.stdin.end();
    const code = await exited;
    const t1 = process.hrtime.bigint();
    if (code !== 0) throw new Error(`ssh ${t.name} cat exited ${code}: ${stderr.trim()}`);
    const seconds = Number(t1 - t0) / 1e9;
    return { mib_per_s: round1(CFG.throughputBytes / 1048576 / seconds), seconds: Math.round(seconds * 1000) / 1000, wall_seconds: Math.round((Number(t1 - wall0) / 1e9) * 1000) / 1000 };
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; }
  }
}

interface ThroughputStats { cipher: string | undefined; median_mib_per_s: number; rounds: ThroughputRound[] }

async function measureThroughput(keys: Keys, targets: Target[], extra: string[]): Promise<Record<string, ThroughputStats>> {
  // Random bytes: incompressible, in case compression were ever negotiated.
  const chunk = crypto.randomBytes(1 << 20);
  const rounds: Record<string, ThroughputRound[]> = Object.fromEntries(targets.map((t) => [t.name, []]));
  const ciphers: Record<string, string | undefined> = {};
  for (const t of targets) ciphers[t.name] = (await negotiated(keys, t, extra)).cipher;
  for (let i = 0; i < CFG.throughputRounds; i++) {
    for (const t of targets) rounds[t.name].push(await throughputOnce(keys, t, extra, chunk));
  }
  return Object.fromEntries(targets.map((t) => [t.name, { cipher: ciphers[t.name], median_mib_per_s: round1(median(rounds[t.name].map((r) => r.mib_per_s))), rounds: rounds[t.name] }]));
}

interface ConcurrencyStep { sessions: number; established: number; daemon_rss_mib: number; daemon_threads: number; rss_per_session_kib: number | null; ramp_seconds: number; ok: boolean; error?: string }

/**
 * Holds N sessions open against outpostd (`ssh host 'echo up; exec sleep 3600'`: one exec session
 * and one remote process each, recorded like any other), in steps; stops at the first step that
 * cannot be reached. RSS is the daemon's VmRSS (all threads, not the sessions' processes).
 */
async function measureConcurrency(keys: Keys, t: Target, pid: number): Promise<{ idle_rss_mib: number; steps: ConcurrencyStep[]; max_sessions: number }> {
  const held: Array<{ child: ReturnType<typeof spawn>; exited: Promise<void> }> = [];
  const steps: ConcurrencyStep[] = [];
  await sleep(1000);
  const idle = processMemory(pid).rssMiB;
  let max = 0;
  const openOne = async (): Promise<void> => {
    const [cmd, args] = pinArgs('1', 'ssh', sshArgs(keys, t, ['-o', 'ServerAliveInterval=0'], 'echo up; exec sleep 3600'));
    const child = spawn(cmd, args, { env: { PATH: env.PATH, HOME: env.HOME }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    held.push({ child, exited });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString(); });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('session not up after 60 s')), 60_000);
      child.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('up')) { clearTimeout(timer); resolve(); } });
      void exited.then(() => { clearTimeout(timer); reject(new Error(`ssh exited before the session was up: ${stderr.trim().split('\n').pop() ?? ''}`)); });
    });
  };
  try {
    for (const n of CFG.concurrencySteps) {
      const t0 = Date.now();
      let error: string | undefined;
      const need = n - held.length;
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(CFG.rampParallel, need) }, async () => {
        while (next < need && !error) {
          next++;
          try { await openOne(); } catch (err) { error ??= (err as Error).message; }
        }
      }));
      await sleep(1000);
      const alive = held.filter((h) => h.child.exitCode === null && h.child.signalCode === null).length;
      let mem = { rssMiB: NaN, threads: NaN };
      try { mem = processMemory(pid); } catch { error ??= 'the daemon exited'; }
      const ok = !error && alive >= n;
      steps.push({ sessions: n, established: alive, daemon_rss_mib: mem.rssMiB, daemon_threads: mem.threads, rss_per_session_kib: alive > 0 ? Math.round(((mem.rssMiB - idle) * 1024) / alive) : null, ramp_seconds: round1((Date.now() - t0) / 1000), ok, ...(error ? { error } : {}) });
      log(`concurrency: ${alive}/${n} sessions up, daemon RSS ${mem.rssMiB} MiB${error ? ` (${error})` : ''}`);
      if (ok) max = n; else break;
    }
  } finally {
    for (const h of held) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGTERM');
    await Promise.race([Promise.all(held.map((h) => h.exited)), sleep(10_000)]);
    for (const h of held) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL');
  }
  return { idle_rss_mib: idle, steps, max_sessions: max };
}

// ---------------------------------------------------------------------------------------------
// Report

const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;

interface Row { what: string; openssh: string; outpostd: string; ratio: string; target: string; result: string }

function table(rows: Row[]): string {
  const head: Row = { what: 'measure', openssh: 'OpenSSH sshd', outpostd: 'outpostd', ratio: 'ratio', target: 'target', result: 'result' };
  const all = [head, ...rows];
  const keys = Object.keys(head) as Array<keyof Row>;
  const w = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Row) => `| ${keys.map((k, i) => r[k].padEnd(w[i])).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  installCleanupHandlers();
  for (const tool of ['ssh', 'ssh-keygen']) if (!has(tool)) throw new Error(`${tool} not found: run bench/setup.sh`);
  if (!SSHD) throw new Error('sshd not found: run bench/setup.sh (installs openssh-server)');
  const started = Date.now();
  const loadAtStart = os.loadavg()[0];
  const versionLine = execFileSync('sh', ['-c', 'ssh -V 2>&1'], { encoding: 'utf8' }).trim();
  ensureAccount();
  const keys = makeKeys();
  log(`client ${versionLine}; sessions run as ${BENCH_ACCOUNT}; pinning ${CFG.pin ? 'servers on CPU 0, clients on CPU 1' : 'off'}`);

  const anchor = await startOpenSsh(keys);
  log(`OpenSSH sshd on ${HOST}:${anchor.port} (${anchor.banner})`);
  const ours = await startOutpostd(keys);
  const targets: Target[] = [anchor];
  if ('skipped' in ours) log(`outpostd SKIPPED: ${ours.skipped}. Measuring the OpenSSH anchor only.`);
  else {
    targets.push(ours.target);
    log(`outpostd SSH on ${HOST}:${ours.target.port} (${ours.target.banner}), daemon pid ${ours.pid}, user ${SSH_USERNAME} → runs as ${BENCH_ACCOUNT}`);
  }

  const algorithms: Record<string, unknown> = {};
  for (const t of targets) algorithms[t.name] = await negotiated(keys, t);
  log(`latency: ${CFG.warmupRuns} warm-up + ${CFG.latencyRuns} sequential \`ssh host true\` per server, interleaved`);
  const latency = await measureLatency(keys, targets);
  log(`throughput: ${CFG.throughputBytes / 1048576} MiB through \`ssh host 'cat > /dev/null'\`, ${CFG.throughputRounds} rounds, default cipher`);
  const tputDefault = await measureThroughput(keys, targets, []);
  log(`throughput: same with -c ${AES}`);
  const tputAes = await measureThroughput(keys, targets, ['-c', AES]);
  let concurrency: Awaited<ReturnType<typeof measureConcurrency>> | undefined;
  if (!('skipped' in ours)) {
    log(`concurrency: steps ${CFG.concurrencySteps.join(', ')}`);
    concurrency = await measureConcurrency(keys, ours.target, ours.pid);
  }

  // Table
  const o = latency.openssh;
  const u = latency.outpostd;
  const rows: Row[] = [];
  const pass = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  for (const [label, k] of [['latency mean', 'mean_ms'], ['latency median', 'median_ms'], ['latency p95', 'p95_ms']] as const) {
    rows.push({
      what: `ssh host true, ${label}`, openssh: `${o[k]} ms`, outpostd: u ? `${u[k]} ms` : 'skipped',
      ratio: u ? ratio(u[k], o[k]).toFixed(2) : '', target: `<= ${TARGET_LATENCY} x`, result: u ? pass(u[k] <= TARGET_LATENCY * o[k]) : '',
    });
  }
  for (const [label, tp] of [['default cipher', tputDefault], ['aes128-gcm', tputAes]] as const) {
    const a = tp.openssh;
    const b = tp.outpostd;
    const ciphers = b && b.cipher !== a.cipher ? ` (${a.cipher} / ${b.cipher})` : ` (${a.cipher})`;
    rows.push({
      what: `throughput ${label}${ciphers}`, openssh: `${a.median_mib_per_s} MiB/s`, outpostd: b ? `${b.median_mib_per_s} MiB/s` : 'skipped',
      ratio: b ? ratio(b.median_mib_per_s, a.median_mib_per_s).toFixed(2) : '', target: `>= ${TARGET_THROUGHPUT.toFixed(1)} x`, result: b ? pass(b.median_mib_per_s >= TARGET_THROUGHPUT * a.median_mib_per_s) : '',
    });
  }
  // Facts about the run (bullets in the markdown), then the tables.
  const loadAtEnd = os.loadavg()[0];
  const facts: string[] = [`date ${new Date().toISOString()}, client ${versionLine}, sessions run as ${BENCH_ACCOUNT}`];
  for (const t of targets) {
    const al = algorithms[t.name] as { kex?: string; cipher?: string; mac?: string };
    facts.push(`${t.name}: ${t.banner}; kex ${al.kex}, cipher ${al.cipher}${al.mac && al.mac !== '<implicit>' ? `, MAC ${al.mac}` : ''}`);
  }
  if ('skipped' in ours) facts.push(`outpostd SKIPPED: ${ours.skipped}`);
  else facts.push(`outpostd build: ${path.relative(ROOT, CFG.daemonMain) || CFG.daemonMain}`);
  facts.push(`load average (1 min): ${loadAtStart.toFixed(2)} at start, ${loadAtEnd.toFixed(2)} at end on ${os.availableParallelism()} CPUs${CFG.pin ? '; servers on CPU 0, clients on CPU 1' : ''}`);
  const tables: string[] = [table(rows)];
  if (concurrency) {
    tables.push('', `Concurrent sessions held by outpostd (idle RSS ${concurrency.idle_rss_mib} MiB; \`ssh host 'echo up; exec sleep 3600'\` each; max held: ${concurrency.max_sessions}):`, '');
    tables.push('| sessions | established | daemon RSS | per session | threads | ramp |', '|---|---|---|---|---|---|');
    for (const s of concurrency.steps) tables.push(`| ${s.sessions} | ${s.established}${s.ok ? '' : ` ✘ ${s.error ?? ''}`} | ${s.daemon_rss_mib} MiB | ${s.rss_per_session_kib ?? '-'} KiB | ${s.daemon_threads} | ${s.ramp_seconds} s |`);
  }
  const out = ['', 'SSH benchmark', ...facts.map((f) => `  ${f}`), '', ...tables];
  process.stdout.write(out.join('\n') + '\n');

  const result = {
    date: new Date().toISOString(),
    duration_seconds: Math.round((Date.now() - started) / 1000),
    machine: machineInfo(os.tmpdir()),
    client: versionLine,
    load_average_1m: { start: Math.round(loadAtStart * 100) / 100, end: Math.round(loadAtEnd * 100) / 100 },
    pinning: CFG.pin ? { servers: 'CPU 0', clients: 'CPU 1' } : null,
    account: BENCH_ACCOUNT,
    servers: Object.fromEntries(targets.map((t) => [t.name, { banner: t.banner, ...(algorithms[t.name] as object) }])),
    outpostd_main: path.relative(ROOT, CFG.daemonMain) || CFG.daemonMain,
    outpostd_skipped: 'skipped' in ours ? ours.skipped : null,
    targets: { latency_ratio_max: TARGET_LATENCY, throughput_ratio_min: TARGET_THROUGHPUT },
    latency: { command: 'ssh host true', warmup_runs: CFG.warmupRuns, ...latency },
    throughput: {
      command: "ssh host 'echo ready; exec cat > /dev/null' (clock from the remote 'ready' to ssh exit)",
      bytes: CFG.throughputBytes,
      default_cipher: tputDefault,
      aes128_gcm: tputAes,
    },
    ratios: u ? {
      latency_mean: ratio(u.mean_ms, o.mean_ms), latency_median: ratio(u.median_ms, o.median_ms), latency_p95: ratio(u.p95_ms, o.p95_ms),
      throughput_default: ratio(tputDefault.outpostd.median_mib_per_s, tputDefault.openssh.median_mib_per_s),
      throughput_aes128_gcm: ratio(tputAes.outpostd.median_mib_per_s, tputAes.openssh.median_mib_per_s),
    } : null,
    concurrency: concurrency ?? null,
    table: rows,
  };
  fs.mkdirSync(path.dirname(CFG.resultsFile), { recursive: true });
  fs.writeFileSync(CFG.resultsFile, JSON.stringify(result, null, 2) + '\n');
  const mdFile = CFG.resultsFile.replace(/\.json$/, '') + '.md';
  fs.writeFileSync(mdFile, ['# SSH benchmark (`npm run bench:ssh`)', '', 'Written by bench/ssh.ts on every run (method: bench/README.md).', '', ...facts.map((f) => `- ${f}`), '', ...tables].join('\n') + '\n');
  log(`wrote ${path.relative(process.cwd(), CFG.resultsFile)} and ${path.relative(process.cwd(), mdFile)}`);

  for (const t of targets.reverse()) await t.stop();
}

main().then(
  async () => { await cleanupAll(); },
  async (err: unknown) => {
    process.stderr.write(`bench:ssh failed: ${(err as Error).stack ?? err}\n`);
    await cleanupAll();
    process.exitCode = 1;
  },
);
