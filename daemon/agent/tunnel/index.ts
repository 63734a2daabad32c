// The agent side of the tunnel (docs/tunnel.md): enrollment, the outbound WebSocket client with
// its durable outbox, and the bridge to the local command runner.
export { AgentTunnel, type AgentTunnelOptions, type AgentTunnelStats } from './service';
export { TunnelClient, type TunnelHooks, type TunnelClientOptions, type TunnelClientStats, type TunnelState } from './client';
export { LmdbTunnelStore, type TunnelStore, type DeliveryRecord } from './store';
export { CommandsBridge, toResult } from './commands-bridge';
export { backoffDelay, backoffCeiling, DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
export { enroll, EnrollFailure, type EnrollAnswer } from './enroll';
export { nodeIdentity, readEnrolled, readCredentials, type EnrolledState, type NodeIdentity } from './identity';
