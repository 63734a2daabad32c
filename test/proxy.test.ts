// The HTTP and SOCKS5 proxies end to end with the real curl client: absolute-URI GET/POST,
// CONNECT tunnels, SOCKS5 by name and by address, authentication failures, denied targets with
// their counters by reason, and the raw SOCKS5 reply codes.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { startInProc, tempDir } from './helpers/daemon';
import { curl, socksAuth, socksConnectV4, socksExchange, socksGreeting, startSink, waitFor } from './helpers/proxy';

const PASS = 'test-proxy-password-0123456789';
const PROXY_ON = ['--proxy-enabled', 'true', '--http-proxy-port', '0', '--socks5-port', '0'];

async function setup(t: Test) {
  const sink = await startSink(t);
  const { daemon } = await startInProc(t, PROXY_ON, { PROXY_PASSWORD: PASS, OUTPOST_PROXY_ALLOW_CIDRS: '127.0.0.1/32', OUTPOST_PROXY_DENY_CIDRS: '203.0.113.0/24' });
  const proxy = daemon.proxy;
  const httpProxy = `http://_:${PASS}@127.0.0.1:${proxy.httpPort}`;
  const socks = ['--proxy-user', `_:${PASS}`];
  return { sink, daemon, proxy, httpProxy, socks, socksAddr: `127.0.0.1:${proxy.socks5Port}` };
}

t.test('HTTP proxy: absolute-URI requests', async (t) => {
  t.setTimeout(60_000);
  const { sink, proxy, httpProxy } = await setup(t);
  const base = `http://127.0.0.1:${sink.port}`;

  const get = await curl(['-x', httpProxy, `${base}/hello`]);
  t.equal(get.code, 0, get.stderr);
  t.equal(get.status, 200);
  t.equal(get.body, 'hello');
  const seen = sink.requests.at(-1)!;
  t.equal(seen['proxy-authorization'], undefined, 'credentials are not forwarded');
  t.equal(seen['proxy-connection'], undefined, 'hop-by-hop headers are not forwarded');
  t.equal(seen.host, `127.0.0.1:${sink.port}`);

  // A 3 MiB POST body streams through and comes back intact.
  const body = crypto.randomBytes(3 << 20).toString('base64url');
  const file = path.join(tempDir(t), 'body');
  fs.writeFileSync(file, body);
  const before = proxy.stats();
  const big = await curl(['-x', httpProxy, '--data-binary', `@${file}`, '-H', 'Content-Type: text/plain', `${base}/echo`]);
  t.equal(big.code, 0, big.stderr);
  t.equal(big.status, 200);
  t.equal(big.body.length, body.length);
  t.ok(big.body === body, 'echoed body matches');
  const after = proxy.stats();
  t.ok(after.bytes_up_total - before.bytes_up_total >= body.length, 'request body counted up');
  t.ok(after.bytes_down_total - before.bytes_down_total >= body.length, 'response body counted down');

  // Two requests in one curl run reuse the client connection (keep-alive to the client).
  const two = await curl(['-x', httpProxy, `${base}/hello`, `${base}/bytes/100000`]);
  t.equal(two.code, 0, two.stderr);
  t.ok(two.body.startsWith('hello'));
  t.equal(two.numConnects, 0, 'the second request reused the proxy connection');

  const missing = await curl(['-x', httpProxy, `${base}/nope`]);
  t.equal(missing.status, 404, 'upstream status passes through');

  // A dead target is a 502, not a hang.
  const dead = await curl(['-x', httpProxy, 'http://127.0.0.1:1/']);
  t.equal(dead.status, 502);
  t.match(JSON.parse(dead.body), { error: 'bad_gateway' });

  // Origin-form requests are not proxy requests.
  const origin = await curl([`http://127.0.0.1:${proxy.httpPort}/hello`]);
  t.equal(origin.status, 400);
});

