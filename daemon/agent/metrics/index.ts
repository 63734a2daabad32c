// The agent's metrics feature: host and agent metric bodies (JSON, Edge Admin shapes), the
// Prometheus families, and their routes.
export { AgentMetricsService, type AgentMetricsOptions, type HostMetricsBody, type UnifiedMetricsBody } from './service';
export type { AgentStatsSources, AgentMetricsBody, CommandsStats, ProxyStats, SshStats, ApplicationStats } from './agent';
export { HostMetrics, type HostSample } from './host';
