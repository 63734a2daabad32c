// The deny policy's rule table (no sockets): IPv4/IPv6/IPv4-mapped parsing and CIDRs, each
// built-in rule and its reason, allow/deny CIDRs and their precedence, and checkTarget's
// resolution rules (every resolved address checked, names never re-resolved).
import t from 'tap';
import { ConfigError } from '../daemon/config/config';
import { formatIp, parseCidr, parseIp } from '../daemon/agent/net/cidr';
import { DenyPolicy, type Resolver } from '../daemon/agent/net/deny';

const API = 44000;
const interfaces = () => ({
  lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '', internal: true, cidr: '127.0.0.1/8' }],
  eth0: [
    { address: '192.0.2.2', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '192.0.2.2/24' },
    { address: 'fd00::2', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '', internal: false, cidr: 'fd00::2/64', scopeid: 0 },
  ],
  docker0: [{ address: '172.18.0.1', netmask: '255.255.0.0', family: 'IPv4', mac: '', internal: false, cidr: '172.18.0.1/16' }],
  'br-3f2a9c': [{ address: '10.99.0.1', netmask: '255.255.255.0', family: 'IPv4', mac: '', internal: false, cidr: '10.99.0.1/24' }],
} as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>);

const policy = (o: { allow?: string; deny?: string; resolve?: Resolver } = {}) =>
  new DenyPolicy({ ownPorts: [API, 42222], allowCidrs: o.allow, denyCidrs: o.deny, interfaces, resolve: o.resolve });

t.test('addresses: IPv4, IPv6 and IPv4-mapped spellings', async (t) => {
  t.equal(parseIp('::ffff:127.0.0.1')!.value, parseIp('127.0.0.1')!.value);
  t.equal(parseIp('::ffff:7f00:1')!.value, parseIp('127.0.0.1')!.value);
  t.ok(parseIp('::ffff:7f00:1')!.v4);
  t.equal(formatIp(parseIp('::ffff:10.1.2.3')!), '10.1.2.3');
  t.equal(formatIp(parseIp('2001:0db8:0000:0000:0000:0000:0000:0001')!), '2001:db8::1');
  t.equal(formatIp(parseIp('fd00:ec2:0:0:0:0:0:254')!), 'fd00:ec2::254');
  t.equal(formatIp(parseIp('::')!), '::');
  t.equal(formatIp(parseIp('[::1]')!), '::1');
  t.equal(formatIp(parseIp('fe80::1%eth0')!), 'fe80::1');
  t.equal(parseIp('localhost'), undefined);
  t.equal(parseIp('256.1.1.1'), undefined);
  t.ok(parseCidr('10.0.0.0/8').contains(parseIp('::ffff:10.200.0.1')!), 'an IPv4 rule matches the mapped form');
  t.notOk(parseCidr('10.0.0.0/8').contains(parseIp('::a00:1')!), 'IPv4-compatible (deprecated) is not IPv4');
  t.ok(parseCidr('2001:db8::/32').contains(parseIp('2001:db8:ffff::1')!));
  t.notOk(parseCidr('2001:db8::/32').contains(parseIp('2001:db9::1')!));
  t.ok(parseCidr('0.0.0.0/0').contains(parseIp('8.8.8.8')!));
  t.notOk(parseCidr('0.0.0.0/0').contains(parseIp('2606:4700::1111')!), '0.0.0.0/0 is IPv4 only');
  t.ok(parseCidr('::/0').contains(parseIp('8.8.8.8')!), '::/0 is everything');
  t.ok(parseCidr('203.0.113.7').contains(parseIp('203.0.113.7')!), 'a bare address is a /32');
  for (const bad of ['10.0.0.0/33', 'fd00::/129', 'example.com/8', '10.0.0.0/x', '']) t.throws(() => parseCidr(bad), bad);
});

t.test('rule table: built-in rules and their reasons', async (t) => {
  const p = policy();
  const cases: Array<[string, number, string | undefined]> = [
    ['127.0.0.1', 80, 'localhost_blocked'],
    ['127.9.8.7', 80, 'localhost_blocked'],
    ['::1', 80, 'localhost_blocked'],
    ['::ffff:127.0.0.1', 80, 'localhost_blocked'],
    ['0.0.0.0', 80, 'localhost_blocked'],
    ['::', 80, 'localhost_blocked'],
    ['127.0.0.1', API, 'agent_port_blocked'],
    ['::1', 42222, 'agent_port_blocked'],
    ['0.0.0.0', API, 'agent_port_blocked'],
    ['192.0.2.2', API, 'agent_port_blocked'],
    ['::ffff:192.0.2.2', API, 'agent_port_blocked'],
    ['fd00::2', API, 'agent_port_blocked'],
    ['192.0.2.3', API, undefined],
    ['8.8.8.8', API, undefined],
    ['169.254.169.254', 80, 'metadata_service_blocked'],
    ['::ffff:169.254.169.254', 80, 'metadata_service_blocked'],
    ['169.254.170.2', 80, 'metadata_service_blocked'],
    ['fd00:ec2::254', 80, 'metadata_service_blocked'],
    ['169.254.1.1', 80, 'link_local_blocked'],
    ['fe80::1', 22, 'link_local_blocked'],
    ['febf::1', 22, 'link_local_blocked'],
    ['fec0::1', 22, undefined],
    ['172.17.0.2', 80, 'docker_network_blocked'],
    ['172.18.44.5', 80, 'docker_network_blocked'],
    ['10.99.0.7', 80, 'docker_network_blocked'],
    ['10.99.1.7', 80, undefined],
    ['172.16.0.1', 80, undefined],
    ['93.184.216.34', 2375, 'docker_port_blocked'],
    ['2001:db8::5', 2376, 'docker_port_blocked'],
    ['93.184.216.34', 10250, 'kubernetes_port_blocked'],
    ['93.184.216.34', 2379, 'kubernetes_port_blocked'],
    ['93.184.216.34', 443, undefined],
    ['2606:4700::1111', 443, undefined],
    ['192.0.2.2', 8080, undefined],
  ];
  for (const [addr, port, want] of cases) t.equal(p.classify(addr, port), want, `${addr} port ${port}`);
});