t.test('HTTP proxy: CONNECT tunnels', async (t) => {
  t.setTimeout(60_000);
  const { sink, proxy, httpProxy } = await setup(t);
  const base = `http://127.0.0.1:${sink.port}`;
  const before = proxy.stats();
  const r = await curl(['-p', '-x', httpProxy, `${base}/bytes/2000000`]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.status, 200);
  t.equal(r.body.length, 2_000_000);
  const seen = sink.requests.at(-1)!;
  t.equal(seen['proxy-authorization'], undefined, 'the tunnel carries only the client\'s own request');
  await waitFor(() => proxy.stats().tunnels_closed_total > before.tunnels_closed_total);
  const s = proxy.stats();
  t.equal(s.http_connections_total - before.http_connections_total, 1);
  t.equal(s.tunnels_closed_normal_total - before.tunnels_closed_normal_total, 1);
  t.ok(s.bytes_down_total - before.bytes_down_total >= 2_000_000);
  t.equal(s.bytes_down_mb, Math.round((s.bytes_down_total / 1048576) * 10) / 10);

  const dead = await curl(['-p', '-x', httpProxy, 'http://127.0.0.1:1/']);
  t.not(dead.code, 0);
  t.match(dead.stderr, /CONNECT tunnel failed, response 502/);
});

t.test('SOCKS5: by name and by address', async (t) => {
  t.setTimeout(60_000);
  const { sink, proxy, socks, socksAddr } = await setup(t);
  const before = proxy.stats();
  const byName = await curl(['--socks5-hostname', socksAddr, ...socks, `http://localhost:${sink.port}/hello`]);
  t.equal(byName.code, 0, byName.stderr);
  t.equal(byName.body, 'hello');
  const byIp = await curl(['--socks5', socksAddr, ...socks, `http://127.0.0.1:${sink.port}/bytes/1000000`]);
  t.equal(byIp.code, 0, byIp.stderr);
  t.equal(byIp.body.length, 1_000_000);
  const body = crypto.randomBytes(1 << 20).toString('hex');
  const file = path.join(tempDir(t), 'body');
  fs.writeFileSync(file, body);
  const post = await curl(['--socks5-hostname', socksAddr, ...socks, '--data-binary', `@${file}`, `http://localhost:${sink.port}/echo`]);
  t.equal(post.code, 0, post.stderr);
  t.ok(post.body === body, 'echoed body matches');
  await waitFor(() => proxy.stats().tunnels_closed_total - before.tunnels_closed_total >= 3);
  const s = proxy.stats();
  t.equal(s.socks5_connections_total - before.socks5_connections_total, 3);
  t.equal(s.tunnels_closed_normal_total - before.tunnels_closed_normal_total, 3);
  t.ok(s.bytes_up_total - before.bytes_up_total >= body.length);

  const refused = await curl(['--socks5', socksAddr, ...socks, 'http://127.0.0.1:1/']);
  t.not(refused.code, 0);
  t.match(refused.stderr, /\(5\)/, 'connection refused (reply 0x05)');
});

t.test('authentication: wrong or missing credentials', async (t) => {
  t.setTimeout(60_000);
  const { sink, proxy, socksAddr } = await setup(t);
  const base = `http://127.0.0.1:${sink.port}`;
  const port = proxy.httpPort!;
  const before = sink.requests.length;

  for (const creds of ['_:wrong', `admin:${PASS}`, '']) {
    const proxyUrl = creds ? `http://${creds}@127.0.0.1:${port}` : `http://127.0.0.1:${port}`;
    const r = await curl(['-x', proxyUrl, '-D', '-', `${base}/hello`]);
    t.equal(r.status, 407, `absolute-URI with ${JSON.stringify(creds)}`);
    t.match(r.body, /Proxy-Authenticate: Basic realm="outpost proxy"/i);
    const c = await curl(['-p', '-x', proxyUrl, `${base}/hello`]);
    t.not(c.code, 0);
    t.match(c.stderr, /response 407/, `CONNECT with ${JSON.stringify(creds)}`);
  }
  const wrong = await curl(['--socks5', socksAddr, '--proxy-user', '_:wrong', `${base}/hello`]);
  t.not(wrong.code, 0);
  t.match(wrong.stderr, /rejected|authentication/i, wrong.stderr);
  const none = await curl(['--socks5', socksAddr, `${base}/hello`]);
  t.not(none.code, 0, 'no unauthenticated SOCKS5');
  t.match(none.stderr, /authentication method|No authentication/i, none.stderr);
  t.equal(sink.requests.length, before, 'nothing reached the target');
});

