// The pure parts of webhooks, table-driven: the SSRF address policy (both settings), IPv4
// embedded in IPv6, the guarded lookup handed to sockets, the retry backoff (exponential,
// jittered, capped, at least Retry-After), Retry-After parsing and the date-only filter rules.
import t from 'tap';
import { WebhookDispatcher } from '../daemon/admin/webhooks/dispatcher';
import { AddressPolicy, embeddedIPv4, guardedLookup } from '../daemon/admin/webhooks/ssrf';
import { parseDateBound } from '../daemon/admin/webhooks/query';
import { parseRetryAfter } from '../plugins/notifiers/http';
import type { Resolver } from '../daemon/admin/webhooks/ports';

t.test('address policy', async (t) => {
  const strict = new AddressPolicy(false);
  const lax = new AddressPolicy(true);
  // [address, denied by default, denied even with WEBHOOK_ALLOW_PRIVATE_IPS]
  const table: Array<[string, boolean, boolean]> = [
    ['93.184.215.14', false, false], ['8.8.8.8', false, false], ['2606:4700:4700::1111', false, false],
    ['127.0.0.1', true, false], ['127.255.255.254', true, false], ['::1', true, false],
    ['10.0.0.1', true, false], ['172.16.0.1', true, false], ['172.31.255.255', true, false], ['172.32.0.1', false, false],
    ['192.168.0.1', true, false], ['100.64.0.1', true, false], ['100.127.255.254', true, false], ['100.128.0.1', false, false],
    ['169.254.1.1', true, false], ['fe80::1', true, false], ['fc00::1', true, false], ['fd12:3456::1', true, false],
    ['0.0.0.0', true, false], ['0.1.2.3', true, false], ['::', true, false],
    ['::ffff:127.0.0.1', true, false], ['::ffff:10.0.0.1', true, false], ['::ffff:93.184.215.14', false, false],
    ['64:ff9b::a00:1', true, false], ['2002:7f00:1::', true, false],
    ['169.254.169.254', true, true], ['::ffff:169.254.169.254', true, true], ['fd00:ec2::254', true, true], ['169.254.170.2', true, true],
    ['100.100.100.200', true, true], ['224.0.0.1', true, true], ['255.255.255.255', true, true], ['ff02::1', true, true],
  ];
  for (const [ip, byDefault, always] of table) {
    t.equal(strict.checkIp(ip) !== null, byDefault, `${ip} ${byDefault ? 'denied' : 'allowed'} by default (${strict.checkIp(ip)})`);
    t.equal(lax.checkIp(ip) !== null, always, `${ip} ${always ? 'denied' : 'allowed'} with private IPs allowed`);
  }
  t.match(strict.checkIp('10.1.1.1'), /private network \(RFC 1918\).*WEBHOOK_ALLOW_PRIVATE_IPS/);
  t.match(strict.checkIp('169.254.169.254'), /cloud metadata/);
  t.match(strict.checkHostname('metadata.google.internal.'), /metadata/);
  t.match(lax.checkHostname('Metadata.Google.Internal'), /metadata/, 'metadata names stay denied');
  t.match(strict.checkHostname('localhost'), /loopback/);
  t.equal(lax.checkHostname('localhost'), null);
  t.equal(strict.checkHostname('example.com'), null);
  t.equal(embeddedIPv4('::ffff:7f00:1'), '127.0.0.1');
  t.equal(embeddedIPv4('::ffff:192.168.1.2'), '192.168.1.2');
  t.equal(embeddedIPv4('2002:a9fe:a9fe::1'), '169.254.169.254');
  t.equal(embeddedIPv4('2001:db8::1'), null);
});

t.test('guarded lookup: checks every answer, pins what it checked, honours family and all', async (t) => {
  const answers: Record<string, Array<{ address: string; family: 4 | 6 }>> = {
    'pub.test': [{ address: '93.184.215.14', family: 4 }, { address: '2606:4700::6810:84e5', family: 6 }],
    'mixed.test': [{ address: '93.184.215.14', family: 4 }, { address: '10.0.0.7', family: 4 }],
  };
  const resolve: Resolver = async (h) => { if (answers[h]) return answers[h]; throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' }); };
  const lookup = guardedLookup(new AddressPolicy(false), resolve);
  const call = (host: string, opts: { all?: boolean; family?: number }) => new Promise<{ err: any; addr: any; family?: number }>((r) => lookup(host, opts, (err, addr, family) => r({ err, addr, family })));
  let r = await call('pub.test', { all: true });
  t.same(r.addr, [{ address: '93.184.215.14', family: 4 }, { address: '2606:4700::6810:84e5', family: 6 }]);
  r = await call('pub.test', { family: 6 });
  t.equal(r.addr, '2606:4700::6810:84e5');
  t.equal(r.family, 6);
  r = await call('mixed.test', { all: true });
  t.equal(r.err?.code, 'WEBHOOK_SSRF_DENIED', 'one private answer denies the name');
  r = await call('nx.test', {});
  t.equal(r.err?.code, 'ENOTFOUND');
  r = await call('metadata.google.internal', {});
  t.equal(r.err?.code, 'WEBHOOK_SSRF_DENIED', 'denied before resolving');
});

t.test('backoff: exponential, jittered within [50 %, 100 %], capped, at least Retry-After', async (t) => {
  const mk = (random: number) => new WebhookDispatcher({ retryBaseMs: 1000, retryMaxMs: 60_000, random: () => random } as never);
  const lo = mk(0);
  const hi = mk(1);
  t.same([1, 2, 3, 4].map((n) => lo.backoff(n)), [500, 1000, 2000, 4000]);
  t.same([1, 2, 3, 4].map((n) => hi.backoff(n)), [1000, 2000, 4000, 8000]);
  t.equal(hi.backoff(20), 60_000, 'capped');
  t.equal(lo.backoff(1, 30_000), 30_000, 'Retry-After wins when longer');
  t.equal(hi.backoff(3, 10), 4000, 'but never shortens the backoff');
  t.equal(lo.backoff(1, 3_600_000), 60_000, 'an absurd Retry-After is capped');
  t.equal(parseRetryAfter('120'), 120_000);
  t.equal(parseRetryAfter(undefined), undefined);
  t.equal(parseRetryAfter('soon'), undefined);
  const d = parseRetryAfter(new Date(Date.now() + 60_000).toUTCString())!;
  t.ok(d > 55_000 && d <= 60_000, 'HTTP-date form');
});

t.test('date-only filter bounds', async (t) => {
  t.equal(parseDateBound('2026-04-15', false), '2026-04-15T00:00:00.000Z');
  t.equal(parseDateBound('2026-04-15', true), '2026-04-15T23:59:59.999Z');
  t.equal(parseDateBound('2026-04-15T10:00:00Z', true), '2026-04-15T10:00:00.000Z');
  t.equal(parseDateBound('2026-04-15T12:00:00+02:00', false), '2026-04-15T10:00:00.000Z');
  t.equal(parseDateBound('2026-04-15T10:00', false), '2026-04-15T10:00:00.000Z', 'no zone = UTC');
  t.equal(parseDateBound('2026-02-30', false), null);
  t.equal(parseDateBound('15/04/2026', false), null);
});
