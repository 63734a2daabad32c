// Names derived from a cluster name in the reference's shapes.
/** DNS names of the reference's shapes (no VPN here: names for hosts files and the SSH jump). */
export const DOMAIN = 'outpost.internal';
export const networkName = (cluster: string) => `cluster-${cluster}`;
export const vpnDomain = (cluster: string) => `cluster-${cluster}.${DOMAIN}`;