t.test('denied targets: HTTP 403 and SOCKS5 0x02, counted by reason', async (t) => {
  t.setTimeout(60_000);
  const { daemon, sink, proxy, httpProxy, socks, socksAddr } = await setup(t);
  const api = daemon.port;
  const httpDenied: Array<[string, string, boolean]> = [
    [`http://127.0.0.1:${api}/healthz`, 'agent_port_blocked', false],
    [`http://127.0.0.1:${proxy.socks5Port}/`, 'agent_port_blocked', true],
    ['http://169.254.169.254/latest/meta-data/', 'metadata_service_blocked', false],
    ['http://metadata.google.internal/computeMetadata/v1/', 'metadata_service_blocked', true],
    [`http://127.0.0.2:${sink.port}/hello`, 'localhost_blocked', false],
    [`http://[::1]:${sink.port}/hello`, 'localhost_blocked', true],
    ['http://203.0.113.7/', 'deny_list_blocked', false],
    ['http://169.254.10.10/', 'link_local_blocked', true],
  ];
  const want: Record<string, number> = {};
  for (const [url, reason, tunnel] of httpDenied) {
    const r = await curl([...(tunnel ? ['-p'] : []), '-x', httpProxy, url]);
    if (tunnel) {
      t.not(r.code, 0, url);
      t.match(r.stderr, /response 403/, url);
    } else {
      t.equal(r.status, 403, url);
      t.match(JSON.parse(r.body), { error: 'target_denied', details: { reason } }, url);
    }
    want[reason] = (want[reason] ?? 0) + 1;
  }
  const s1 = proxy.stats();
  t.same(s1.http_blocked_by_reason, want);
  t.equal(s1.http_blocked_total, httpDenied.length);
  t.equal(s1.http_connections_total, httpDenied.length);

  const socksDenied: Array<[string, string, string]> = [
    ['--socks5', `http://127.0.0.1:${api}/healthz`, 'agent_port_blocked'],
    ['--socks5-hostname', `http://localhost:${api}/healthz`, 'agent_port_blocked'],
    ['--socks5', 'http://169.254.169.254/', 'metadata_service_blocked'],
    ['--socks5-hostname', 'http://metadata.google.internal/', 'metadata_service_blocked'],
    ['--socks5', `http://127.0.0.3:${sink.port}/`, 'localhost_blocked'],
    ['--socks5', `http://[::1]:${sink.port}/`, 'localhost_blocked'],
    ['--socks5', 'http://203.0.113.8:2375/', 'deny_list_blocked'],
    ['--socks5', 'http://198.51.100.1:2375/', 'docker_port_blocked'],
  ];
  const wantSocks: Record<string, number> = {};
  for (const [mode, url, reason] of socksDenied) {
    const r = await curl([mode, socksAddr, ...socks, url]);
    t.not(r.code, 0, url);
    t.match(r.stderr, /SOCKS5 connection to .*\(2\)/, `${url}: reply 0x02`);
    wantSocks[reason] = (wantSocks[reason] ?? 0) + 1;
  }
  const s2 = proxy.stats();
  t.same(s2.socks5_blocked_by_reason, wantSocks);
  t.equal(s2.socks5_blocked_total, socksDenied.length);
  t.equal(s2.socks5_connections_total, socksDenied.length);
  t.equal(s2.tunnels_closed_total, 0, 'no tunnel was opened');
  t.equal(sink.requests.length, 0, 'nothing reached the sink');
});

