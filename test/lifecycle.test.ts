// Startup states, SIGTERM drain (in-flight writes finish, new requests get 503, exit 0),
// restart with a different partition count, the native backend report, SIGHUP reload, a
// closed stdout at shutdown and a second SIGTERM.
import t from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Pool, request } from 'undici';
import { b64, ROOT, runDaemon, spawnDaemon, tempDir } from './helpers/daemon';
import { until } from './helpers/wait';

t.test('SIGTERM drains in-flight writes and exits 0', async (t) => {
  const dataDir = tempDir(t);
  const d = await spawnDaemon(t, ['--data-dir', dataDir]);
  const pool = new Pool(d.url, { connections: 32 });
  let stop = false;
  const acked: string[] = [];
  let unavailable = 0;
  let other = 0;
  const writers = Array.from({ length: 32 }, async (_, c) => {
    for (let i = 0; !stop; i++) {
      try {
        const r = await pool.request({ method: 'PUT', path: `/api/v1/kv/drain/k${c}-${i}`, body: JSON.stringify({ value: b64('v') }), headers: { 'content-type': 'application/json' } });
        const body = (await r.body.json()) as { error?: string };
        if (r.statusCode === 200) acked.push(`k${c}-${i}`);
        else if (r.statusCode === 503 && body.error === 'unavailable') unavailable++;
        else other++;
      } catch {
        return; // connection closed by the draining server
      }
    }
  });
  await until('writes in flight', () => acked.length >= 100 || other > 0, 30_000);
  d.proc.kill('SIGTERM');
  const exit = await d.exited;
  stop = true;
  await Promise.all(writers);
  await pool.destroy();
  t.equal(exit.code, 0, 'exit code 0');
  t.equal(other, 0, 'no request failed with anything but 503 unavailable');
  t.match(d.stdout(), /"msg":"draining"/);
  t.match(d.stdout(), /"drained":true[^\n]*"msg":"stopped"/);
  t.comment(`${acked.length} writes acknowledged, ${unavailable} answered 503 while draining`);
  // Every write acknowledged before the exit is there after a restart.
  const d2 = await spawnDaemon(t, ['--data-dir', dataDir]);
  let missing = 0;
  for (const k of acked) {
    const r = await request(`${d2.url}/api/v1/kv/drain/${k}`);
    await r.body.dump();
    if (r.statusCode !== 200) missing++;
  }
  t.equal(missing, 0, `all ${acked.length} acknowledged writes present`);
  d2.proc.kill('SIGTERM');
  t.equal((await d2.exited).code, 0);
});

t.test('partition count is fixed at creation: a mismatch is refused clearly', async (t) => {
  const dataDir = tempDir(t);
  const d = await spawnDaemon(t, ['--data-dir', dataDir, '--partitions', '2']);
  d.proc.kill('SIGTERM');
  await d.exited;
  const r = await runDaemon(['--data-dir', dataDir, '--partitions', '3', '--api-port', '0']);
  t.equal(r.code, 1);
  t.match(r.stderr, /created with 2 partitions but 3 are configured; set partitions = 2/);
});

t.test('port in use: clear startup error', async (t) => {
  const blocker = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => blocker.once('listening', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const r = await runDaemon(['--data-dir', tempDir(t), '--api-port', String(port)]);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
});

t.test('native report: the uWS fallback is detected, reported and logged', async (t) => {
  const d = await spawnDaemon(t, ['--data-dir', tempDir(t)], { UWS_USE_FALLBACK: '1' });
  const h = (await (await request(`${d.url}/api/v1/health`)).body.json()) as any;
  t.equal(h.backends.uws.backend, 'fallback');
  t.match(h.warnings[0], /slow JavaScript fallback/);
  t.match(d.stdout(), /"level":"warn"[^\n]*slow JavaScript fallback/);
  d.proc.kill('SIGTERM');
  t.equal((await d.exited).code, 0);
});

t.test('--help and --version', async (t) => {
  const h = await runDaemon(['--help']);
  t.equal(h.code, 0);
  t.match(h.stdout, /--data-dir/);
  t.match(h.stdout, /\$API_KEY/);
  const v = await runDaemon(['--version']);
  t.match(v.stdout, /^outpostd \d+\.\d+\.\d+/);
});

t.test('--wait-ready: the readiness check systemd runs', async (t) => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => probe.once('listening', r));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const notYet = await runDaemon(['--api-port', String(port), '--wait-ready', '1']);
  t.equal(notYet.code, 1, 'nothing listening: exit 1');
  t.match(notYet.stderr, /not ready after 1 s/);
  const d = await spawnDaemon(t, ['--data-dir', tempDir(t), '--api-port', String(port)]);
  const ready = await runDaemon(['--api-port', String(port), '--wait-ready', '10']);
  t.equal(ready.code, 0, 'daemon up: exit 0');
  t.match(ready.stdout, /ready at http:\/\/127\.0\.0\.1/);
  d.proc.kill('SIGTERM');
  t.equal((await d.exited).code, 0);
});

