// The event catalog of the Edge Admin reference (Events.Type), in catalog order. Webhook
// subscriptions are validated against it; GET /api/v1/event_types returns it as is.

export const EVENT_TYPES = [
  'edge.enrollment_key.verified',
  'edge.node.registered',
  'edge.node.reregistered',
  'edge.node.version_changed',
  'edge.node.status_changed',
  'edge.node.cluster_changed',
  'edge.node.update_triggered',
  'edge.command_execution.created',
  'edge.command_execution.sent',
  'edge.command_execution.completed',
  'edge.command_execution.cancelled',
  'edge.command_execution.expired',
  'edge.command_execution.pruned',
  'edge.ssh_username.verified',
  'edge.self_update_request.completed',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

const KNOWN: ReadonlySet<string> = new Set(EVENT_TYPES);

export function isEventType(s: string): s is EventType {
  return KNOWN.has(s);
}
