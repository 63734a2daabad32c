// The admin side of the agent tunnel (docs/tunnel.md): enrollment route, WebSocket hub, the
// TunnelBackend interface the control-plane store implements, and the wire schema.
export { tunnelRoutes, type TunnelRoutesOptions } from './routes';
export { TunnelHub, TUNNEL_PATH, CLOSE_REPLACED, CLOSE_BAD_HELLO, CLOSE_SLOW, CLOSE_SHUTDOWN, MISSED_BEATS, type TunnelHubOptions } from './hub';
export * from './backend';
export type { CommandDeliver, SshUser, MetricsKind } from '../../tunnel/schema';
