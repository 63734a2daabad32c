// A second daemon on a busy port must not start: uWS binds with SO_REUSEPORT unless told
// otherwise, and the kernel then splits connections between two daemons with two data stores.
// Every listener (data-plane API, admin API, proxies, SSH) fails start-up with a message naming
// the setting, the port and the process holding it; the first daemon keeps serving.
import net from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { runDaemon, spawnDaemon, tempDir, AGENT_OFF } from './helpers/daemon';

const KEY = 'listen-exclusive-key';

/**
 * A port the OS hands out now, then released. The first daemon must bind a fixed port: Linux
 * keeps a socket that was bound to port 0 out of SO_REUSEPORT sharing, so only an explicit port
 * shows the double bind.
 */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

t.test('a busy port stops the second daemon with a message naming the port and its holder', async (t) => {
  t.setTimeout(90_000);
  const [apiPort, adminPort, proxyPort] = [await freePort(), await freePort(), await freePort()];
  const first = await spawnDaemon(t, ['--data-dir', tempDir(t), '--api-port', String(apiPort), '--admin', 'true', '--admin-port', String(adminPort), '--proxy-enabled', 'true', '--http-proxy-port', String(proxyPort), '--socks5-port', '0'], { MASTER_KEY: KEY });
  t.equal(first.port, apiPort, 'the first daemon listens on the chosen API port');
  const pid = first.proc.pid!;

  const cases: Array<[string, string[]]> = [
    ['api_port', ['--api-port', String(first.port)]],
    ['admin.port', ['--api-port', '0', '--admin', 'true', '--admin-port', String(adminPort)]],
    ['proxy.http_port', ['--api-port', '0', '--proxy-enabled', 'true', '--http-proxy-port', String(proxyPort), '--socks5-port', '0']],
  ];
  for (const [setting, args] of cases) {
    const port = args[args.indexOf(setting === 'api_port' ? '--api-port' : setting === 'admin.port' ? '--admin-port' : '--http-proxy-port') + 1];
    const r = await runDaemon(['--data-dir', tempDir(t), ...AGENT_OFF, ...args], { MASTER_KEY: KEY }, 30_000);
    t.not(r.code, 0, `${setting}: the second daemon exits non-zero`);
    t.match(r.stderr, new RegExp(`startup failed: ${setting.replace('.', '\\.')}: cannot listen on 127\\.0\\.0\\.1:${port}: port ${port} is already in use by pid ${pid} \\(`), `${setting}: stderr names the setting, the port and the holder`);
    t.notMatch(r.stdout, /outpostd listening/, `${setting}: it never reported listening`);
  }

  t.equal(first.proc.exitCode, null, 'the first daemon is still running');
  for (const base of [first.url, `http://127.0.0.1:${adminPort}`]) {
    const res = await request(`${base}/healthz`);
    await res.body.text();
    t.equal(res.statusCode, 200, `${base} still answers`);
  }
  // Every connection reaches the first daemon: a key written there is read back many times.
  const put = await request(`${first.url}/api/v1/kv/x/k`, { method: 'PUT', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' }, body: JSON.stringify({ value: 'aGk=' }) });
  await put.body.text();
  for (let i = 0; i < 20; i++) {
    const g = await request(`${first.url}/api/v1/kv/x/k`, { headers: { authorization: `Bearer ${KEY}`, connection: 'close' } });
    await g.body.text();
    if (g.statusCode !== 200) { t.fail(`read ${i} got ${g.statusCode}`); break; }
  }
});
