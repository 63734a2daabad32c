// Event sinks (docs/events.md): every control-plane event published from the outbox (feature.ts).
export { EVENT_SINKS_FIELD, type EventSinks, type RelayTuning, createEventSinks } from './feature';
export { SinkOutbox } from './outbox';
export { SinkRelay } from './relay';
export type { SinkStats } from '../api/context';