t.test('SIGHUP reloads the config file: reloadable settings applied, the others reported, an invalid file changes nothing', async (t) => {
  t.setTimeout(60_000);
  const dir = tempDir(t);
  const conf = path.join(dir, 'outpost.toml');
  fs.writeFileSync(conf, 'log_level = "info"\n');
  const d = await spawnDaemon(t, ['--config', conf, '--data-dir', path.join(dir, 'data')]);
  const put = async () => {
    const r = await request(`${d.url}/api/v1/kv/reload/big`, { method: 'PUT', body: JSON.stringify({ value: b64('x'.repeat(3000)) }), headers: { 'content-type': 'application/json' } });
    await r.body.dump();
    return r.statusCode;
  };
  t.equal(await put(), 200, 'a 4 KB body is accepted with the default http.max_body_bytes');
  t.notMatch(d.stdout(), /"level":"debug"/, 'no debug lines at log_level info');

  fs.writeFileSync(conf, 'log_level = "debug"\n[http]\nmax_body_bytes = 1024\n[core]\nworkers = 3\n');
  d.proc.kill('SIGHUP');
  const line = await until('the reload log line', () => d.stdout().split('\n').find((l) => l.includes('"msg":"configuration reloaded')), 20_000);
  const rec = JSON.parse(line) as { applied: Array<{ key: string; from: unknown; to: unknown }>; needs_restart: Array<{ key: string }> };
  t.same(rec.applied, [{ key: 'log_level', from: 'info', to: 'debug' }, { key: 'http.max_body_bytes', from: 2 << 20, to: 1024 }], 'says what it applied');
  t.same(rec.needs_restart.map((c) => c.key), ['core.workers'], 'and what needs a restart');
  await until('a debug line', () => /"level":"debug"/.test(d.stdout()), 20_000);
  t.equal((await request(`${d.url}/healthz`)).statusCode, 200, 'still serving');
  t.equal(await put(), 413, 'the new http.max_body_bytes applies');

  fs.writeFileSync(conf, 'log_level = \n');
  d.proc.kill('SIGHUP');
  await until('the reload error', () => d.stdout().includes('reload failed: the configuration is invalid; keeping the running one'), 20_000);
  t.equal(await put(), 413, 'an invalid file leaves the running configuration as it was');
  t.equal(d.proc.exitCode, null, 'and the daemon running');
  d.proc.kill('SIGTERM');
  t.equal((await d.exited).code, 0);
});

t.test('a closed stdout does not block shutdown', async (t) => {
  t.setTimeout(60_000);
  const d = await spawnDaemon(t, ['--data-dir', tempDir(t)], { OUTPOST_HTTP_DRAIN_TIMEOUT_MS: '2000' });
  d.proc.stdout!.destroy(); // the reader of the log pipe goes away: every log write now fails with EPIPE
  t.equal((await request(`${d.url}/healthz`)).statusCode, 200, 'serving without anyone reading the logs');
  d.proc.kill('SIGTERM');
  const exit = await Promise.race([d.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000).unref())]);
  t.same(exit, { code: 0, signal: null }, 'drains and exits 0 (well within 20 s for a 2 s drain timeout)');
});

t.test('a second SIGTERM while draining exits at once', async (t) => {
  t.setTimeout(60_000);
  // A drain that would take ten minutes: an upload that stalls half-way holds it.
  const d = await spawnDaemon(t, ['--data-dir', tempDir(t)], { OUTPOST_HTTP_DRAIN_TIMEOUT_MS: '600000' });
  const sock = net.connect(d.port, '127.0.0.1');
  t.teardown(() => sock.destroy());
  sock.on('error', () => undefined);
  sock.write('PUT /api/v1/kv/slow/k HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"value":');
  await until('the stalled upload in flight', async () => {
    const m = await (await request(`${d.url}/metrics`)).body.text();
    return Number(/^outpost_http_requests_inflight(?:\{[^}]*\})? (\d+)/m.exec(m)?.[1]) >= 2; // it and this scrape
  }, 20_000);
  d.proc.kill('SIGTERM');
  await until('draining', () => /"msg":"draining"/.test(d.stdout()), 20_000);
  t.equal(d.proc.exitCode, null, 'the first SIGTERM waits for the upload');
  d.proc.kill('SIGTERM');
  const exit = await Promise.race([d.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 20_000).unref())]);
  t.same(exit, { code: 1, signal: null }, 'the second one exits now, non-zero');
  t.match(d.stderr(), /second SIGTERM while draining: exiting now/, 'and says so on stderr');
});

t.test('the README names exactly the reloadable settings', async (t) => {
  const { FIELDS } = await import('../daemon/config/config');
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const para = /\*\*Reloading\.\*\*([\s\S]*?)\n\n/.exec(readme)?.[1] ?? '';
  const named = new Set([...para.matchAll(/`([a-z_]+(?:\.[a-z_0-9]+)?)`/g)].map((m) => m[1]).filter((k) => FIELDS.some((f) => f.key === k)));
  t.same([...named].sort(), FIELDS.filter((f) => f.reload).map((f) => f.key).sort());
});
