// Type=notify: the daemon's sd_notify messages, received on a real AF_UNIX datagram socket
// (Node cannot create one, so the receiver is a few lines of python3), through both transports:
// the connected socket systemd >= 253 passes in (OpenFile=, simulated by a launcher that
// connects it and execs node, keeping the PID as systemd would) and the systemd-notify
// fallback for $NOTIFY_SOCKET ('/path' and '@abstract').
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import t, { type Test } from 'tap';
import { AGENT_OFF, MAIN, tempDir } from './helpers/daemon';
import { until } from './helpers/wait';

const RECEIVER = String.raw`
import array, json, os, socket, struct, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\0' + addr[1:] if addr.startswith('@') else addr)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({'listening': True}), flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(64))
    pid = None
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack('3i', data[:12])[0]
        elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array('i')
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)  # systemd-notify's BARRIER=1 waits for this
    print(json.dumps({'pid': pid, 'msg': msg.decode()}), flush=True)
`;

// What systemd >= 253 does for OpenFile=/run/systemd/notify:sd-notify: a connected datagram
// socket at fd 3, named in LISTEN_FDNAMES, for the PID that execs the service.
const LAUNCHER = String.raw`
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ.update(LISTEN_FDS='1', LISTEN_FDNAMES='sd-notify', LISTEN_PID=str(os.getpid()))
os.execv(sys.argv[2], sys.argv[2:])
`;

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, cmd);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* next */ }
  }
  return undefined;
}

interface Received { pid: number | null; msg: string }

/** A notify socket: every datagram it receives, with the sender's PID from SCM_CREDENTIALS. */
async function receiver(t: Test, python: string, address: string): Promise<{ got: Received[] }> {
  const proc = spawn(python, ['-c', RECEIVER, address], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => proc.on('exit', r));
  t.teardown(async () => { proc.kill('SIGKILL'); await exited; });
  let err = '';
  proc.stderr.on('data', (d: Buffer) => { err += d; });
  const got: Received[] = [];
  let listening = false;
  readline.createInterface({ input: proc.stdout }).on('line', (line) => {
    const m = JSON.parse(line) as Received & { listening?: boolean };
    if (m.listening) listening = true;
    else got.push(m);
  });
  await until(`the receiver on ${address} (${err})`, () => listening || proc.exitCode !== null, 10_000);
  if (!listening) throw new Error(`receiver failed: ${err}`);
  return { got };
}

interface Proc { proc: ChildProcess; port: number; stdout: () => string; exited: Promise<number | null> }

/** The daemon as `cmd args` (node directly, or through the launcher); resolves once it listens. */
function start(t: Test, cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Proc> {
  const proc = spawn(cmd, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  t.teardown(async () => { if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGKILL'); await exited; } });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`daemon did not start:\n${out}\n${err}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /"port":(\d+)[^\n]*"msg":"outpostd listening"/.exec(out);
      if (m) { clearTimeout(timer); resolve({ proc, port: Number(m[1]), stdout: () => out, exited }); }
    });
    void exited.then((c) => { clearTimeout(timer); reject(new Error(`daemon exited ${c}:\n${out}\n${err}`)); });
  });
}

const has = (got: Received[], re: RegExp) => got.find((g) => re.test(g.msg));

/** The whole life of a Type=notify service: starting, ready, watchdog, reload, stopping. */
async function lifecycle(t: Test, got: Received[], d: Proc, expectPid: boolean): Promise<void> {
  const ready = await until('READY=1', () => has(got, /^READY=1$/m), 20_000);
  t.match(ready.msg, /^STATUS=serving on 127\.0\.0\.1:\d+/m, 'READY=1 comes with a STATUS= line');
  t.ok(has(got, /^STATUS=starting$/m), 'STATUS=starting before READY=1');
  t.ok(got.findIndex((g) => /^STATUS=starting$/m.test(g.msg)) < got.indexOf(ready), 'in that order');
  const h = await fetch(`http://127.0.0.1:${d.port}/healthz`);
  t.equal(h.status, 200, 'READY=1 is sent once the API answers');
  await until('two WATCHDOG=1 pings', () => got.filter((g) => /^WATCHDOG=1$/m.test(g.msg)).length >= 2, 20_000);

  const before = process.hrtime.bigint() / 1000n;
  const n = got.length;
  d.proc.kill('SIGHUP');
  const reloading = await until('RELOADING=1', () => got.slice(n).find((g) => /^RELOADING=1$/m.test(g.msg)), 20_000);
  const usec = BigInt(/^MONOTONIC_USEC=(\d+)$/m.exec(reloading.msg)?.[1] ?? '0');
  t.ok(usec >= before && usec <= process.hrtime.bigint() / 1000n, 'MONOTONIC_USEC is CLOCK_MONOTONIC at the reload');
  await until('READY=1 after the reload', () => got.slice(got.indexOf(reloading)).find((g) => /^READY=1$/m.test(g.msg)), 20_000);

  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0, 'SIGTERM: exit 0');
  t.ok(has(got, /^STOPPING=1$/m), 'STOPPING=1 when the drain starts');
  const daemonMsgs = got.filter((g) => !/^BARRIER=1$/m.test(g.msg));
  if (expectPid) t.same([...new Set(daemonMsgs.map((g) => g.pid))], [d.proc.pid], 'every message carries the daemon\'s PID (NotifyAccess=main accepts it)');
}

// .ci/run installs both (python3, systemd): a missing one is a failure, never a skipped test.
const python = which('python3');
t.ok(python, 'python3 is installed (the datagram receiver)');
t.ok(which('systemd-notify'), 'systemd-notify is installed (the systemd 252 fallback)');
const args = [MAIN, '--api-port', '0', ...AGENT_OFF];

t.test('sd_notify through the connected socket systemd passes in (OpenFile=, no child process)', async (t) => {
  const dir = tempDir(t, 'outpost-notify-');
  const sock = path.join(dir, 'notify');
  const { got } = await receiver(t, python!, sock);
  const d = await start(t, python!, ['-c', LAUNCHER, sock, process.execPath, ...args, '--data-dir', path.join(dir, 'data')], { WATCHDOG_USEC: '400000' });
  t.match(d.stdout(), /"transport":"fd"[^\n]*sd_notify: reporting to systemd/, 'uses the passed fd');
  await lifecycle(t, got, d, true);
});

for (const kind of ['path', 'abstract'] as const) {
  t.test(`sd_notify fallback through systemd-notify, NOTIFY_SOCKET ${kind}`, async (t) => {
    const dir = tempDir(t, 'outpost-notify-');
    const address = kind === 'path' ? path.join(dir, 'notify') : `@outpost-test-notify-${process.pid}-${Date.now()}`;
    const { got } = await receiver(t, python!, address);
    const d = await start(t, process.execPath, [...args, '--data-dir', path.join(dir, 'data')], { NOTIFY_SOCKET: address, WATCHDOG_USEC: '400000' });
    t.match(d.stdout(), /"transport":"helper"[^\n]*sd_notify: reporting to systemd/);
    // As root the helper stamps the daemon's PID; otherwise the kernel puts the helper's own.
    await lifecycle(t, got, d, process.getuid?.() === 0);
  });
}

t.test('no NOTIFY_SOCKET: nothing is sent and nothing is spawned', async (t) => {
  const dir = tempDir(t, 'outpost-notify-');
  const d = await start(t, process.execPath, [...args, '--data-dir', path.join(dir, 'data')], {});
  t.notMatch(d.stdout(), /sd_notify/);
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
});
