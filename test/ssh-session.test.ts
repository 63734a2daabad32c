// SSH sessions with the real OpenSSH client: exec exit codes and signals, stdin/stderr, env
// requests, exec with a PTY, an interactive shell driven through a local PTY (prompt, echo,
// window change), recordings and the audit log, truncation, idle timeout, and a missing
// run-as account. Signal requests (which OpenSSH's client cannot send) use ssh2's client.
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'ssh2';
import t from 'tap';
import { loadPty } from '../native';
import { auditLines, createUser, eventually, keyOpts, makeKey, RUN_AS, sshKey, startSshDaemon, type SshDaemon } from './helpers/ssh';
import { until } from './helpers/wait';

t.test('exec and shell sessions', async (t) => {
  t.setTimeout(60_000);
  const d = await startSshDaemon(t);
  const k = makeKey(t);
  await createUser(t, d, 'alice', { keys: [k.pub] });

  t.test('exit codes and signals are propagated', async (t) => {
    t.equal((await sshKey(t, d, 'alice', k.key, 'exit 7')).code, 7);
    t.equal((await sshKey(t, d, 'alice', k.key, 'true')).code, 0);
    const killed = await sshKey(t, d, 'alice', k.key, 'kill -TERM $$', ['-v']);
    t.equal(killed.code, 255, 'OpenSSH exits 255 when the remote command died of a signal');
    t.match(killed.stderr, /rtype exit-signal/);
    const end = (await eventually(() => auditLines(d).find((l) => l.event === "session_end" && l.command === "kill -TERM $$")))!;
    t.equal(end.exit_signal, 'TERM');
    t.equal(end.exit_status, null);
  });

  t.test('stdin is forwarded up to EOF, stderr stays separate', async (t) => {
    const r = await sshKey(t, d, 'alice', k.key, 'wc -c; echo to-err >&2', [], 'x'.repeat(100_000));
    t.equal(r.code, 0);
    t.equal(r.stdout.trim(), '100000');
    t.equal(r.stderr, 'to-err\n');
  });

  t.test('env requests: LANG/LC_* accepted, others refused', async (t) => {
    const r = await sshKey(t, d, 'alice', k.key, 'echo "$LC_OUTPOST_TEST|$EVIL_VAR|$PATH"', ['-o', 'SetEnv=LC_OUTPOST_TEST=yes EVIL_VAR=1']);
    const [lc, evil, p] = r.stdout.trim().split('|');
    t.equal(lc, 'yes');
    t.equal(evil, '');
    t.match(p, /\/usr\/bin/);
  });

  t.test('exec with a PTY', async (t) => {
    const r = await sshKey(t, d, 'alice', k.key, 'tty; echo "$TERM"; stat -c "%U %a" "$(tty)"; exit 4', ['-tt']);
    t.equal(r.code, 4);
    t.match(r.stdout, /\/dev\/pts\/\d+/);
    if (process.getuid?.() === 0) t.match(r.stdout, new RegExp(`${RUN_AS} 620`), 'the terminal belongs to the run-as account');
  });

  t.test('interactive shell through a PTY, recorded', async (t) => {
    const pty = loadPty().spawn('ssh', [...keyOpts(k.key), '-tt', '-p', String(d.sshPort), 'alice@127.0.0.1'], { name: 'xterm', cols: 100, rows: 30, env: { PATH: process.env.PATH!, HOME: process.env.HOME! } });
    let out = '';
    pty.onData((s) => { out += s; });
    const exited = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
    t.teardown(() => { try { pty.kill('SIGKILL'); } catch { /* exited */ } });
    const wait = (re: RegExp) => eventually(() => re.test(out), 10_000);
    await wait(/\$ $/m);
    pty.write('echo hello-$((6*7))\r');
    await wait(/hello-\$\(\(6\*7\)\)[\s\S]*hello-42/);
    pty.write('stty size\r');
    await wait(/30 100/);
    pty.resize(120, 40);
    // The window change reaches the remote terminal asynchronously: ask until it shows.
    await until('the remote terminal to be resized', () => {
      if (/40 120/.test(out)) return true;
      pty.write('stty size\r');
      return false;
    }, 10_000, { everyMs: 200 });
    pty.write('exit 3\r');
    t.equal(await exited, 3, 'shell exit status');

    const list = await eventually(async () => {
      const r = await d.api('GET', '/api/v1/agent/ssh_recordings');
      const shell = r.body.recordings.find((x: any) => x.kind === 'shell' && x.ended_at);
      return shell ? r.body.recordings : undefined;
    });
    const ids = list.map((x: any) => x.id);
    t.same(ids, [...ids].sort().reverse(), 'newest first');
    const rec = list.find((x: any) => x.kind === 'shell');
    t.match(rec, { user: 'alice', run_as: 'outpost-test', source_address: '127.0.0.1', pty: true, width: 100, height: 30, exit_status: 3, truncated: false });
    t.ok(rec.bytes > 0);
    const cast = await d.api('GET', `/api/v1/agent/ssh_recordings/${rec.id}`);
    t.equal(cast.status, 200);
    const lines = String(typeof cast.body === 'string' ? cast.body : JSON.stringify(cast.body)).trim().split('\n').map((l) => JSON.parse(l));
    t.match(lines[0], { version: 2, width: 100, height: 30, env: { TERM: 'xterm' } });
    t.type(lines[0].timestamp, 'number');
    const events = lines.slice(1);
    t.ok(events.every((e: any) => Array.isArray(e) && typeof e[0] === 'number'), 'events are [time, type, data]');
    t.ok(events.some((e: any) => e[1] === 'o' && String(e[2]).includes('hello-42')), 'output recorded');
    t.ok(events.some((e: any) => e[1] === 'r' && e[2] === '120x40'), 'resize recorded');
    const times = events.map((e: any) => e[0]);
    t.same(times, [...times].sort((a, b) => a - b), 'times increase');

    const audit = auditLines(d);
    const start = audit.find((l) => l.event === "session_start" && l.recording_id === rec.id)!;
    t.match(start, { user: 'alice', source_address: '127.0.0.1', run_as: 'outpost-test', pty: true });
    t.type(start.source_port, 'number');
    t.match(audit.find((l) => l.event === 'session_end' && l.recording_id === rec.id), { exit_status: 3 });
    t.ok(audit.some((l) => l.event === 'login_ok' && l.user === 'alice' && l.method === 'publickey'), 'login audited');
    t.equal((await d.api('GET', '/api/v1/agent/ssh_recordings/20000101T000000000Z-00000000')).status, 404);
  });

  t.test('signal requests reach the process (ssh2 client)', async (t) => {
    const c = new Client();
    t.teardown(() => c.end());
    await new Promise<void>((resolve, reject) => c.on('ready', resolve).on('error', reject).connect({ host: '127.0.0.1', port: d.sshPort, username: 'alice', privateKey: fs.readFileSync(k.key) }));
    const got = await new Promise<{ code?: number; signal?: string }>((resolve, reject) => {
      c.exec('echo started; sleep 30', (err, ch) => {
        if (err) return reject(err);
        ch.on('data', (b: Buffer) => { if (b.toString().includes('started')) ch.signal('INT'); });
        ch.on('exit', (code: number | null, signal?: string) => resolve({ code: code ?? undefined, signal }));
      });
    });
    t.equal(got.signal, 'SIGINT', 'exit-signal INT (ssh2 adds the SIG prefix)');
  });

  t.test('stats', async (t) => {
    const s = d.daemon.ssh!.stats();
    t.ok(s.sessions_total >= 6);
    t.equal(s.sessions_active, 0);
  });
});

