// The deny policy of outbound connections made for clients (HTTP and SOCKS5 proxies, ssh -L).
// It is checked after DNS resolution, at connect time: a name is resolved once, every address it
// resolves to is checked, and the caller connects to a checked address (never re-resolving the
// name, which would let DNS rebinding slip past the check).
import dns from 'node:dns';
import os from 'node:os';
import { ConfigError } from '../../config/config';
import { Cidr, formatIp, inAny, parseCidr, parseCidrList, parseIp, type Ip } from './cidr';

/** Reasons a target is denied; the names are those of the reference's agent metrics. */
export const DENY_REASONS = [
  'agent_port_blocked',
  'metadata_service_blocked',
  'deny_list_blocked',
  'localhost_blocked',
  'link_local_blocked',
  'docker_network_blocked',
  'docker_port_blocked',
  'kubernetes_port_blocked',
] as const;
export type DenyReason = (typeof DENY_REASONS)[number];

const c = (list: string[]): Cidr[] => list.map(parseCidr);

/** Loopback and "this host" addresses (0.0.0.0 and :: reach the local host on Linux). */
export const LOOPBACK = c(['127.0.0.0/8', '::1/128', '0.0.0.0/8', '::/128']);
/** Cloud instance metadata endpoints: AWS/GCP/Azure/OpenStack, AWS ECS task metadata, AWS IPv6 IMDS, Alibaba. */
export const METADATA = c(['169.254.169.254/32', '169.254.170.2/32', 'fd00:ec2::254/128', '100.100.100.200/32']);
/** Names of metadata services, denied before they are even resolved. */
export const METADATA_NAMES = new Set(['metadata.google.internal', 'metadata.goog']);
export const LINK_LOCAL = c(['169.254.0.0/16', 'fe80::/10']);
/** Docker's default bridge (docker0); the subnets of docker and br-* interfaces are added when present. */
export const DOCKER_DEFAULT = c(['172.17.0.0/16']);
/** Docker Engine API (plain and TLS); unauthenticated on 2375, a root shell for whoever reaches it. */
export const DOCKER_PORTS = new Set([2375, 2376]);
/** kubelet API (10250, read-only 10255) and etcd (2379 client, 2380 peer). */
export const KUBERNETES_PORTS = new Set([10250, 10255, 2379, 2380]);

const DOCKER_IFACE = /^(docker\d*|br-[0-9a-f]+)$/;
const INTERFACE_TTL_MS = 5000;
const DNS_TIMEOUT_MS = 10_000;

export type TargetCheck =
  | { ok: true; address: string; family: 4 | 6; /** every resolved address, all checked, in resolver order */ addresses: { address: string; family: 4 | 6 }[] }
  | { ok: false; reason: DenyReason; blocked: true; message: string }
  | { ok: false; reason: 'invalid_target' | 'resolve_failed'; blocked: false; message: string };

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

export interface DenyPolicyOptions {
  /** The agent's own listening ports (API, SSH, proxies): denied on every local address. */
  ownPorts?: Iterable<number>;
  /** `proxy.allow_cidrs`: comma-separated; override the built-in rules except agent ports and metadata. */
  allowCidrs?: string;
  /** `proxy.deny_cidrs`: comma-separated extra denies (win over allow_cidrs). */
  denyCidrs?: string;
  /** Docker networks besides 172.17.0.0/16 and those found on docker and br- interfaces. */
  dockerSubnets?: string[];
  /** Interface table (default os.networkInterfaces). */
  interfaces?: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** Name resolution (default dns.lookup with all addresses). */
  resolve?: Resolver;
}

const defaultResolve: Resolver = (host) => dns.promises.lookup(host, { all: true, verbatim: true });

export class DenyPolicy {
  readonly allow: Cidr[];
  readonly deny: Cidr[];
  private readonly ownPorts: Set<number>;
  private readonly dockerExtra: Cidr[];
  private readonly interfaces: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  private readonly resolve: Resolver;
  private ifaceCache?: { at: number; local: Ip[]; docker: Cidr[] };

  constructor(opts: DenyPolicyOptions = {}) {
    this.allow = parseList('proxy.allow_cidrs', opts.allowCidrs);
    this.deny = parseList('proxy.deny_cidrs', opts.denyCidrs);
    this.ownPorts = new Set([...(opts.ownPorts ?? [])].filter((p) => p > 0));
    this.dockerExtra = (opts.dockerSubnets ?? []).map(parseCidr);
    this.interfaces = opts.interfaces ?? os.networkInterfaces;
    this.resolve = opts.resolve ?? defaultResolve;
  }

  /** Adds a port the agent listens on (e.g. the SSH port once it is bound). */
  addOwnPort(port: number): void {
    if (port > 0) this.ownPorts.add(port);
  }

