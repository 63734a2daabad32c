// IP addresses and CIDR ranges as 128-bit integers. IPv4 lives in the IPv4-mapped IPv6 range
// (::ffff:0:0/96), so `::ffff:127.0.0.1` and `127.0.0.1` are the same address and an IPv4 rule
// matches both spellings.
import net from 'node:net';

const V4_MAPPED_PREFIX = 0xffffn << 32n;
const ALL_ONES = (1n << 128n) - 1n;

export interface Ip {
  /** The address as a 128-bit integer (IPv4 in its IPv4-mapped form). */
  value: bigint;
  /** True for IPv4 and IPv4-mapped IPv6 (`::ffff:a.b.c.d`). */
  v4: boolean;
}

function parseV4(s: string): bigint {
  const p = s.split('.').map(Number);
  return BigInt(((p[0] << 24) >>> 0) + (p[1] << 16) + (p[2] << 8) + p[3]);
}

/** Parses an IPv4 or IPv6 literal (a zone such as `%eth0` is ignored); undefined if not an IP. */
export function parseIp(input: string): Ip | undefined {
  let s = input.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  const kind = net.isIP(s);
  if (kind === 4) return { value: V4_MAPPED_PREFIX | parseV4(s), v4: true };
  if (kind !== 6) return undefined;
  // Rewrite an embedded IPv4 tail (`::ffff:1.2.3.4`) as two hextets, then expand the `::`.
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const v = parseV4(s.slice(lastColon + 1));
    s = `${s.slice(0, lastColon + 1)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  let groups: string[];
  if (s.includes('::')) {
    const [a, b] = s.split('::');
    const left = a ? a.split(':') : [];
    const right = b ? b.split(':') : [];
    groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  } else {
    groups = s.split(':');
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(parseInt(g, 16));
  return { value, v4: (value >> 32n) === 0xffffn };
}

/** The canonical text of an address: dotted quad for IPv4 and IPv4-mapped, else RFC 5952-ish IPv6. */
export function formatIp(ip: Ip): string {
  if (ip.v4) {
    const v = Number(ip.value & 0xffffffffn);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // Compress the longest run of two or more zero groups.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

export class Cidr {
  readonly network: bigint;
  readonly mask: bigint;
  constructor(readonly text: string, ip: Ip, readonly prefix: number) {
    // An IPv4 prefix counts within the mapped /96.
    const bits = ip.v4 ? 96 + prefix : prefix;
    this.mask = bits === 0 ? 0n : (ALL_ONES << BigInt(128 - bits)) & ALL_ONES;
    this.network = ip.value & this.mask;
  }

  contains(ip: Ip): boolean {
    return (ip.value & this.mask) === this.network;
  }
}

/** Parses `a.b.c.d/n`, `x::y/n`, or a bare address (a /32 or /128); throws with a clear message. */
export function parseCidr(text: string): Cidr {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash >= 0 ? t.slice(0, slash) : t;
  const ip = parseIp(addr);
  if (!ip || addr.includes('%')) throw new Error(`${JSON.stringify(text)} is not a CIDR (expected e.g. 10.0.0.0/8 or fd00::/8)`);
  const isV4Literal = net.isIPv4(addr);
  const max = isV4Literal ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = t.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new Error(`${JSON.stringify(text)}: prefix length must be 0..${max}`);
    prefix = Number(p);
  }
  // `::ffff:10.0.0.0/104` is an IPv6 spelling of an IPv4 range: keep it in 128-bit terms.
  return new Cidr(t, isV4Literal ? ip : { value: ip.value, v4: false }, prefix);
}

/** Parses a comma-separated list of CIDRs (empty or undefined = none). */
export function parseCidrList(list: string | undefined): Cidr[] {
  if (!list) return [];
  return list.split(',').map((s) => s.trim()).filter(Boolean).map(parseCidr);
}

export function inAny(ip: Ip, cidrs: readonly Cidr[]): boolean {
  for (const c of cidrs) if (c.contains(ip)) return true;
  return false;
}
