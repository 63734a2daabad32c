// IPv4 CIDR ranges of clusters: parse and validate a given range, detect overlaps, and pick the
// first free /24 in 100.64.0.0/10 (carrier-grade NAT space) when none is given.

export interface Cidr { base: number; prefix: number; size: number }

export const POOL = '100.64.0.0/10';
export const AUTO_PREFIX = 24;
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 30;

const toInt = (octets: number[]) => ((octets[0] << 24) >>> 0) + (octets[1] << 16) + (octets[2] << 8) + octets[3];
export const toDotted = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** Parses "a.b.c.d/n"; returns an error message instead when it is not a proper network. */
export function parseCidr(text: string): Cidr | string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(text);
  if (!m) return 'must be an IPv4 CIDR like 100.64.1.0/24';
  const octets = m.slice(1, 5).map(Number);
  if (octets.some((o, i) => o > 255 || (m[i + 1].length > 1 && m[i + 1].startsWith('0')))) return 'has an invalid octet';
  const prefix = Number(m[5]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) return `prefix length must be between /${MIN_PREFIX} and /${MAX_PREFIX}`;
  const size = 2 ** (32 - prefix);
  const addr = toInt(octets);
  const base = addr - (addr % size);
  if (base !== addr) return `has host bits set; the network is ${toDotted(base)}/${prefix}`;
  return { base, prefix, size };
}

export const format = (c: Cidr) => `${toDotted(c.base)}/${c.prefix}`;

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}

/** The first /24 of the pool that overlaps none of `taken`, or undefined when the pool is full. */
export function allocate(taken: Cidr[]): string | undefined {
  const pool = parseCidr(POOL) as Cidr;
  const size = 2 ** (32 - AUTO_PREFIX);
  const sorted = [...taken].sort((x, y) => x.base - y.base);
  let candidate = pool.base;
  for (const t of sorted) {
    if (t.base + t.size <= candidate) continue;
    if (t.base >= candidate + size) break;
    // Overlap: move past this range (aligned to the block size).
    candidate = Math.ceil((t.base + t.size) / size) * size;
  }
  return candidate + size <= pool.base + pool.size ? `${toDotted(candidate)}/${AUTO_PREFIX}` : undefined;
}
