// The egress policy (daemon/net), tested once for every consumer: one table of addresses — every
// address class, every metadata address, IPv4-mapped / NAT64 / 6to4 forms — judged by the three
// configurations in use (the proxies and ssh -L: LAN open; webhooks: strict; webhooks with
// WEBHOOK_ALLOW_PRIVATE_IPS), the host spellings a user or URL may give (decimal, octal, hex,
// short IPv4, brackets, zones, case, trailing dots), metadata and localhost names, allow/deny
// CIDRs and their precedence, checkTarget's resolution rules (every answer checked, resolved
// once, names never re-resolved), the socket lookup, and the URL check. No sockets, no DNS.
import t from 'tap';
import { ConfigError } from '../daemon/config/config';
import { embeddedIPv4, parseHostLiteral, parseIp } from '../daemon/net/address';
import { EGRESS_REASONS, EgressPolicy, METADATA_ADDRESSES, METADATA_NAMES, type EgressOptions, type EgressReason, type Resolver } from '../daemon/net/egress';

const API = 44000;
const SSH = 42222;
const interfaces = () => ({
  lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: '127.0.0.1/8' }],
  eth0: [
    { address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '192.0.2.2/24' },
    { address: 'fd00::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: 'fd00::2/64', scopeid: 0 },
  ],
  docker0: [{ address: '172.18.0.1', netmask: '255.255.0.0', family: 'IPv4', mac: '', internal: false, cidr: '172.18.0.1/16' }],
  'br-3f2a9c': [{ address: '10.99.0.1', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '10.99.0.1/24' }],
} as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>);

