// Pre-auth SSH connections: a socket that sends nothing, or only a version banner, is closed
// after ssh.preauth_timeout_ms (ssh2 reports a connection only after the client's banner, so a
// silent socket used to stay open for good) and audited; a real login is not cut short by it.
import net from 'node:net';
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { startInProc, tempDir } from './helpers/daemon';
import { auditLines, createUser, eventually, makeKey, sshKey, startSshDaemon } from './helpers/ssh';

/** Connects, writes `send` (if any), and resolves with what the server sent once it closes. */
function rawSession(port: number, send?: string): { closed: Promise<string>; sock: net.Socket } {
  const sock = net.connect(port, '127.0.0.1');
  let got = '';
  sock.on('data', (d) => { got += d.toString('latin1'); });
  sock.on('error', () => { /* a reset is a close too */ });
  if (send !== undefined) sock.on('connect', () => sock.write(send));
  return { sock, closed: new Promise((resolve) => sock.on('close', () => resolve(got))) };
}

t.test('silent and banner-only connections are closed well inside the 60 s login grace', async (t) => {
  t.setTimeout(60_000);
  const d = await startSshDaemon(t, [], { OUTPOST_SSH_PREAUTH_TIMEOUT_MS: '500' });
  const silent = rawSession(d.sshPort);
  const banner = rawSession(d.sshPort, 'SSH-2.0-probe_1.0\r\n');
  t.teardown(() => { silent.sock.destroy(); banner.sock.destroy(); });
  // The test's own bound (20 s) is a third of the login grace: only the pre-auth timer can close them.
  const bounded = (p: Promise<string>, what: string) => Promise.race([p, new Promise<string>((_, reject) => setTimeout(() => reject(new Error(`${what} still open after 20 s`)), 20_000).unref())]);
  const [silentGot, bannerGot] = await Promise.all([bounded(silent.closed, 'the silent connection'), bounded(banner.closed, 'the banner-only connection')]);
  t.match(silentGot, /^SSH-2\.0-OutpostSSH/, 'the silent client got the server banner, then the close');
  t.match(bannerGot, /^SSH-2\.0-OutpostSSH/, 'the banner-only client got the server banner, then the close');
  const events = await eventually(() => {
    const e = auditLines(d).filter((l) => l.event === 'preauth_timeout');
    return e.length >= 2 ? e : undefined;
  });
  t.equal(events![0].source_address, '127.0.0.1', 'audited with the source address');
  t.match(events![0].reason, /no authentication started within 500 ms/);
});

t.test('a session that outlives the pre-auth timeout is not cut short', async (t) => {
  t.setTimeout(60_000);
  const d = await startSshDaemon(t, [], { OUTPOST_SSH_PREAUTH_TIMEOUT_MS: '300' });
  const k = makeKey(t, 'ed25519');
  await createUser(t, d, 'alice', { keys: [k.pub] });
  const r = await sshKey(t, d, 'alice', k.key, 'sleep 1; echo still-here');
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), 'still-here', 'the session outlived the pre-auth timeout');
  t.equal(auditLines(d).filter((l) => l.event === 'preauth_timeout').length, 0, 'no pre-auth timeout for it');
});

t.test('the admin SSH jump closes a silent connection too', async (t) => {
  t.setTimeout(60_000);
  const keys = path.join(tempDir(t), 'authorized_keys');
  fs.writeFileSync(keys, '');
  const { daemon } = await startInProc(t, ['--admin', 'true', '--admin-port', '0', '--admin-ssh-port', '0', '--admin-ssh-authorized-keys', keys], { MASTER_KEY: 'preauth-jump', OUTPOST_SSH_PREAUTH_TIMEOUT_MS: '500' });
  const silent = rawSession(daemon.admin!.jumpPort!);
  t.teardown(() => silent.sock.destroy());
  const got = await Promise.race([silent.closed, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('the silent jump connection is still open after 20 s')), 20_000).unref())]);
  t.match(got, /^SSH-2\.0-outpost-jump/, 'it got the jump banner, then the close');
});
