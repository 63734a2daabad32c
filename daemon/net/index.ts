// The network floor both roles stand on: the one egress policy every outbound dial goes through
// (proxies, ssh -L, webhooks), dialling through it, and binding listeners.
export { EgressDenied, EgressPolicy, EGRESS_REASONS, METADATA_ADDRESSES, METADATA_NAMES, type Denial, type EgressOptions, type EgressReason, type Resolver, type TargetCheck } from './egress';
export { dialTarget, TUNNEL_HIGH_WATER_MARK, type DialFailure, type DialResult } from './dial';
export { listenOn } from './listen';
export { embeddedIPv4, hostPort, ipBytes, parseHostLiteral, parseIp, type Address, type Family } from './address';
export type { LookupFn } from '../../plugins/contracts/notifier';