  get agentPorts(): number[] {
    return [...this.ownPorts].sort((a, b) => a - b);
  }

  /** The rule an address:port hits, or undefined when it may be dialled. */
  classify(address: string | Ip, port: number): DenyReason | undefined {
    const ip = typeof address === 'string' ? parseIp(address) : address;
    if (!ip) throw new Error(`not an IP address: ${String(address)}`);
    const ifaces = this.interfaceInfo();
    if (this.ownPorts.has(port) && (inAny(ip, LOOPBACK) || ifaces.local.some((l) => l.value === ip.value))) return 'agent_port_blocked';
    if (inAny(ip, METADATA)) return 'metadata_service_blocked';
    if (inAny(ip, this.deny)) return 'deny_list_blocked';
    if (inAny(ip, this.allow)) return undefined;
    if (inAny(ip, LOOPBACK)) return 'localhost_blocked';
    if (inAny(ip, LINK_LOCAL)) return 'link_local_blocked';
    if (inAny(ip, DOCKER_DEFAULT) || inAny(ip, this.dockerExtra) || inAny(ip, ifaces.docker)) return 'docker_network_blocked';
    if (DOCKER_PORTS.has(port)) return 'docker_port_blocked';
    if (KUBERNETES_PORTS.has(port)) return 'kubernetes_port_blocked';
    return undefined;
  }

  /**
   * Resolves host (IP literals as they are) and checks every address it resolves to; denied if
   * any is. On success, dial `address` (or the others in `addresses`) — never the name again.
   */
  async checkTarget(host: string, port: number): Promise<TargetCheck> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return { ok: false, reason: 'invalid_target', blocked: false, message: `port must be 1..65535 (got ${port})` };
    }
    let name = host.trim();
    if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
    const literal = parseIp(name);
    let resolved: Ip[];
    if (literal) {
      resolved = [literal];
    } else {
      name = name.toLowerCase().replace(/\.$/, '');
      if (!validHostname(name)) return { ok: false, reason: 'invalid_target', blocked: false, message: `not a valid host name: ${JSON.stringify(host.slice(0, 256))}` };
      if (METADATA_NAMES.has(name)) return denied('metadata_service_blocked', host, port);
      let answers: { address: string; family: number }[];
      try {
        answers = await withTimeout(this.resolve(name), DNS_TIMEOUT_MS, `resolving ${name} took over ${DNS_TIMEOUT_MS} ms`);
      } catch (err) {
        return { ok: false, reason: 'resolve_failed', blocked: false, message: `cannot resolve ${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
      }
      resolved = answers.map((a) => parseIp(a.address)).filter((x): x is Ip => x !== undefined);
      if (resolved.length === 0) return { ok: false, reason: 'resolve_failed', blocked: false, message: `${name} has no addresses` };
    }
    for (const ip of resolved) {
      const reason = this.classify(ip, port);
      if (reason) return denied(reason, host, port, formatIp(ip));
    }
    const addresses = dedupe(resolved.map((ip) => ({ address: formatIp(ip), family: (ip.v4 ? 4 : 6) as 4 | 6 })));
    return { ok: true, address: addresses[0].address, family: addresses[0].family, addresses };
  }

  private interfaceInfo(): { local: Ip[]; docker: Cidr[] } {
    const now = Date.now();
    if (this.ifaceCache && now - this.ifaceCache.at < INTERFACE_TTL_MS) return this.ifaceCache;
    const local: Ip[] = [];
    const docker: Cidr[] = [];
    for (const [name, infos] of Object.entries(this.interfaces())) {
      for (const info of infos ?? []) {
        const ip = parseIp(info.address);
        if (ip) local.push(ip);
        if (DOCKER_IFACE.test(name) && info.cidr) {
          try { docker.push(parseCidr(info.cidr)); } catch { /* an odd entry is skipped */ }
        }
      }
    }
    this.ifaceCache = { at: now, local, docker };
    return this.ifaceCache;
  }
}

function parseList(key: string, list: string | undefined): Cidr[] {
  try {
    return parseCidrList(list);
  } catch (err) {
    throw new ConfigError(`${key}: ${(err as Error).message}`);
  }
}

function denied(reason: DenyReason, host: string, port: number, address?: string): TargetCheck {
  const via = address && address !== host ? ` (${address})` : '';
  return { ok: false, reason, blocked: true, message: `${host}:${port}${via} is denied by the proxy rules: ${reason}` };
}

function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label));
}

function dedupe<T extends { address: string }>(list: T[]): T[] {
  const seen = new Set<string>();
  return list.filter((x) => (seen.has(x.address) ? false : (seen.add(x.address), true)));
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(message)), ms); timer.unref(); }),
  ]);
}
