// File transfer and forwarding with the real OpenSSH client: 100 MB scp both ways (OpenSSH's
// scp speaks SFTP, served by sftp-server as the run-as account) with checksums, sftp
// put/get/ls, and `ssh -L` to an allowed and a denied target.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { auditLines, createUser, ensureRunAsUser, eventually, keyOpts, makeKey, run, startSshDaemon, RUN_AS } from './helpers/ssh';
import { tempDir } from './helpers/daemon';

const idOf = (flag: '-u' | '-g') => Number(execFileSync('id', [flag, RUN_AS], { encoding: 'utf8' }).trim());
const sha256 = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** A temp dir owned by the run-as account (sessions write there). */
function remoteDir(t: Parameters<typeof tempDir>[0]): string {
  ensureRunAsUser();
  const dir = tempDir(t, 'outpost-sftp-');
  fs.chownSync(dir, idOf('-u'), idOf('-g'));
  return dir;
}

t.test('scp and sftp', async (t) => {
  t.setTimeout(60_000);
  const d = await startSshDaemon(t);
  const k = makeKey(t);
  await createUser(t, d, 'alice', { keys: [k.pub] });
  const local = tempDir(t, 'outpost-local-');
  const remote = remoteDir(t);

  t.test('100 MB scp up and down, checksums equal', async (t) => {
    const src = path.join(local, 'big.bin');
    const fd = fs.openSync(src, 'w');
    for (let i = 0; i < 100; i++) fs.writeSync(fd, randomBytes(1 << 20));
    fs.closeSync(fd);
    const up = await run(t, 'scp', [...keyOpts(k.key), '-P', String(d.sshPort), src, `alice@127.0.0.1:${remote}/up.bin`], { timeoutMs: 40_000 });
    t.equal(up.code, 0, up.stderr);
    t.equal(fs.statSync(path.join(remote, 'up.bin')).uid, idOf('-u'), 'written as the run-as account');
    t.equal(sha256(path.join(remote, 'up.bin')), sha256(src), 'upload intact');
    const down = await run(t, 'scp', [...keyOpts(k.key), '-P', String(d.sshPort), `alice@127.0.0.1:${remote}/up.bin`, path.join(local, 'down.bin')], { timeoutMs: 40_000 });
    t.equal(down.code, 0, down.stderr);
    t.equal(sha256(path.join(local, 'down.bin')), sha256(src), 'download intact');
  });

  t.test('sftp put, ls, get', async (t) => {
    fs.writeFileSync(path.join(local, 'note.txt'), 'hello sftp\n');
    const batch = path.join(local, 'batch');
    fs.writeFileSync(batch, `cd ${remote}\nput ${path.join(local, 'note.txt')} note.txt\nls -l\nget note.txt ${path.join(local, 'back.txt')}\n`);
    const r = await run(t, 'sftp', [...keyOpts(k.key), '-P', String(d.sshPort), '-b', batch, 'alice@127.0.0.1']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /note\.txt/);
    t.equal(fs.readFileSync(path.join(local, 'back.txt'), 'utf8'), 'hello sftp\n');
    const denied = path.join(local, 'batch2');
    fs.writeFileSync(denied, 'put /etc/hostname /root/outpost-should-not-exist\n');
    const r2 = await run(t, 'sftp', [...keyOpts(k.key), '-P', String(d.sshPort), '-b', denied, 'alice@127.0.0.1']);
    t.not(r2.code, 0, 'no write access as the run-as account');
    t.notOk(fs.existsSync('/root/outpost-should-not-exist'));
    t.ok(auditLines(d).some((l) => l.event === 'subsystem' && l.command === 'sftp'), 'sftp audited');
  });
});

// The agent's own egress policy (daemon/net): 127.0.0.1 is let through by proxy.allow_cidrs, the
// agent's own API port on it stays denied.
t.test('ssh -L: the egress policy lets an allowed target through and refuses a denied one', async (t) => {
  t.setTimeout(30_000);
  const d = await startSshDaemon(t, [], { OUTPOST_PROXY_ALLOW_CIDRS: '127.0.0.1/32' });
  const k = makeKey(t);
  await createUser(t, d, 'alice', { keys: [k.pub] });
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.teardown(() => echo.close());
  const echoPort = (echo.address() as net.AddressInfo).port;
  const deniedPort = d.daemon.port;

  const free = async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const p = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    return p;
  };
  const [la, ld] = [await free(), await free()];
  const ssh = spawn('ssh', [...keyOpts(k.key), '-N', '-o', 'ExitOnForwardFailure=yes', '-p', String(d.sshPort), '-L', `127.0.0.1:${la}:127.0.0.1:${echoPort}`, '-L', `127.0.0.1:${ld}:127.0.0.1:${deniedPort}`, 'alice@127.0.0.1'], { stdio: 'ignore' });
  t.teardown(() => { ssh.kill('SIGKILL'); });

  const exchange = (port: number) => new Promise<string>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('connect', () => s.write('ping\n'));
    s.on('data', (b) => { got += b; if (got.includes('\n')) s.end(); });
    s.on('error', () => resolve(`error:${got}`));
    s.on('close', () => resolve(got));
  });
  const answer = await eventually(async () => { const a = await exchange(la); return a === 'ping\n' ? a : undefined; }, 10_000);
  t.equal(answer, 'ping\n', 'echo through the tunnel');
  const denied = await exchange(ld);
  t.notMatch(denied, /ping/, 'nothing through the denied tunnel');
  const stats = d.daemon.ssh!.stats();
  t.ok(stats.forwards_total >= 1);
  t.ok(stats.forwards_denied_total >= 1);
  const audit = auditLines(d);
  t.ok(audit.some((l) => l.event === 'forward' && l.target === `127.0.0.1:${echoPort}`));
  t.ok(audit.some((l) => l.event === 'forward_denied' && l.target === `127.0.0.1:${deniedPort}` && l.reason === 'agent_port_blocked'));
});
