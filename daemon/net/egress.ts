// The egress policy: the one place that decides whether this process may open a connection to
// an address — for the HTTP and SOCKS5 proxies, `ssh -L`, webhook deliveries and every future
// outbound dial. It is checked after DNS resolution, at dial time: a name is resolved once,
// every address it resolves to is checked (one denied answer denies the name: a mix of public
// and private answers is a rebinding attempt), and the caller connects to a checked address —
// never resolving the name again, which would let DNS rebinding swap in a denied one.
//
// Rules, first match wins (docs/egress.md has the table):
//   never overridable: the process's own ports on a local address, cloud metadata (addresses and
//   names), multicast/reserved, the deny list;
//   then the allow list (`proxy.allow_cidrs`) or allowPrivate (`admin.webhook_allow_private_ips`)
//   lets everything else through; otherwise loopback/this-network, link-local, Docker networks,
//   private networks (RFC 1918, CGNAT, unique-local, special-purpose — unless allowLan, as the
//   proxies set: edge hosts exist to reach their LAN) and the Docker/Kubernetes ports are denied.
// An IPv6 address that carries an IPv4 address (IPv4-mapped, NAT64, 6to4) is judged as that IPv4.
import dns from 'node:dns';
import net, { BlockList } from 'node:net';
import os from 'node:os';
import type { LookupFn } from '../../plugins/contracts/notifier';
import { ConfigError } from '../config/config';
import { bare, embeddedIPv4, normalizeHostname, parseHostLiteral, parseIp, type Address, type Family } from './address';

/** Why a target is denied; the names are the counter keys of the proxies' metrics (reference agent metrics). */
export const EGRESS_REASONS = [
  'agent_port_blocked',
  'metadata_service_blocked',
  'multicast_blocked',
  'deny_list_blocked',
  'localhost_blocked',
  'link_local_blocked',
  'docker_network_blocked',
  'private_network_blocked',
  'docker_port_blocked',
  'kubernetes_port_blocked',
] as const;
export type EgressReason = (typeof EGRESS_REASONS)[number];

/** Cloud instance metadata endpoints: denied always, whatever the options. */
export const METADATA_ADDRESSES: ReadonlyArray<readonly [cidr: string, cloud: string]> = [
  ['169.254.169.254/32', 'AWS EC2 IMDS, GCP, Azure IMDS, OpenStack, DigitalOcean, Oracle, Hetzner …'],
  ['169.254.170.2/32', 'AWS ECS task metadata and credentials'],
  ['fd00:ec2::254/128', 'AWS EC2 IMDS over IPv6 (Nitro)'],
  ['100.100.100.200/32', 'Alibaba Cloud ECS metadata'],
  ['168.63.129.16/32', 'Azure WireServer (VM agent, health probes)'],
];
/** Names of metadata services, denied before they are resolved (compared lowercase, without a trailing dot). */
export const METADATA_NAMES: ReadonlyArray<readonly [name: string, cloud: string]> = [
  ['metadata.google.internal', 'GCP'],
  ['metadata.goog', 'GCP'],
  ['metadata', 'GCP (the short name through the VM search domain)'],
  ['instance-data', 'AWS EC2 (the short name through the VPC search domain)'],
  ['instance-data.ec2.internal', 'AWS EC2'],
];

/** Docker Engine API (plain and TLS): unauthenticated on 2375, a root shell for whoever reaches it. */
export const DOCKER_PORTS: ReadonlySet<number> = new Set([2375, 2376]);
/** kubelet API (10250, read-only 10255) and etcd (2379 client, 2380 peer). */
export const KUBERNETES_PORTS: ReadonlySet<number> = new Set([10250, 10255, 2379, 2380]);

type Entry = readonly [cidr: string, what: string];

function blockList(entries: readonly Entry[] | readonly string[]): BlockList {
  const b = new BlockList();
  for (const e of entries) {
    const [addr, prefix] = (typeof e === 'string' ? e : e[0]).split('/');
    const type = net.isIPv6(addr) ? 'ipv6' : 'ipv4';
    b.addSubnet(addr, prefix === undefined ? (type === 'ipv6' ? 128 : 32) : Number(prefix), type);
  }
  return b;
}

