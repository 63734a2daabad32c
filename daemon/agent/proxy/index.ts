// The agent's HTTP and SOCKS5 proxies (docs/proxy.md): one service that starts, drains and counts both.
export { ProxyService, PROXY_DRAIN_GRACE_MS, type ProxyStartOptions } from './service';
export type { ProxyStats } from './stats';
export { PROXY_USER } from './password';
