// Malformed HTTP over raw sockets: uWebSockets.js (v20.30) handles it before any daemon code
// runs (README, "Malformed HTTP"). This pins what it does: the server closes every such
// connection itself — at once for an unknown method or more than 4 KiB of unparsable head,
// otherwise at uWS's HTTP idle timeout — never answers 2xx or 5xx, and keeps serving others
// meanwhile. A uWS that answers 400/505 before closing passes too.
import net from 'node:net';
import t from 'tap';
import { request } from 'undici';
import { spawnDaemon, tempDir } from './helpers/daemon';

/** Writes `data` and resolves with what the server sent once the server closes the socket. */
function exchange(port: number, data: string): Promise<{ got: string; serverClosed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    let serverClosed = false;
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('end', () => { serverClosed = true; s.end(); });
    s.on('error', () => { serverClosed = true; });
    s.on('close', () => resolve({ got, serverClosed }));
    s.on('connect', () => s.write(data));
    // Far past uWS's idle timeout (10 s on a 4 s tick): only a connection that hangs gets here.
    setTimeout(() => s.destroy(), 30_000).unref();
  });
}

const CASES: Record<string, string> = {
  'garbage request line': 'HELLO WORLD\r\n\r\n',
  'LF-only line ends': 'GET /healthz HTTP/1.1\nHost: x\n\n',
  'unknown method': 'FOO /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
  'lower-case method': 'get /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
  'HTTP/1.0': 'GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n',
  'unsupported version': 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n',
  'TLS hello on the plain port': '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03',
  'more than 4 KiB of garbage': 'X'.repeat(5000),
};

t.test('malformed requests are closed by the server, never answered 2xx/5xx, and others are served', async (t) => {
  t.setTimeout(90_000);
  const d = await spawnDaemon(t, ['--data-dir', tempDir(t)]);
  const pending = Object.entries(CASES).map(async ([what, data]) => [what, await exchange(d.port, data)] as const);
  // While they are open, the daemon answers normally.
  const ok = await request(`${d.url}/healthz`);
  t.equal(ok.statusCode, 200, 'a well-formed request is served meanwhile');
  await ok.body.text();
  for (const [what, r] of await Promise.all(pending)) {
    t.ok(r.serverClosed, `${what}: the server closed the connection`);
    t.ok(r.got === '' || /^HTTP\/1\.[01] 4\d\d /.test(r.got), `${what}: no answer, or a 4xx (got ${JSON.stringify(r.got.slice(0, 40))})`);
  }
  t.equal(d.proc.exitCode, null, 'the daemon is still running');
  const after = await request(`${d.url}/healthz`);
  await after.body.text();
  t.equal(after.statusCode, 200, 'and still serving');
});