/** An address class: its ranges, what the message calls it, and the reason it is denied with. */
interface AddressClass { list: BlockList; what: string; reason: EgressReason }
const cls = (reason: EgressReason, what: string, ranges: string[]): AddressClass => ({ list: blockList(ranges), what, reason });

const METADATA = cls('metadata_service_blocked', 'cloud metadata', METADATA_ADDRESSES.map(([c]) => c));
const METADATA_NAME_SET = new Set(METADATA_NAMES.map(([n]) => n));
const MULTICAST = cls('multicast_blocked', 'multicast or reserved', ['224.0.0.0/4', '240.0.0.0/4', 'ff00::/8']);
const LOOPBACK = cls('localhost_blocked', 'loopback', ['127.0.0.0/8', '::1/128']);
const UNSPECIFIED = cls('localhost_blocked', 'this-network / unspecified', ['0.0.0.0/8', '::/128']);
const LINK_LOCAL = cls('link_local_blocked', 'link-local', ['169.254.0.0/16', 'fe80::/10']);
/** Docker's default bridge (docker0); the subnets of docker* and br-* interfaces are added when present. */
const DOCKER_DEFAULT = ['172.17.0.0/16'];
/** Private networks: what allowLan opens (the proxies), in the order their messages are chosen. */
const LAN: AddressClass[] = [
  cls('private_network_blocked', 'private network (RFC 1918)', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']),
  cls('private_network_blocked', 'carrier-grade NAT (100.64.0.0/10)', ['100.64.0.0/10']),
  cls('private_network_blocked', 'unique-local (fc00::/7)', ['fc00::/7', 'fec0::/10']),
  cls('private_network_blocked', 'special-purpose', ['192.0.0.0/24', '198.18.0.0/15', '192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '2001:db8::/32', '100::/64', '::/96']),
];

const DOCKER_IFACE = /^(docker\d*|br-[0-9a-f]+)$/;
const INTERFACE_TTL_MS = 5000;
const DNS_TIMEOUT_MS = 10_000;

export type Resolver = (host: string) => Promise<Array<{ address: string; family: number }>>;
const systemResolve: Resolver = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

export interface Denial { reason: EgressReason; message: string }

export type TargetCheck =
  | { ok: true; address: string; family: Family; /** every resolved address, all checked, in resolver order */ addresses: Address[] }
  | { ok: false; reason: EgressReason; blocked: true; message: string }
  | { ok: false; reason: 'invalid_target' | 'resolve_failed'; blocked: false; message: string; /** the resolver's error code */ code?: string };

/** A net.connect / undici `lookup`. */

/** A dial refused by the policy (the default error of `lookup()`). */
export class EgressDenied extends Error {
  readonly code = 'EGRESS_DENIED';
  constructor(message: string, readonly reason?: EgressReason) { super(message); }
}

export interface EgressOptions {
  /**
   * Private networks (RFC 1918, CGNAT, unique-local, special-purpose) may be dialled. The proxies
   * and `ssh -L` set it: edge hosts exist to reach their LAN. Loopback, link-local and Docker
   * networks stay denied.
   */
  allowLan?: boolean;
  /**
   * Every overridable rule is off, as if allowCidrs were `0.0.0.0/0,::/0`
   * (`admin.webhook_allow_private_ips`): own ports, metadata, multicast and denyCidrs stay denied.
   */
  allowPrivate?: boolean;
  /** Comma-separated CIDRs let through despite an overridable rule (`proxy.allow_cidrs`). */
  allowCidrs?: string;
  /** Comma-separated CIDRs denied in addition; they win over allowCidrs (`proxy.deny_cidrs`). */
  denyCidrs?: string;
  /** The settings named in CIDR errors (default proxy.allow_cidrs / proxy.deny_cidrs). */
  settings?: { allow: string; deny: string };
  /** Ports this process listens on (API, SSH, proxies): denied on every local address. */
  ownPorts?: Iterable<number>;
  /** Docker networks besides 172.17.0.0/16 and those found on docker* and br-* interfaces. */
  dockerSubnets?: string[];
  /** Said after the message of an overridable denial, e.g. `set WEBHOOK_ALLOW_PRIVATE_IPS=true to allow private targets`. */
  hint?: string;
  /** Interface table (default os.networkInterfaces). */
  interfaces?: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** Name resolution (default: getaddrinfo, every address, in resolver order). */
  resolve?: Resolver;
  /** Budget for one resolution (default 10 s). */
  dnsTimeoutMs?: number;
}

export class EgressPolicy {
  readonly allowLan: boolean;
  readonly allowPrivate: boolean;
  private readonly allow: BlockList;
  private readonly deny: BlockList;
  private readonly hasAllow: boolean;
  private readonly hasDeny: boolean;
  private readonly denySetting: string;
  private readonly ownPorts: Set<number>;
  private readonly dockerStatic: BlockList;
  private readonly interfaces: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  private readonly resolve: Resolver;
  private readonly dnsTimeoutMs: number;
  private readonly hint: string;
  private ifaceCache?: { at: number; local: BlockList; docker: BlockList };

  constructor(opts: EgressOptions = {}) {
    const settings = opts.settings ?? { allow: 'proxy.allow_cidrs', deny: 'proxy.deny_cidrs' };
    const allow = parseCidrList(settings.allow, opts.allowCidrs);
    const deny = parseCidrList(settings.deny, opts.denyCidrs);
    this.allow = blockList(allow);
    this.deny = blockList(deny);
    this.hasAllow = allow.length > 0;
    this.hasDeny = deny.length > 0;
    this.denySetting = settings.deny;
    this.allowLan = opts.allowLan ?? false;
    this.allowPrivate = opts.allowPrivate ?? false;
    this.ownPorts = new Set([...(opts.ownPorts ?? [])].filter((p) => p > 0));
    this.dockerStatic = blockList([...DOCKER_DEFAULT, ...(opts.dockerSubnets ?? []).map((s) => normalizeCidr(s))]);
    this.interfaces = opts.interfaces ?? os.networkInterfaces;
    this.resolve = opts.resolve ?? systemResolve;
    this.dnsTimeoutMs = opts.dnsTimeoutMs ?? DNS_TIMEOUT_MS;
    this.hint = opts.hint ? ` (${opts.hint})` : '';
  }

  /** Adds a port this process listens on (e.g. the SSH port once it is bound). */
  addOwnPort(port: number): void {
    if (port > 0) this.ownPorts.add(port);
  }

  get agentPorts(): number[] {
    return [...this.ownPorts].sort((a, b) => a - b);
  }

  /** The reason an address (and port, when known) is denied, or undefined when it may be dialled. */
  classify(address: string, port?: number): EgressReason | undefined {
    return this.check(address, port)?.reason;
  }

  /**
   * Judges one IP address (and port, when known): the denial with a message saying why, or
   * undefined. Port rules (own ports, Docker/Kubernetes ports) apply only with a port.
   */
  check(address: string, port?: number): Denial | undefined {
    const raw = bare(address);
    const ip = parseIp(raw);
    if (!ip) throw new Error(`not an IP address: ${address}`);
    const carried = embeddedIPv4(raw);
    const judged = carried ?? ip.address;
    const type = (a: string) => (net.isIPv6(a) ? 'ipv6' : 'ipv4');
    const forms = carried && carried !== ip.address ? [judged, ip.address] : [judged];
    const inAny = (list: BlockList) => forms.some((a) => list.check(a, type(a)));
    const inJudged = (list: BlockList) => list.check(judged, type(judged));
    const deny = (reason: EgressReason, message: string, overridable = false): Denial => ({
      reason,
      message: `${carried ? `${raw} embeds ${carried}: ` : ''}${message}${overridable ? this.hint : ''}`,
    });
    const ifaces = this.interfaceInfo();
    if (port !== undefined && this.ownPorts.has(port) && (inAny(LOOPBACK.list) || inAny(UNSPECIFIED.list) || inAny(ifaces.local))) {
      return deny('agent_port_blocked', `port ${port} on ${judged} is one of this host's own listeners`);
    }
    for (const c of [METADATA, MULTICAST]) if (inAny(c.list)) return deny(c.reason, `${judged} is a ${c.what} address`);
    if (this.hasDeny && inAny(this.deny)) return deny('deny_list_blocked', `${judged} is in ${this.denySetting}`);
    if (this.allowPrivate || (this.hasAllow && inJudged(this.allow))) return undefined;
    for (const c of [LOOPBACK, UNSPECIFIED, LINK_LOCAL]) {
      if (inJudged(c.list)) return deny(c.reason, `${judged} is a ${c.what} address`, true);
    }
    if (inJudged(this.dockerStatic) || inJudged(ifaces.docker)) return deny('docker_network_blocked', `${judged} is on a Docker network`, true);
    if (!this.allowLan) {
      for (const c of LAN) if (inJudged(c.list)) return deny(c.reason, `${judged} is a ${c.what} address`, true);
    }
    if (port !== undefined && DOCKER_PORTS.has(port)) return deny('docker_port_blocked', `port ${port} is the Docker Engine API`, true);
    if (port !== undefined && KUBERNETES_PORTS.has(port)) return deny('kubernetes_port_blocked', `port ${port} is a Kubernetes node port (kubelet, etcd)`, true);
    return undefined;
  }

  /**
   * Resolves host (IP literals, including the inet_aton spellings, as they are) and checks every
   * address it resolves to; denied if any is. On success, dial `address` (or the others in
   * `addresses`) — never the name again. `port` is optional: without it the port rules are skipped.
   */
  async checkTarget(host: string, port?: number): Promise<TargetCheck> {
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      return { ok: false, reason: 'invalid_target', blocked: false, message: `port must be 1..65535 (got ${port})` };
    }
    const literal = parseHostLiteral(host);
    if (literal === null) return invalid(host);
    if (literal) {
      const d = this.check(literal.address, port);
      if (d) return { ok: false, blocked: true, ...d };
      return { ok: true, address: literal.address, family: literal.family, addresses: [literal] };
    }
    const name = normalizeHostname(host);
    if (!name) return invalid(host);
    if (METADATA_NAME_SET.has(name)) return { ok: false, blocked: true, reason: 'metadata_service_blocked', message: `${name} is a cloud metadata host name` };
    if (name === 'localhost' || name.endsWith('.localhost')) {
      // RFC 6761: loopback whatever a resolver says. Denied without resolving unless a loopback address may be dialled.
      const v4 = this.check('127.0.0.1', port);
      if (v4 && this.check('::1', port)) {
        return { ok: false, blocked: true, reason: v4.reason, message: v4.reason === 'localhost_blocked' ? `${name} is a loopback name${this.hint}` : `${name}: ${v4.message}` };
      }
    }
    let answers: Array<{ address: string; family: number }>;
    try {
      answers = await withTimeout(this.resolve(name), this.dnsTimeoutMs, `resolving ${name} took over ${this.dnsTimeoutMs} ms`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { ok: false, reason: 'resolve_failed', blocked: false, message: `${name} does not resolve (${code ?? (err as Error).message})`, code: code ?? 'ENOTFOUND' };
    }
    const addresses: Address[] = [];
    for (const a of answers) {
      const ip = parseIp(a.address);
      if (!ip) continue;
      const d = this.check(a.address, port);
      if (d) return { ok: false, blocked: true, reason: d.reason, message: `${name} resolves to a denied address: ${d.message}` };
      if (!addresses.some((x) => x.address === ip.address)) addresses.push(ip);
    }
    if (addresses.length === 0) return { ok: false, reason: 'resolve_failed', blocked: false, message: `${name} does not resolve (no addresses)`, code: 'ENOTFOUND' };
    return { ok: true, address: addresses[0].address, family: addresses[0].family, addresses };
  }

  /**
   * A create-time check for a URL this process will dial later: absolute, one of `schemes`, no
   * credentials, and a host that passes checkTarget (by address: the port rules are not applied).
   * Returns why it is refused, or null.
   */
  async checkUrl(raw: string, schemes: readonly string[] = ['http', 'https']): Promise<string | null> {
    let u: URL;
    try {
      u = new URL(raw);
    } catch {
      return 'is not a valid absolute URL';
    }
    const scheme = u.protocol.replace(/:$/, '');
    if (!schemes.includes(scheme)) return `scheme ${scheme} is not allowed; use ${schemes.join(' or ')}`;
    if (u.username || u.password) return 'must not contain credentials; use headers (e.g. Authorization) instead';
    if (!u.hostname) return 'has no host';
    const r = await this.checkTarget(u.hostname);
    return r.ok ? null : r.message;
  }

  /**
   * A net.connect / undici `lookup` that resolves and checks through checkTarget (every answer,
   * whatever family is asked for) and hands the checked addresses to the socket, which connects
   * to them without resolving again. A denial fails with `denied(message)` (default EgressDenied).
   * IP literals never reach a lookup: check them with check() before connecting.
   */
  lookup(denied: (message: string, reason: EgressReason) => Error = (m, r) => new EgressDenied(m, r)): LookupFn {
    return (hostname, options, callback) => {
      const opts = typeof options === 'number' ? { family: options } : options ?? {};
      this.checkTarget(hostname).then((r) => {
        if (!r.ok) {
          if (r.blocked) callback(denied(r.message, r.reason), '', 0);
          else callback(Object.assign(new Error(`getaddrinfo ${r.code ?? 'EINVAL'} ${hostname}: ${r.message}`), { code: r.code ?? 'EINVAL', hostname }), '', 0);
          return;
        }
        const wanted = opts.family === 4 || opts.family === 6 ? r.addresses.filter((a) => a.family === opts.family) : r.addresses;
        if (wanted.length === 0) {
          callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '', 0);
          return;
        }
        if (opts.all) callback(null, wanted.map((a) => ({ address: a.address, family: a.family })));
        else callback(null, wanted[0].address, wanted[0].family);
      }, (err: NodeJS.ErrnoException) => callback(err, '', 0));
    };
  }

  private interfaceInfo(): { local: BlockList; docker: BlockList } {
    const now = Date.now();
    if (this.ifaceCache && now - this.ifaceCache.at < INTERFACE_TTL_MS) return this.ifaceCache;
    const local = new BlockList();
    const docker = new BlockList();
    for (const [name, infos] of Object.entries(this.interfaces())) {
      for (const info of infos ?? []) {
        try {
          const ip = parseIp(info.address);
          if (ip) local.addAddress(ip.address, ip.family === 6 ? 'ipv6' : 'ipv4');
          if (DOCKER_IFACE.test(name) && info.cidr) {
            const [addr, prefix] = info.cidr.split('/');
            docker.addSubnet(addr, Number(prefix), net.isIPv6(addr) ? 'ipv6' : 'ipv4');
          }
        } catch { /* an odd entry is skipped */ }
      }
    }
    this.ifaceCache = { at: now, local, docker };
    return this.ifaceCache;
  }
}

function invalid(host: string): TargetCheck {
  return { ok: false, reason: 'invalid_target', blocked: false, message: `not a valid host name or address: ${JSON.stringify(host.slice(0, 256))}` };
}

/**
 * `a.b.c.d/n`, `x::y/n` or a bare address (a /32 or /128) as `address/prefix`; throws with a clear
 * message. An IPv4 rule also matches the IPv4-mapped spelling, and `::ffff:10.0.0.0/104` the IPv4 range.
 */
export function normalizeCidr(text: string): string {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = bare(slash >= 0 ? t.slice(0, slash) : t);
  const kind = net.isIP(addr);
  if (kind === 0 || t.includes('%')) throw new Error(`${JSON.stringify(text)} is not a CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)`);
  const max = kind === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new Error(`${JSON.stringify(text)}: prefix length must be 0..${max}`);
    prefix = Number(p);
  }
  return `${addr}/${prefix}`;
}

/** A comma-separated CIDR list (empty or undefined = none); a bad entry is a ConfigError naming `setting`. */
export function parseCidrList(setting: string, list: string | undefined): string[] {
  if (!list) return [];
  try {
    return list.split(',').map((s) => s.trim()).filter(Boolean).map(normalizeCidr);
  } catch (err) {
    throw new ConfigError(`${setting}: ${(err as Error).message}`);
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); timer.unref(); }),
  ]);
}