/** A resolver for the names the tests use; it records every name it is asked for. */
function fakeDns(table: Record<string, string[]>): { resolve: Resolver; calls: string[] } {
  const calls: string[] = [];
  const resolve: Resolver = async (host) => {
    calls.push(host);
    const a = table[host];
    if (!a) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { resolve, calls };
}

const DNS: Record<string, string[]> = {
  'public.example': ['93.184.216.34'],
  'dual.example': ['2606:4700::1111', '93.184.216.34', '::ffff:93.184.216.34'],
  'rebind.example': ['93.184.216.34', '127.0.0.1'],
  'mapped.example': ['::ffff:169.254.169.254'],
  'private.example': ['10.1.2.3'],
  'aaaa-private.example': ['93.184.216.34', 'fd12::1'],
  'empty.example': [],
  localhost: ['127.0.0.1', '::1'],
  'api.localhost': ['127.0.0.1'],
};

/** The three configurations in use, with the same own ports and interfaces. */
const profiles = (extra: EgressOptions = {}) => {
  const base = { ownPorts: [API, SSH], interfaces, ...extra };
  return {
    proxy: new EgressPolicy({ ...base, allowLan: true }),
    strict: new EgressPolicy(base),
    lax: new EgressPolicy({ ...base, allowPrivate: true }),
  };
};

type R = EgressReason | '-';
const L: R = 'localhost_blocked', M: R = 'metadata_service_blocked', A: R = 'agent_port_blocked', K: R = 'link_local_blocked';
const D: R = 'docker_network_blocked', P: R = 'private_network_blocked', X: R = 'multicast_blocked', DP: R = 'docker_port_blocked', KP: R = 'kubernetes_port_blocked';

// [address, port (undefined = checked without a port, as webhooks are), proxy, strict, lax]
const ADDRESSES: Array<[string, number | undefined, R, R, R]> = [
  // public
  ['93.184.216.34', 443, '-', '-', '-'], ['8.8.8.8', undefined, '-', '-', '-'], ['2606:4700::1111', 443, '-', '-', '-'],
  ['::ffff:93.184.216.34', 80, '-', '-', '-'], ['172.32.0.1', 80, '-', '-', '-'], ['100.128.0.1', 80, '-', '-', '-'],
  ['64:ff9b::5db8:d822', 80, '-', '-', '-'], ['8.8.8.8', API, '-', '-', '-'],
  // loopback and this-network, every spelling
  ['127.0.0.1', 80, L, L, '-'], ['127.9.8.7', 80, L, L, '-'], ['127.255.255.254', undefined, L, L, '-'], ['::1', 80, L, L, '-'],
  ['0:0:0:0:0:0:0:1', 80, L, L, '-'], ['[::1]', 80, L, L, '-'], ['::ffff:127.0.0.1', 80, L, L, '-'], ['::ffff:7f00:1', 80, L, L, '-'],
  ['::FFFF:7F00:1', 80, L, L, '-'], ['64:ff9b::7f00:1', 80, L, L, '-'], ['2002:7f00:1::', 80, L, L, '-'],
  ['0.0.0.0', 80, L, L, '-'], ['0.1.2.3', 80, L, L, '-'], ['::', 80, L, L, '-'],
  // this host's own ports on any local address: never overridable
  ['127.0.0.1', API, A, A, A], ['::1', SSH, A, A, A], ['0.0.0.0', API, A, A, A], ['::', API, A, A, A], ['192.0.2.2', API, A, A, A],
  ['::ffff:192.0.2.2', API, A, A, A], ['fd00::2', API, A, A, A], ['192.0.2.3', API, '-', P, '-'], ['192.0.2.2', 8080, '-', P, '-'],
  // cloud metadata: every address, embedded forms; never overridable
  ['169.254.169.254', 80, M, M, M], ['169.254.170.2', 80, M, M, M], ['fd00:ec2::254', 80, M, M, M], ['100.100.100.200', 80, M, M, M],
  ['168.63.129.16', 80, M, M, M], ['fd00:ec2:0:0:0:0:0:254', undefined, M, M, M], ['FD00:EC2::254', 80, M, M, M],
  ['::ffff:169.254.169.254', 80, M, M, M], ['::ffff:a9fe:a9fe', 80, M, M, M], ['64:ff9b::a9fe:a9fe', 80, M, M, M], ['2002:a9fe:a9fe::1', 80, M, M, M],
  // multicast, reserved, broadcast: never overridable
  ['224.0.0.1', 80, X, X, X], ['239.255.255.250', undefined, X, X, X], ['240.0.0.1', 80, X, X, X], ['255.255.255.255', 80, X, X, X], ['ff02::1', 80, X, X, X],
  // link-local
  ['169.254.1.1', 80, K, K, '-'], ['169.254.10.10', undefined, K, K, '-'], ['fe80::1', 22, K, K, '-'], ['fe80::1%eth0', 22, K, K, '-'],
  ['febf::1', 22, K, K, '-'], ['::ffff:169.254.1.1', 80, K, K, '-'],
  // Docker networks: the default bridge and the subnets of docker* / br-* interfaces
  ['172.17.0.2', 80, D, D, '-'], ['172.18.44.5', 80, D, D, '-'], ['10.99.0.7', 80, D, D, '-'], ['10.99.1.7', 80, '-', P, '-'],
  // private networks: open for the proxies (LAN), denied for strict webhooks
  ['10.0.0.1', 80, '-', P, '-'], ['172.16.0.1', 80, '-', P, '-'], ['172.31.255.255', 80, '-', P, '-'], ['192.168.0.1', undefined, '-', P, '-'],
  ['::ffff:10.0.0.1', 80, '-', P, '-'], ['64:ff9b::a00:1', 80, '-', P, '-'], ['2002:c0a8:101::', 80, '-', P, '-'],
  ['100.64.0.1', 80, '-', P, '-'], ['100.127.255.254', 80, '-', P, '-'],
  ['fc00::1', 80, '-', P, '-'], ['fd12:3456::1', 80, '-', P, '-'], ['fec0::1', 22, '-', P, '-'],
  ['192.0.0.8', 80, '-', P, '-'], ['198.18.0.1', 80, '-', P, '-'], ['198.51.100.1', 80, '-', P, '-'], ['203.0.113.7', 80, '-', P, '-'],
  ['2001:db8::5', 443, '-', P, '-'], ['100::1', 80, '-', P, '-'], ['::a00:1', 80, '-', P, '-'],
  // Docker and Kubernetes ports, on any address (only where the port is known)
  ['93.184.216.34', 2375, DP, DP, '-'], ['93.184.216.34', 2376, DP, DP, '-'], ['2001:db8::5', 2376, DP, P, '-'], ['2606:4700::1111', 2375, DP, DP, '-'],
  ['93.184.216.34', 10250, KP, KP, '-'], ['93.184.216.34', 10255, KP, KP, '-'], ['93.184.216.34', 2379, KP, KP, '-'], ['93.184.216.34', 2380, KP, KP, '-'],
];

t.test('one table: every address class under the three configurations', async (t) => {
  const p = profiles();
  for (const [addr, port, proxy, strict, lax] of ADDRESSES) {
    const where = `${addr}${port === undefined ? '' : ` port ${port}`}`;
    t.equal(p.proxy.classify(addr, port) ?? '-', proxy, `proxy: ${where}`);
    t.equal(p.strict.classify(addr, port) ?? '-', strict, `strict: ${where} (${p.strict.check(addr, port)?.message})`);
    t.equal(p.lax.classify(addr, port) ?? '-', lax, `allow private: ${where}`);
  }
  const seen = new Set(ADDRESSES.flatMap(([, , ...r]) => r));
  for (const r of EGRESS_REASONS.filter((r) => r !== 'deny_list_blocked')) t.ok(seen.has(r), `the table exercises ${r}`);
  for (const [cidr, cloud] of METADATA_ADDRESSES) {
    t.ok(ADDRESSES.some(([a, , r]) => a === cidr.split('/')[0] && r === M), `metadata address ${cidr} (${cloud}) is in the table`);
  }
});

t.test('host spellings: decimal, octal, hex, short IPv4, brackets, zones, case, trailing dots', async (t) => {
  // [host as given, the address it means (null: not a valid address)]
  const spellings: Array<[string, string | null]> = [
    ['2130706433', '127.0.0.1'], ['0x7f.1', '127.0.0.1'], ['0x7f000001', '127.0.0.1'], ['0X7F.0.0.1', '127.0.0.1'], ['0177.0.0.1', '127.0.0.1'],
    ['017700000001', '127.0.0.1'], ['127.1', '127.0.0.1'], ['127.0.1', '127.0.0.1'], ['127.0.0.1.', '127.0.0.1'], ['0x7f.0.0.0x1', '127.0.0.1'],
    ['2852039166', '169.254.169.254'], ['0xa9fea9fe', '169.254.169.254'], ['0251.0376.0251.0376', '169.254.169.254'], ['0xA9.0xFE.0xA9.0xFE', '169.254.169.254'],
    ['169.254.43518', '169.254.169.254'], ['0', '0.0.0.0'], ['0x', '0.0.0.0'], ['010.0.0.1', '8.0.0.1'],
    ['[::1]', '::1'], ['[::ffff:127.0.0.1]', '127.0.0.1'], ['::FFFF:7F00:1', '127.0.0.1'], ['FE80::1%eth0', 'fe80::1'], ['[fe80::1%25eth0]', 'fe80::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'], ['fd00:ec2:0:0:0:0:0:254', 'fd00:ec2::254'], ['1:0:0:2:0:0:0:3', '1:0:0:2::3'], ['::', '::'],
    ['1.2.3.4.5', null], ['256.1.1.1', null], ['1.2.3.256', null], ['1.2.65536', null], ['4294967296', null], ['0x100.1.1.1', null],
    ['08.0.0.1', null], ['09', null], ['foo.123', null], ['1..1', null], ['::1::', null], ['[::1', null],
  ];
  for (const [host, want] of spellings) {
    const got = parseHostLiteral(host);
    t.equal(got === null ? null : got?.address, want, `${host} → ${want}`);
  }
  for (const name of ['localhost', 'example.com', 'Example.COM.', '1e100.net', 'xn--bcher-kva.example', 'deadbeef']) t.equal(parseHostLiteral(name), undefined, `${name} is a name`);
  t.equal(parseIp('256.1.1.1'), undefined, 'parseIp is strict');
  t.equal(parseIp('127.1'), undefined, 'parseIp is strict');
  t.equal(parseIp('localhost'), undefined);
  t.same(parseIp('::ffff:10.1.2.3'), { address: '10.1.2.3', family: 4 }, 'IPv4-mapped is IPv4');
  t.same(parseIp('[2606:4700::1111]'), { address: '2606:4700::1111', family: 6 });
  // Carried IPv4: mapped, NAT64, 6to4; IPv4-compatible (deprecated) and plain IPv6 carry none.
  const carried: Array<[string, string | undefined]> = [
    ['::ffff:7f00:1', '127.0.0.1'], ['::ffff:192.168.1.2', '192.168.1.2'], ['64:ff9b::a00:1', '10.0.0.1'], ['64:ff9b::10.0.0.1', '10.0.0.1'],
    ['2002:a9fe:a9fe::1', '169.254.169.254'], ['2001:db8::1', undefined], ['::a00:1', undefined], ['10.0.0.1', undefined],
  ];
  for (const [a, want] of carried) t.equal(embeddedIPv4(a), want, `${a} carries ${want}`);

  // Through checkTarget: every spelling is judged as the address it means, never sent to DNS.
  const { resolve, calls } = fakeDns({});
  const p = profiles({ resolve });
  for (const host of ['2130706433', '0x7f.1', '0177.0.0.1', '127.1', '127.0.0.1.', '[::1]', '[::ffff:127.0.0.1]', '::FFFF:7F00:1', '[64:ff9b::7f00:1]']) {
    t.match(await p.proxy.checkTarget(host, 80), { ok: false, blocked: true, reason: 'localhost_blocked' }, `proxy: ${host}`);
    t.match(await p.strict.checkTarget(host), { ok: false, blocked: true, reason: 'localhost_blocked' }, `strict: ${host}`);
  }
  for (const host of ['2852039166', '0xa9fea9fe', '0251.0376.0251.0376', '[::ffff:a9fe:a9fe]', '[2002:a9fe:a9fe::]']) {
    t.match(await p.lax.checkTarget(host, 80), { ok: false, blocked: true, reason: 'metadata_service_blocked' }, `allow private: ${host}`);
  }
  t.match(await p.proxy.checkTarget('0x5d.0xb8.0xd8.0x22', 80), { ok: true, address: '93.184.216.34', family: 4 });
  t.match(await p.proxy.checkTarget('::ffff:93.184.216.34', 80), { ok: true, address: '93.184.216.34', family: 4 }, 'a mapped literal dials IPv4');
  t.match(await p.proxy.checkTarget('[2606:4700::1111]', 443), { ok: true, address: '2606:4700::1111', family: 6 });
  for (const host of ['1.2.3.4.5', '256.1.1.1', '08.0.0.1', 'foo.123', 'bad host!', 'a..b', '-a.example', 'x'.repeat(64) + '.example', 'example.com:80']) {
    t.match(await p.proxy.checkTarget(host, 80), { ok: false, blocked: false, reason: 'invalid_target' }, `invalid: ${host}`);
  }
  for (const port of [0, -1, 65536, 1.5]) t.match(await p.proxy.checkTarget('93.184.216.34', port), { ok: false, blocked: false, reason: 'invalid_target' }, `port ${port}`);
  t.same(calls, [], 'no spelling reached the resolver');
});

t.test('names: metadata and localhost names without resolving; every answer checked, resolved once', async (t) => {
  const { resolve, calls } = fakeDns(DNS);
  const p = profiles({ resolve });
  // Every metadata name, in any case and with a trailing dot: denied by every configuration, never resolved.
  // The merged list: the proxies' two names and the webhooks' five (a union).
  const NAMES = ['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal'];
  t.same(METADATA_NAMES.map(([n]) => n).sort(), [...NAMES].sort(), 'the metadata names are the ones tested');
  const metadataNames = NAMES.flatMap((n) => [n, `${n.toUpperCase()}.`]);
  for (const name of [...metadataNames, 'Metadata.Google.Internal']) {
    for (const [which, policy] of Object.entries(p)) {
      t.match(await policy.checkTarget(name, 80), { ok: false, blocked: true, reason: 'metadata_service_blocked', message: /cloud metadata host name/ }, `${which}: ${name}`);
    }
  }
  t.same(calls, [], 'metadata names are denied without resolving them');
  for (const name of ['localhost', 'LOCALHOST.', 'api.localhost']) {
    t.match(await p.proxy.checkTarget(name, 80), { ok: false, reason: 'localhost_blocked' }, `proxy: ${name}`);
    t.match(await p.strict.checkTarget(name), { ok: false, reason: 'localhost_blocked', message: /is a loopback name$/ }, `strict: ${name}`);
  }
  t.match(await p.proxy.checkTarget('localhost', API), { ok: false, reason: 'agent_port_blocked' }, 'own port on a localhost name');
  t.same(calls, [], 'localhost names are denied without resolving them');
  t.match(await p.lax.checkTarget('localhost', 8080), { ok: true, address: '127.0.0.1' }, 'allowed private: resolved like any name');
  t.match(await p.lax.checkTarget('api.localhost'), { ok: true, address: '127.0.0.1' });

  // [name, proxy, strict, lax] — '+' = allowed
  const names: Array<[string, string, string, string]> = [
    ['public.example', '+', '+', '+'],
    ['Public.Example.', '+', '+', '+'],
    ['rebind.example', L, L, '+'],
    ['mapped.example', M, M, M],
    ['private.example', '+', P, '+'],
    ['aaaa-private.example', '+', P, '+'],
    ['missing.example', 'resolve_failed', 'resolve_failed', 'resolve_failed'],
    ['empty.example', 'resolve_failed', 'resolve_failed', 'resolve_failed'],
  ];
  for (const [name, ...want] of names) {
    for (const [i, policy] of [p.proxy, p.strict, p.lax].entries()) {
      const r = await policy.checkTarget(name, 443);
      t.equal(r.ok ? '+' : r.reason, want[i], `${['proxy', 'strict', 'lax'][i]}: ${name} (${r.ok ? r.address : r.message})`);
    }
  }
  const dual = await p.proxy.checkTarget('dual.example', 443);
  t.same(dual.ok && dual.addresses, [{ address: '2606:4700::1111', family: 6 }, { address: '93.184.216.34', family: 4 }], 'every address, resolver order, mapped = IPv4, deduplicated');
  t.match(await p.strict.checkTarget('rebind.example'), { message: 'rebind.example resolves to a denied address: 127.0.0.1 is a loopback address' }, 'one bad answer denies the name');
  const before = calls.length;
  await p.proxy.checkTarget('rebind.example', 80);
  t.same(calls.slice(before), ['rebind.example'], 'resolved once per check, lowercase, no trailing dot');
  t.ok(calls.includes('public.example') && !calls.some((c) => c !== c.toLowerCase() || c.endsWith('.')));
  // The system resolver with a literal (no DNS traffic).
  t.match(await new EgressPolicy().checkTarget('[::1]', 80), { ok: false, reason: 'localhost_blocked' });
});

t.test('messages say why, with the configured hint on what can be allowed', async (t) => {
  const strict = new EgressPolicy({ interfaces, hint: 'set WEBHOOK_ALLOW_PRIVATE_IPS=true to allow private targets' });
  t.match(strict.check('10.1.1.1')?.message, /^10\.1\.1\.1 is a private network \(RFC 1918\) address \(set WEBHOOK_ALLOW_PRIVATE_IPS=true/);
  t.equal(strict.check('127.0.0.1')?.message, '127.0.0.1 is a loopback address (set WEBHOOK_ALLOW_PRIVATE_IPS=true to allow private targets)');
  t.equal(strict.check('169.254.169.254')?.message, '169.254.169.254 is a cloud metadata address', 'no hint: nothing allows it');
  t.match(strict.check('::ffff:7f00:1')?.message, /^::ffff:7f00:1 embeds 127\.0\.0\.1: 127\.0\.0\.1 is a loopback address/);
  t.match(strict.check('64:ff9b::a9fe:a9fe')?.message, /^64:ff9b::a9fe:a9fe embeds 169\.254\.169\.254: .*cloud metadata/);
  t.equal(strict.check('100.64.0.1')?.message.startsWith('100.64.0.1 is a carrier-grade NAT'), true);
  t.throws(() => strict.check('example.com'), /not an IP address/);
});

t.test('allow_cidrs override the overridable rules; own ports, metadata, multicast and deny_cidrs never', async (t) => {
  const p = new EgressPolicy({
    allowLan: true, ownPorts: [API], interfaces,
    allowCidrs: '127.0.0.1/32, 169.254.0.0/16, 172.17.0.0/16, ::1/128, 93.184.216.34/32, 224.0.0.0/4', denyCidrs: '203.0.113.0/24,2001:db8:dead::/48,172.17.5.0/24',
  });
  t.equal(p.classify('127.0.0.1', 8080), undefined);
  t.equal(p.classify('::ffff:127.0.0.1', 8080), undefined);
  t.equal(p.classify('::1', 8080), undefined);
  t.equal(p.classify('127.0.0.2', 8080), 'localhost_blocked', 'only the allowed address');
  t.equal(p.classify('127.0.0.1', API), 'agent_port_blocked', 'own ports stay denied');
  t.equal(p.classify('169.254.169.254', 80), 'metadata_service_blocked', 'metadata stays denied');
  t.equal(p.classify('224.0.0.1', 80), 'multicast_blocked', 'multicast stays denied');
  t.equal(p.classify('169.254.3.3', 80), undefined);
  t.equal(p.classify('172.17.0.9', 80), undefined);
  t.equal(p.classify('93.184.216.34', 2375), undefined, 'docker port allowed on an allowed address');
  t.equal(p.classify('203.0.113.9', 443), 'deny_list_blocked');
  t.equal(p.classify('2001:db8:dead:1::1', 443), 'deny_list_blocked');
  t.equal(p.classify('172.17.5.1', 80), 'deny_list_blocked', 'deny wins over allow');
  t.equal(p.classify('8.8.8.8', 443), undefined);
  // CIDR spellings: an IPv4 rule matches the mapped form; ::ffff:a.b.c.d/n is an IPv4 range; ::/0 is everything; 0.0.0.0/0 is IPv4 only.
  t.equal(new EgressPolicy({ denyCidrs: '10.0.0.0/8' }).classify('::ffff:10.200.0.1'), 'deny_list_blocked');
  t.equal(new EgressPolicy({ denyCidrs: '::ffff:10.0.0.0/104' }).classify('10.200.0.1'), 'deny_list_blocked');
  t.equal(new EgressPolicy({ allowLan: true, denyCidrs: '10.0.0.0/8' }).classify('::a00:1'), undefined, 'IPv4-compatible (deprecated) is not IPv4');
  t.equal(new EgressPolicy({ denyCidrs: '::/0' }).classify('8.8.8.8'), 'deny_list_blocked');
  t.equal(new EgressPolicy({ denyCidrs: '0.0.0.0/0' }).classify('2606:4700::1111'), undefined);
  t.equal(new EgressPolicy({ denyCidrs: '203.0.113.7' }).classify('203.0.113.7'), 'deny_list_blocked', 'a bare address is a /32');
  t.equal(new EgressPolicy({ denyCidrs: '[2001:db8::]/32' }).classify('2001:db8:ffff::1'), 'deny_list_blocked');
  t.equal(new EgressPolicy({ denyCidrs: '2001:db8::/32' }).classify('2001:db9::1'), undefined);
  t.equal(new EgressPolicy({ allowLan: true, denyCidrs: '10.0.0.0/8' }).classify('64:ff9b::a00:1'), 'deny_list_blocked', 'a NAT64 address is judged as its IPv4');
  // allowPrivate (webhook_allow_private_ips) is "allow everything overridable"; the deny list still wins.
  const lax = new EgressPolicy({ allowPrivate: true, denyCidrs: '10.0.0.0/8' });
  t.equal(lax.classify('10.1.2.3'), 'deny_list_blocked');
  t.equal(lax.classify('127.0.0.1'), undefined);
});

t.test('bad CIDRs are configuration errors naming the setting', async (t) => {
  t.throws(() => new EgressPolicy({ allowCidrs: '10.0.0.0/8,nope' }), new ConfigError('proxy.allow_cidrs: "nope" is not a CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)'));
  t.throws(() => new EgressPolicy({ denyCidrs: '10.0.0.0/40' }), { name: 'ConfigError', message: /^proxy\.deny_cidrs: .*prefix length must be 0\.\.32/ });
  for (const bad of ['fd00::/129', 'example.com/8', '10.0.0.0/x', 'fe80::1%eth0/64']) t.throws(() => new EgressPolicy({ denyCidrs: bad }), { name: 'ConfigError' }, bad);
  t.throws(() => new EgressPolicy({ denyCidrs: 'x', settings: { allow: 'a.allow', deny: 'a.deny' } }), { message: /^a\.deny: / });
});

t.test('own ports added later (e.g. SSH once bound) are denied on local addresses', async (t) => {
  const p = new EgressPolicy({ interfaces });
  t.equal(p.classify('127.0.0.1', 5555), 'localhost_blocked');
  p.addOwnPort(5555);
  p.addOwnPort(0);
  t.equal(p.classify('127.0.0.1', 5555), 'agent_port_blocked');
  t.equal(p.classify('192.0.2.2', 5555), 'agent_port_blocked');
  t.equal(p.classify('127.0.0.1'), 'localhost_blocked', 'without a port, no port rule');
  t.same(p.agentPorts, [5555]);
});

t.test('lookup: checks every answer, pins what it checked, honours family and all', async (t) => {
  const { resolve, calls } = fakeDns({ 'pub.test': ['93.184.215.14', '2606:4700::6810:84e5'], 'mixed.test': ['93.184.215.14', '10.0.0.7'], 'v4only.test': ['93.184.215.14'] });
  const policy = new EgressPolicy({ resolve });
  const call = (lookup: ReturnType<EgressPolicy['lookup']>, host: string, opts: { all?: boolean; family?: number } | number) =>
    new Promise<{ err: any; addr: any; family?: number }>((r) => lookup(host, opts, (err, addr, family) => r({ err, addr, family })));
  const lookup = policy.lookup();
  let r = await call(lookup, 'pub.test', { all: true });
  t.same(r.addr, [{ address: '93.184.215.14', family: 4 }, { address: '2606:4700::6810:84e5', family: 6 }]);
  r = await call(lookup, 'pub.test', { family: 6 });
  t.same([r.addr, r.family], ['2606:4700::6810:84e5', 6]);
  r = await call(lookup, 'pub.test', 4);
  t.same([r.addr, r.family], ['93.184.215.14', 4]);
  r = await call(lookup, 'v4only.test', { family: 6 });
  t.equal(r.err?.code, 'ENOTFOUND', 'no answer of the asked family');
  r = await call(lookup, 'mixed.test', { family: 4 });
  t.match(r.err, { code: 'EGRESS_DENIED', reason: 'private_network_blocked', message: /mixed\.test resolves to a denied address: 10\.0\.0\.7/ }, 'one private answer denies the name');
  r = await call(lookup, 'nx.test', {});
  t.equal(r.err?.code, 'ENOTFOUND');
  r = await call(lookup, 'bad name!', {});
  t.equal(r.err?.code, 'EINVAL');
  const before = calls.length;
  class Mine extends Error { code = 'MINE'; }
  r = await call(policy.lookup((m) => new Mine(m)), 'metadata.google.internal', {});
  t.equal(r.err?.code, 'MINE', 'the caller chooses the error');
  t.equal(calls.length, before, 'denied before resolving');
});

t.test('checkUrl: shape, then the host like any target', async (t) => {
  const { resolve } = fakeDns(DNS);
  const strict = new EgressPolicy({ resolve });
  const denied = [
    'http://127.0.0.1/', 'http://0x7f.1/', 'http://2130706433/', 'http://0177.0.0.1/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:a9fe:a9fe]/',
    'http://[64:ff9b::7f00:1]/', 'http://METADATA.GOOGLE.INTERNAL./', 'http://instance-data/', 'http://localhost:8080/', 'http://api.localhost/',
    'http://rebind.example/', 'http://private.example/', 'http://missing.example/', 'http://224.0.0.1/', 'http://[fd00:ec2::254]/',
  ];
  for (const url of denied) t.type(await strict.checkUrl(url), 'string', url);
  t.match(await strict.checkUrl('javascript:alert(1)'), /scheme javascript is not allowed; use http or https/);
  t.match(await strict.checkUrl('https://user:pw@public.example/x'), /credentials/);
  t.match(await strict.checkUrl('not a url'), /not a valid absolute URL/);
  t.equal(await strict.checkUrl('https://public.example/hook'), null);
  t.equal(await strict.checkUrl('https://93.184.216.34:2375/hook'), null, 'a URL is checked by address (no port rules)');
  t.equal(await new EgressPolicy({ resolve, allowPrivate: true }).checkUrl('http://private.example/'), null);
});
