// IP address text as the egress policy meets it: the literals a resolver or socket prints, the
// looser spellings a user or a URL may give for a host (127.1, 2130706433, 0x7f.1, 0177.0.0.1,
// [::1], fe80::1%eth0, a trailing dot), one canonical spelling for each address, and the IPv4
// address an IPv6 address carries (IPv4-mapped, NAT64, 6to4).
import net from 'node:net';

export type Family = 4 | 6;
export interface Address { address: string; family: Family }

/** Drops IPv6 brackets and a zone (`%eth0`). */
export function bare(text: string): string {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const pct = s.indexOf('%');
  return pct >= 0 ? s.slice(0, pct) : s;
}

/**
 * A strict IPv4 or IPv6 literal (brackets and zone allowed), in canonical form. IPv4-mapped
 * IPv6 (`::ffff:a.b.c.d`) becomes the IPv4 address it is: a socket dials it as IPv4.
 */
export function parseIp(text: string): Address | undefined {
  const s = bare(text);
  const kind = net.isIP(s);
  if (kind === 4) return { address: s, family: 4 };
  if (kind !== 6) return undefined;
  const h = hextets(s)!;
  if (isMapped(h)) return { address: v4of(h[6], h[7]), family: 4 };
  return { address: formatV6(h), family: 6 };
}

/**
 * A host as written by a user: an IP literal (see parseIp), or one of the IPv4 forms inet_aton()
 * and URL parsers accept — one to four parts, each decimal, octal (leading 0) or hex (0x), the
 * last filling the remaining bytes — with an optional trailing dot. undefined for a host name;
 * null for a host that ends in a number but is no valid address (`1.2.3.4.5`, `256.1.1.1`,
 * `foo.123`), which resolvers would read in ways of their own.
 */
export function parseHostLiteral(host: string): Address | null | undefined {
  const ip = parseIp(host);
  if (ip) return ip;
  const s = host.trim();
  if (s.includes(':') || s.startsWith('[')) return null;
  const parts = s.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  const last = parts[parts.length - 1];
  if (!/^(?:\d+|0x[0-9a-f]*)$/i.test(last)) return undefined;
  if (parts.length > 4) return null;
  const nums = parts.map(inetNumber);
  if (nums.some((n) => n === undefined)) return null;
  const head = nums.slice(0, -1) as number[];
  const tail = nums[nums.length - 1] as number;
  if (head.some((n) => n > 255) || tail >= 256 ** (5 - nums.length)) return null;
  let value = tail;
  head.forEach((n, i) => { value += n * 256 ** (3 - i); });
  return { address: [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.'), family: 4 };
}

function inetNumber(part: string): number | undefined {
  if (part === '') return undefined;
  if (/^0x[0-9a-f]*$/i.test(part)) return part.length === 2 ? 0 : parseInt(part.slice(2), 16);
  if (/^0[0-7]*$/.test(part)) return parseInt(part, 8);
  if (/^[1-9]\d*$/.test(part)) return Number(part);
  return undefined;
}

/**
 * The IPv4 address an IPv6 address carries: IPv4-mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`,
 * 6to4 `2002::/16`; undefined for anything else (an IPv4 literal carries nothing).
 */
export function embeddedIPv4(text: string): string | undefined {
  const s = bare(text);
  if (!net.isIPv6(s)) return undefined;
  const h = hextets(s)!;
  if (isMapped(h)) return v4of(h[6], h[7]);
  if (h[0] === 0x64 && h[1] === 0xff9b && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0) return v4of(h[6], h[7]);
  if (h[0] === 0x2002) return v4of(h[1], h[2]);
  return undefined;
}

/** The 4 or 16 network-order bytes of a parsed address. */
export function ipBytes(ip: Address): Buffer {
  if (ip.family === 4) return Buffer.from(ip.address.split('.').map(Number));
  const b = Buffer.alloc(16);
  hextets(ip.address)!.forEach((h, i) => b.writeUInt16BE(h, i * 2));
  return b;
}

/** `host:port`, with brackets around IPv6. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The 8 hextets of a valid IPv6 literal (no brackets, no zone). */
function hextets(s: string): number[] | undefined {
  let t = s;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(t);
  if (v4) {
    const o = v4[1].split('.').map(Number);
    t = `${t.slice(0, v4.index)}${((o[0] << 8) | o[1]).toString(16)}:${((o[2] << 8) | o[3]).toString(16)}`;
  }
  const [head, tail] = t.includes('::') ? t.split('::') : [t, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  const parts = [...left, ...fill, ...right].map((x) => parseInt(x, 16));
  return parts.length === 8 && parts.every((n) => n >= 0 && n <= 0xffff) ? parts : undefined;
}

const isMapped = (h: number[]) => h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff;
const v4of = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/** RFC 5952: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
function formatV6(groups: number[]): string {
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

/** A host name in the form resolvers get it: lowercase, no trailing dot, LDH labels (and `_`); undefined if malformed. */
export function normalizeHostname(name: string): string | undefined {
  const n = name.trim().toLowerCase().replace(/\.$/, '');
  if (n.length === 0 || n.length > 253) return undefined;
  return n.split('.').every((label) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label)) ? n : undefined;
}
