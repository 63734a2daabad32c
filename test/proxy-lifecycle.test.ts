// Proxy lifecycle with the real curl client: idle tunnels closed at the deadline, shutdown
// draining (finishing tunnels end normally, stuck ones are closed at the grace), and the proxy
// password generated once, stored 0600, reused, and never logged.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import t from 'tap';
import { spawnDaemon, startInProc, tempDir } from './helpers/daemon';
import { curl, startSilent, startSink, waitFor } from './helpers/proxy';

const PASS = 'lifecycle-proxy-password-42';
const PROXY_ON = ['--proxy-enabled', 'true', '--http-proxy-port', '0', '--socks5-port', '0'];

t.test('idle tunnels are closed at the deadline (HTTP CONNECT and SOCKS5)', async (t) => {
  t.setTimeout(60_000);
  const silent = await startSilent(t);
  const { daemon } = await startInProc(t, PROXY_ON, { PROXY_PASSWORD: PASS, OUTPOST_PROXY_ALLOW_CIDRS: '127.0.0.1/32', OUTPOST_PROXY_IDLE_TIMEOUT_MS: '1000' });
  const p = daemon.proxy;
  const viaConnect = await curl(['-p', '-x', `http://_:${PASS}@127.0.0.1:${p.httpPort}`, `http://127.0.0.1:${silent.port}/`]);
  t.equal(viaConnect.code, 52, `curl saw the tunnel close with no reply: ${viaConnect.stderr}`);
  const viaSocks = await curl(['--socks5', `127.0.0.1:${p.socks5Port}`, '--proxy-user', `_:${PASS}`, `http://127.0.0.1:${silent.port}/`]);
  t.equal(viaSocks.code, 52, viaSocks.stderr);
  await waitFor(() => p.stats().tunnels_closed_total === 2);
  const s = p.stats();
  t.equal(s.tunnels_closed_deadline_total, 2);
  t.equal(s.tunnels_closed_normal_total, 0);
  t.ok(s.bytes_up_total > 0, 'the request bytes went up before the deadline');
  await waitFor(() => silent.sockets.size === 0);
  t.pass('the target side was closed too');
});

t.test('shutdown drains: finishing tunnels end normally, stuck ones are closed at the grace', async (t) => {
  t.setTimeout(60_000);
  const silent = await startSilent(t);
  const sink = await startSink(t);
  const { daemon } = await startInProc(t, PROXY_ON, { PROXY_PASSWORD: PASS, OUTPOST_PROXY_ALLOW_CIDRS: '127.0.0.1/32', OUTPOST_HTTP_DRAIN_TIMEOUT_MS: '2000' });
  const p = daemon.proxy;
  const httpPort = p.httpPort!;
  const stuck = curl(['-p', '-x', `http://_:${PASS}@127.0.0.1:${httpPort}`, `http://127.0.0.1:${silent.port}/`]);
  await waitFor(() => p.tunnels.size === 1);
  const slow = curl(['--socks5', `127.0.0.1:${p.socks5Port}`, '--proxy-user', `_:${PASS}`, `http://127.0.0.1:${sink.port}/slow`]);
  await waitFor(() => p.tunnels.size === 2);
  const closed = daemon.close();
  // Not accepting any more.
  const refused = await new Promise<string>((resolve) => {
    const s = net.connect(httpPort, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve('connected'); });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
  t.equal(refused, 'ECONNREFUSED', 'new connections are refused while draining');
  const [slowResult, stuckResult] = await Promise.all([slow, stuck]);
  t.equal(slowResult.code, 0, slowResult.stderr);
  t.equal(slowResult.body, 'slow done', 'the tunnel in use finished during the grace');
  t.not(stuckResult.code, 0, 'the stuck tunnel was closed');
  await closed;
  const s = p.stats();
  t.equal(s.tunnels_closed_drain_timeout_total, 1);
  t.equal(s.tunnels_closed_normal_total, 1);
  t.equal(s.tunnels_closed_total, 2);
});

t.test('proxy password: generated once, 0600, reused after restart, never logged', async (t) => {
  t.setTimeout(60_000);
  const sink = await startSink(t);
  const dataDir = tempDir(t);
  const args = ['--data-dir', dataDir, ...PROXY_ON];
  const env = { OUTPOST_PROXY_ALLOW_CIDRS: '127.0.0.1/32' };
  const file = path.join(dataDir, 'agent', 'proxy_password');

  const first = await spawnDaemon(t, args, env);
  const password = fs.readFileSync(file, 'utf8').trim();
  t.match(password, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  const ports = JSON.parse(first.stdout().split('\n').find((l) => l.includes('"proxies listening"'))!);
  t.match(first.stdout(), file, 'the log says where the password is');
  const ok = await curl(['-x', `http://_:${password}@127.0.0.1:${ports.http_port}`, `http://127.0.0.1:${sink.port}/hello`]);
  t.equal(ok.body, 'hello', ok.stderr);
  first.proc.kill('SIGTERM');
  t.match(await first.exited, { code: 0 });
  t.notOk(first.stdout().includes(password) || first.stderr().includes(password), 'the password is not in the logs');

  const second = await spawnDaemon(t, args, env);
  t.equal(fs.readFileSync(file, 'utf8').trim(), password, 'the stored password is reused');
  const ports2 = JSON.parse(second.stdout().split('\n').find((l) => l.includes('"proxies listening"'))!);
  const again = await curl(['--socks5-hostname', `127.0.0.1:${ports2.socks5_port}`, '--proxy-user', `_:${password}`, `http://localhost:${sink.port}/hello`]);
  t.equal(again.body, 'hello', again.stderr);
  second.proc.kill('SIGTERM');
  await second.exited;

  // PROXY_PASSWORD wins and nothing new is written.
  const third = await spawnDaemon(t, args, { ...env, PROXY_PASSWORD: PASS });
  const ports3 = JSON.parse(third.stdout().split('\n').find((l) => l.includes('"proxies listening"'))!);
  const stored = await curl(['-x', `http://_:${password}@127.0.0.1:${ports3.http_port}`, `http://127.0.0.1:${sink.port}/hello`]);
  t.equal(stored.status, 407, 'the stored password does not apply when PROXY_PASSWORD is set');
  const configured = await curl(['-x', `http://_:${PASS}@127.0.0.1:${ports3.http_port}`, `http://127.0.0.1:${sink.port}/hello`]);
  t.equal(configured.body, 'hello');
  t.equal(fs.readFileSync(file, 'utf8').trim(), password, 'the stored password is left alone');
});

t.test('bad proxy CIDRs stop startup with the setting named', async (t) => {
  t.setTimeout(30_000);
  await t.rejects(startInProc(t, PROXY_ON, { OUTPOST_PROXY_DENY_CIDRS: '10.0.0.0/8,10.1.2.3/99' }), { name: 'ConfigError', message: /proxy\.deny_cidrs/ });
});
