// Startup states, SIGTERM drain (in-flight writes finish, new requests get 503, exit 0),
// restart with a different partition count, and the native backend report.
import t from 'tap';
import net from 'node:net';
import { Pool, request } from 'undici';
import { b64, runDaemon, spawnDaemon, tempDir } from './helpers/daemon';

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
  await new Promise((r) => setTimeout(r, 500));
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
