// A conservative stand-in for the proxies' deny policy (daemon/agent/net/deny.ts), used for
// `ssh -L` until that policy is wired in: resolves the host and refuses loopback, unspecified,
// link-local (including cloud metadata) and multicast addresses.
import dns from 'node:dns/promises';
import net from 'node:net';
import type { CheckTarget } from './types';

function denied(addr: string): string | undefined {
  const a = addr.toLowerCase();
  if (net.isIPv4(a)) {
    const [x, y] = a.split('.').map(Number);
    if (x === 127) return 'loopback';
    if (x === 0) return 'unspecified';
    if (x === 169 && y === 254) return a === '169.254.169.254' ? 'cloud_metadata' : 'link_local';
    if (x >= 224) return 'multicast_or_reserved';
    return undefined;
  }
  if (a === '::1') return 'loopback';
  if (a === '::') return 'unspecified';
  if (a.startsWith('::ffff:')) return denied(a.slice(7));
  if (/^fe[89ab]/.test(a)) return 'link_local';
  if (a === 'fd00:ec2::254') return 'cloud_metadata';
  if (a.startsWith('ff')) return 'multicast';
  return undefined;
}

export const basicCheckTarget: CheckTarget = async (host, port) => {
  if (!(port > 0 && port < 65536)) return { ok: false, reason: 'invalid_port' };
  if (/^metadata(\.google\.internal)?\.?$/i.test(host)) return { ok: false, reason: 'cloud_metadata' };
  let address: string;
  let family: number;
  try {
    ({ address, family } = await dns.lookup(host, { verbatim: true }));
  } catch (err) {
    return { ok: false, reason: `dns_error: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  const why = denied(address);
  if (why) return { ok: false, reason: why };
  return { ok: true, address, family: family === 6 ? 6 : 4 };
};