t.test('recording cap and idle timeout', async (t) => {
  t.setTimeout(30_000);
  const d = await startSshDaemon(t, [], { OUTPOST_SSH_RECORDING_MAX_BYTES: '4096', OUTPOST_SSH_IDLE_TIMEOUT_MS: '1500' });
  const k = makeKey(t);
  await createUser(t, d, 'carol', { keys: [k.pub] });
  const r = await sshKey(t, d, 'carol', k.key, "head -c 200000 /dev/zero | tr '\\0' a");
  t.equal(r.stdout.length, 200000, 'the client gets everything');
  const rec = await eventually(async () => (await d.api('GET', '/api/v1/agent/ssh_recordings')).body.recordings.find((x: any) => x.ended_at));
  t.equal(rec.truncated, true);
  t.equal(rec.output_bytes, 200000);
  const file = path.join(d.dataDir, 'agent', 'recordings', `${rec.id}.cast`);
  t.ok(fs.statSync(file).size <= 4096, 'file within the cap');
  const last = JSON.parse(fs.readFileSync(file, 'utf8').trim().split('\n').pop()!);
  t.equal(last[1], 'm');
  t.match(last[2], /truncated/);
  t.equal((fs.statSync(file).mode & 0o777), 0o600);

  const idle = await sshKey(t, d, 'carol', k.key, 'sleep 20');
  t.equal(idle.code, 255, 'idle connection closed by the server');
});

t.test('a missing run-as account fails the session clearly, never runs as root', async (t) => {
  t.setTimeout(30_000);
  const d: SshDaemon = await startSshDaemon(t, ['--ssh-run-as', 'no-such-user-outpost']);
  const k = makeKey(t);
  await createUser(t, d, 'dave', { keys: [k.pub] });
  const r = await sshKey(t, d, 'dave', k.key, 'id -u');
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, /no-such-user-outpost.*does not exist/);
  t.ok(auditLines(d).some((l) => l.event === 'run_as_missing' && l.user === 'dave'), 'audited');
  const sftp = await sshKey(t, d, 'dave', k.key, 'sftp', ['-s']);
  t.equal(sftp.code, 1, 'the sftp subsystem is refused too');
  t.match(sftp.stderr, /does not exist/);
});
