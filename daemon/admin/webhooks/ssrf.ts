// SSRF guard for webhook targets. The same policy runs twice: when a webhook is created (URL
// shape, host name, and every address its name resolves to) and when a delivery dials (inside
// the socket's lookup, so the connection goes to the address that was checked — no second
// resolution an attacker could rebind). Denied unless admin.webhook_allow_private_ips:
// loopback, RFC 1918, CGNAT, link-local, unique-local, this-network, IPv4 embedded in IPv6
// (mapped, NAT64, 6to4) is judged as the IPv4 it carries. Denied always: cloud metadata
// addresses and names, multicast, reserved/broadcast.
import dns from 'node:dns';
import net, { BlockList } from 'node:net';
import { DialDenied, type DialGuard, type LookupFn } from '../../../plugins/notifiers/types';
import type { Resolver } from './ports';

export const SSRF_ERROR_CODE = 'WEBHOOK_SSRF_DENIED';

export class SsrfDenied extends DialDenied {
  override readonly code = SSRF_ERROR_CODE;
}

function list(entries: Array<[string, number]>): BlockList {
  const b = new BlockList();
  for (const [addr, prefix] of entries) b.addSubnet(addr, prefix, net.isIPv6(addr) ? 'ipv6' : 'ipv4');
  return b;
}

/** Denied even with webhook_allow_private_ips. */
const METADATA = list([
  ['169.254.169.254', 32], // AWS, GCP, Azure, OpenStack, DigitalOcean … instance metadata
  ['169.254.170.2', 32], // AWS ECS task metadata
  ['100.100.100.200', 32], // Alibaba Cloud metadata
  ['168.63.129.16', 32], // Azure WireServer
  ['fd00:ec2::254', 128], // AWS metadata over IPv6
]);
const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog', 'metadata', 'instance-data', 'instance-data.ec2.internal']);

const NEVER = list([
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, incl. 255.255.255.255 broadcast
  ['ff00::', 8], // IPv6 multicast
]);