t.test('allow_cidrs override built-in rules except agent ports and metadata; deny_cidrs win', async (t) => {
  const p = policy({ allow: '127.0.0.1/32, 169.254.0.0/16, 172.17.0.0/16, ::1/128, 93.184.216.34/32', deny: '203.0.113.0/24,2001:db8:dead::/48,172.17.5.0/24' });
  t.equal(p.classify('127.0.0.1', 8080), undefined);
  t.equal(p.classify('::ffff:127.0.0.1', 8080), undefined);
  t.equal(p.classify('::1', 8080), undefined);
  t.equal(p.classify('127.0.0.2', 8080), 'localhost_blocked', 'only the allowed address');
  t.equal(p.classify('127.0.0.1', API), 'agent_port_blocked', 'agent ports stay denied');
  t.equal(p.classify('169.254.169.254', 80), 'metadata_service_blocked', 'metadata stays denied');
  t.equal(p.classify('169.254.3.3', 80), undefined);
  t.equal(p.classify('172.17.0.9', 80), undefined);
  t.equal(p.classify('93.184.216.34', 2375), undefined, 'docker port allowed on an allowed address');
  t.equal(p.classify('203.0.113.9', 443), 'deny_list_blocked');
  t.equal(p.classify('2001:db8:dead:1::1', 443), 'deny_list_blocked');
  t.equal(p.classify('172.17.5.1', 80), 'deny_list_blocked', 'deny wins over allow');
  t.equal(p.classify('8.8.8.8', 443), undefined);
});

t.test('bad CIDRs are configuration errors naming the setting', async (t) => {
  t.throws(() => new DenyPolicy({ allowCidrs: '10.0.0.0/8,nope' }), new ConfigError('proxy.allow_cidrs: "nope" is not a CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)'));
  t.throws(() => new DenyPolicy({ denyCidrs: '10.0.0.0/40' }), { name: 'ConfigError', message: /^proxy\.deny_cidrs: .*prefix length must be 0\.\.32/ });
});

t.test('checkTarget: literals, names, every resolved address checked', async (t) => {
  const calls: string[] = [];
  const table: Record<string, string[]> = {
    'rebind.example': ['93.184.216.34', '127.0.0.1'],
    'dual.example': ['2606:4700::1111', '93.184.216.34'],
    'mapped.example': ['::ffff:169.254.169.254'],
  };
  const resolve: Resolver = async (host) => {
    calls.push(host);
    const a = table[host];
    if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  const p = policy({ resolve });
  t.match(await p.checkTarget('93.184.216.34', 80), { ok: true, address: '93.184.216.34', family: 4 });
  t.match(await p.checkTarget('[2606:4700::1111]', 443), { ok: true, address: '2606:4700::1111', family: 6 });
  t.match(await p.checkTarget('::ffff:93.184.216.34', 80), { ok: true, address: '93.184.216.34', family: 4 }, 'mapped literal dials IPv4');
  t.match(await p.checkTarget('rebind.example', 80), { ok: false, blocked: true, reason: 'localhost_blocked' }, 'one bad address denies the name');
  const dual = await p.checkTarget('Dual.Example.', 443);
  t.match(dual, { ok: true, address: '2606:4700::1111', family: 6 });
  t.same(dual.ok && dual.addresses.map((a) => a.address), ['2606:4700::1111', '93.184.216.34']);
  t.match(await p.checkTarget('mapped.example', 80), { ok: false, reason: 'metadata_service_blocked' });
  t.match(await p.checkTarget('metadata.google.internal', 80), { ok: false, blocked: true, reason: 'metadata_service_blocked' });
  t.notOk(calls.includes('metadata.google.internal'), 'metadata names are denied without resolving them');
  t.match(await p.checkTarget('missing.example', 80), { ok: false, blocked: false, reason: 'resolve_failed' });
  t.match(await p.checkTarget('bad host!', 80), { ok: false, blocked: false, reason: 'invalid_target' });
  t.match(await p.checkTarget('93.184.216.34', 0), { ok: false, blocked: false, reason: 'invalid_target' });
  t.same(calls.filter((c) => c === 'rebind.example').length, 1, 'resolved once');
  // The system resolver: localhost is loopback.
  t.match(await new DenyPolicy().checkTarget('localhost', 80), { ok: false, reason: 'localhost_blocked' });
  t.match(await new DenyPolicy().checkTarget('[::1]', 80), { ok: false, reason: 'localhost_blocked' });
});

t.test('own ports added later (e.g. SSH once bound) are denied on local addresses', async (t) => {
  const p = new DenyPolicy({ interfaces });
  t.equal(p.classify('127.0.0.1', 5555), 'localhost_blocked');
  p.addOwnPort(5555);
  t.equal(p.classify('127.0.0.1', 5555), 'agent_port_blocked');
  t.equal(p.classify('192.0.2.2', 5555), 'agent_port_blocked');
  t.same(p.agentPorts, [5555]);
});
