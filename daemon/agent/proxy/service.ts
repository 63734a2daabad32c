// The agent's proxies as one service: the HTTP proxy and the SOCKS5 proxy, their shared password,
// tunnels and counters. The daemon starts it after the API listens and drains it on shutdown.
import type { Logger } from '../../base/log';
import type { EgressPolicy } from '../../net';
import { ProxyAuth } from './auth';
import { HttpProxy } from './http-proxy';
import { loadProxyPassword, type ProxyPassword } from './password';
import { Socks5Proxy } from './socks5';
import { ProxyCounters, type ProxyStats } from './stats';
import { Tunnels } from './tunnel';


/** Longest wait for open tunnels at shutdown before they are closed (drain_timeout). */
export const PROXY_DRAIN_GRACE_MS = 5000;

export interface ProxyStartOptions {
  bind: string;
  httpPort: number;
  socks5Port: number;
  /** proxy.password; when unset, the stored or generated one. */
  password?: string;
  dataDir: string;
  /** proxy.auth_failures_per_minute: wrong logins per source address per minute before it is refused. */
  authFailuresPerMinute?: number;
}

export class ProxyService {
  readonly counters = new ProxyCounters();
  readonly tunnels: Tunnels;
  httpPort?: number;
  socks5Port?: number;
  passwordSource?: ProxyPassword['source'];
  passwordFile?: string;
  /** The password of user `_` while the proxies run (reported to the admin in the tunnel Hello; never logged). */
  password?: string;
  private http?: HttpProxy;
  private socks5?: Socks5Proxy;
  private closing?: Promise<{ forced: number }>;

  constructor(readonly policy: EgressPolicy, private readonly idleMs: number, private readonly log: Logger) {
    this.tunnels = new Tunnels(this.counters, idleMs);
  }

  get running(): boolean {
    return this.http !== undefined;
  }

  /** Binds both proxies; their ports join the policy's own ports. Closes what it opened on failure. */
  async start(o: ProxyStartOptions): Promise<void> {
    const pw = loadProxyPassword(o.password, o.dataDir, this.log);
    this.passwordSource = pw.source;
    this.passwordFile = pw.file;
    this.password = pw.password;
    const deps = { policy: this.policy, auth: new ProxyAuth(pw.password, o.authFailuresPerMinute, (ip) => this.log.warn({ source: ip }, 'proxy: too many failed logins from this address; refusing it for up to a minute')), counters: this.counters, tunnels: this.tunnels, log: this.log };
    const httpProxy = new HttpProxy({ ...deps, idleMs: this.idleMs });
    const socks5 = new Socks5Proxy(deps);
    try {
      this.httpPort = await httpProxy.listen(o.bind, o.httpPort);
      this.policy.addOwnPort(this.httpPort);
      this.socks5Port = await socks5.listen(o.bind, o.socks5Port);
      this.policy.addOwnPort(this.socks5Port);
    } catch (err) {
      if (httpProxy.server.listening) await httpProxy.stopAccepting();
      throw err;
    }
    this.http = httpProxy;
    this.socks5 = socks5;
    this.log.info({ bind: o.bind, http_port: this.httpPort, socks5_port: this.socks5Port, user: '_', agent_ports: this.policy.agentPorts }, 'proxies listening');
  }

  stats(): ProxyStats {
    return this.counters.stats();
  }

  /** Stops accepting, gives open tunnels and requests up to graceMs, then closes what is left. */
  close(graceMs: number = PROXY_DRAIN_GRACE_MS): Promise<{ forced: number }> {
    this.closing ??= (async () => {
      const { http, socks5 } = this;
      if (!http || !socks5) return { forced: 0 };
      const stopped = Promise.all([http.stopAccepting(), socks5.stopAccepting()]);
      socks5.destroyAll(); // handshakes in progress
      // Forwarded (absolute-URI) requests get the same grace as tunnels.
      const timer = setTimeout(() => http.destroyAll(), graceMs);
      const { forced } = await this.tunnels.drain(graceMs);
      await stopped;
      clearTimeout(timer);
      if (forced > 0) this.log.warn({ tunnels: forced }, 'proxy drain timeout: open tunnels closed');
      return { forced };
    })();
    return this.closing;
  }
}