t.test('SOCKS5 protocol: reply codes for unsupported commands and address types', async (t) => {
  t.setTimeout(30_000);
  const { sink, proxy } = await setup(t);
  const port = proxy.socks5Port!;
  const auth = socksAuth('_', PASS);

  const noMethod = await socksExchange(port, [{ send: Buffer.from([0x05, 0x01, 0x00]), expect: 2 }]);
  t.same([...noMethod[0]], [0x05, 0xff], 'no-auth only: no acceptable method');

  const badPass = await socksExchange(port, [{ send: socksGreeting, expect: 2 }, { send: socksAuth('_', 'nope'), expect: 2 }]);
  t.same([...badPass[1]], [0x01, 0x01], 'RFC 1929 failure status');

  const bind = await socksExchange(port, [{ send: socksGreeting, expect: 2 }, { send: auth, expect: 2 }, { send: socksConnectV4(0x02, '127.0.0.1', sink.port), expect: 10 }]);
  t.same([...bind[0]], [0x05, 0x02]);
  t.same([...bind[1]], [0x01, 0x00]);
  t.equal(bind[2][1], 0x07, 'BIND: command not supported');

  const udp = await socksExchange(port, [{ send: socksGreeting, expect: 2 }, { send: auth, expect: 2 }, { send: socksConnectV4(0x03, '127.0.0.1', sink.port), expect: 10 }]);
  t.equal(udp[2][1], 0x07, 'UDP ASSOCIATE: command not supported');

  const atyp = await socksExchange(port, [{ send: socksGreeting, expect: 2 }, { send: auth, expect: 2 }, { send: Buffer.from([0x05, 0x01, 0x00, 0x09, 1, 2, 3, 4, 0, 80]), expect: 10 }]);
  t.equal(atyp[2][1], 0x08, 'unknown ATYP: address type not supported');

  // A successful CONNECT answers 0x00 with the bound address, then carries bytes.
  const ok = await socksExchange(port, [
    { send: socksGreeting, expect: 2 }, { send: auth, expect: 2 },
    { send: socksConnectV4(0x01, '127.0.0.1', sink.port), expect: 10 },
    { send: Buffer.from('GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), expect: 17 },
  ]);
  t.same([...ok[2].subarray(0, 4)], [0x05, 0x00, 0x00, 0x01]);
  t.same([...ok[2].subarray(4, 8)], [127, 0, 0, 1]);
  t.equal(ok[3].toString(), 'HTTP/1.1 200 OK\r\n');
});

t.test('wrong logins are limited per source address; the right password is refused too once over the limit', async (t) => {
  t.setTimeout(60_000);
  const sink = await startSink(t);
  const { daemon } = await startInProc(t, PROXY_ON, { PROXY_PASSWORD: PASS, OUTPOST_PROXY_ALLOW_CIDRS: '127.0.0.1/32', OUTPOST_PROXY_AUTH_FAILURES_PER_MINUTE: '3' });
  const proxy = daemon.proxy;
  const target = `http://127.0.0.1:${sink.port}/hello`;
  // No credentials at all is the normal first step of the challenge: it does not count.
  for (let i = 0; i < 5; i++) t.equal((await curl(['-x', `http://127.0.0.1:${proxy.httpPort}`, target])).status, 407);
  t.equal((await curl(['-x', `http://_:${PASS}@127.0.0.1:${proxy.httpPort}`, target])).status, 200, 'missing credentials did not use up the budget');
  // Wrong passwords, over HTTP and SOCKS5, share the address's budget of 3.
  t.equal((await curl(['-x', `http://_:wrong1@127.0.0.1:${proxy.httpPort}`, target])).status, 407);
  t.equal((await curl(['-p', '-x', `http://_:wrong2@127.0.0.1:${proxy.httpPort}`, target])).code !== 0, true, 'CONNECT with a wrong password fails');
  const bad = await socksExchange(proxy.socks5Port!, [{ send: socksGreeting, expect: 2 }, { send: socksAuth('_', 'wrong3'), expect: 2 }]);
  t.same([...bad[1]], [0x01, 0x01], 'SOCKS5 wrong password');
  // Over the limit: refused before the credentials are looked at, right password or not.
  const limited = await curl(['-x', `http://_:${PASS}@127.0.0.1:${proxy.httpPort}`, target]);
  t.equal(limited.status, 429, 'absolute-URI request: 429');
  const connect = await curl(['-v', '-p', '-x', `http://_:${PASS}@127.0.0.1:${proxy.httpPort}`, target]);
  t.match(connect.stderr, /429 Too Many Requests/, 'CONNECT: 429');
  const socks = await socksExchange(proxy.socks5Port!, [{ send: socksGreeting, expect: 2 }]);
  t.equal(socks[0].length, 0, 'SOCKS5: closed before the greeting is answered');
  t.equal(sink.requests.length, 1, 'only the one authenticated request reached the target');
});