/** Named ranges denied unless private targets are allowed. */
const PRIVATE: Array<[string, BlockList]> = [
  ['loopback', list([['127.0.0.0', 8], ['::1', 128]])],
  ['private network (RFC 1918)', list([['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]])],
  ['carrier-grade NAT (100.64.0.0/10)', list([['100.64.0.0', 10]])],
  ['link-local', list([['169.254.0.0', 16], ['fe80::', 10]])],
  ['unique-local (fc00::/7)', list([['fc00::', 7], ['fec0::', 10]])],
  ['this-network / unspecified', list([['0.0.0.0', 8], ['::', 128]])],
  ['special-purpose', list([['192.0.0.0', 24], ['198.18.0.0', 15], ['192.0.2.0', 24], ['198.51.100.0', 24], ['203.0.113.0', 24], ['2001:db8::', 32], ['100::', 64], ['::', 96]])],
];

/** The 8 hextets of an IPv6 address (zone id stripped), or null. */
function hextets(ip: string): number[] | null {
  const addr = ip.replace(/%.*$/, '');
  if (!net.isIPv6(addr)) return null;
  let s = addr;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const o = v4[1].split('.').map(Number);
    s = s.slice(0, v4.index) + `${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  const parts = [...h, ...fill, ...t].map((x) => parseInt(x, 16));
  return parts.length === 8 && parts.every((n) => n >= 0 && n <= 0xffff) ? parts : null;
}

const v4of = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/** The IPv4 address an IPv6 address carries (mapped ::ffff:0:0/96, NAT64 64:ff9b::/96, 6to4 2002::/16), if any. */
export function embeddedIPv4(ip: string): string | null {
  const h = hextets(ip);
  if (!h) return null;
  if (h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff) return v4of(h[6], h[7]);
  if (h[0] === 0x64 && h[1] === 0xff9b && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0) return v4of(h[6], h[7]);
  if (h[0] === 0x2002) return v4of(h[1], h[2]);
  return null;
}

export class AddressPolicy {
  constructor(readonly allowPrivate: boolean) {}

  /** Why `ip` may not be dialed, or null when it may. */
  checkIp(ip: string): string | null {
    const addr = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
    const family = net.isIP(addr);
    if (family === 0) return `${ip} is not an IP address`;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (METADATA.check(addr, type)) return `${addr} is a cloud metadata address`;
    if (family === 6) {
      const inner = embeddedIPv4(addr);
      if (inner) {
        const why = this.checkIp(inner);
        return why && `${addr} embeds ${inner}: ${why}`;
      }
    }
    if (NEVER.check(addr, type)) return `${addr} is a multicast or reserved address`;
    if (this.allowPrivate) return null;
    for (const [name, b] of PRIVATE) if (b.check(addr, type)) return `${addr} is a ${name} address (set WEBHOOK_ALLOW_PRIVATE_IPS=true to allow private targets)`;
    return null;
  }

  /** Name-based denials (metadata names always; localhost unless private targets are allowed), or null. */
  checkHostname(hostname: string): string | null {
    const name = hostname.toLowerCase().replace(/\.$/, '');
    if (METADATA_NAMES.has(name)) return `${name} is a cloud metadata host name`;
    if (!this.allowPrivate && (name === 'localhost' || name.endsWith('.localhost'))) return `${name} is a loopback name (set WEBHOOK_ALLOW_PRIVATE_IPS=true to allow private targets)`;
    return null;
  }
}

export const systemResolver: Resolver = async (hostname) => {
  const all = await dns.promises.lookup(hostname, { all: true, verbatim: true });
  return all.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Host of a URL without IPv6 brackets. */
export function urlHost(u: URL): string {
  return u.hostname.replace(/^\[|\]$/g, '');
}

/**
 * The create-time check: an absolute http(s) URL without credentials whose host (literal, or
 * every address it resolves to) passes the policy. Returns the reason for a denial, or null.
 */
export async function checkWebhookUrl(raw: string, policy: AddressPolicy, resolve: Resolver): Promise<string | null> {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'is not a valid absolute URL';
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `scheme ${u.protocol.replace(/:$/, '')} is not allowed; use http or https`;
  if (u.username || u.password) return 'must not contain credentials; use headers (e.g. Authorization) instead';
  const host = urlHost(u);
  if (!host) return 'has no host';
  if (net.isIP(host)) return policy.checkIp(host);
  const named = policy.checkHostname(host);
  if (named) return named;
  let addrs: Array<{ address: string }>;
  try {
    addrs = await resolve(host);
  } catch (err) {
    return `host ${host} does not resolve (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
  }
  if (addrs.length === 0) return `host ${host} does not resolve`;
  for (const a of addrs) {
    const why = policy.checkIp(a.address);
    if (why) return `host ${host} resolves to a denied address: ${why}`;
  }
  return null;
}

/**
 * A net.connect `lookup` that resolves with `resolve`, rejects the whole name when any address is
 * denied (a name that mixes public and private answers is a rebinding attempt), and hands the
 * checked addresses to the socket — which connects to them without resolving again.
 */
export function guardedLookup(policy: AddressPolicy, resolve: Resolver): LookupFn {
  return (hostname, options, callback) => {
    const opts = typeof options === 'number' ? { family: options } : options ?? {};
    const denied = policy.checkHostname(hostname);
    if (denied) {
      callback(new SsrfDenied(denied), '', 0);
      return;
    }
    resolve(hostname).then((addrs) => {
      const wanted = opts.family === 4 || opts.family === 6 ? addrs.filter((a) => a.family === opts.family) : addrs;
      if (wanted.length === 0) {
        callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '', 0);
        return;
      }
      for (const a of wanted) {
        const why = policy.checkIp(a.address);
        if (why) {
          callback(new SsrfDenied(`${hostname} resolves to a denied address: ${why}`), '', 0);
          return;
        }
      }
      if (opts.all) callback(null, wanted.map((a) => ({ address: a.address, family: a.family })));
      else callback(null, wanted[0].address, wanted[0].family);
    }, (err: NodeJS.ErrnoException) => callback(err, '', 0));
  };
}

/** The dial guard handed to the HTTP notifier: the policy for IP literals, the guarded lookup for names. */
export function dialGuard(policy: AddressPolicy, resolve: Resolver): DialGuard {
  return { checkIp: (ip) => policy.checkIp(ip), lookup: guardedLookup(policy, resolve) };
}
