// The event catalog (Events.Type), as the webhook code sees it: one list for the whole admin,
// defined next to emitEvent in store/events.ts (which refuses types outside it). Webhook
// subscriptions are validated against it; GET /api/v1/event_types returns it as is.
export { EVENT_TYPES, isEventType, type EventType } from '../store/events';
