// Signed CloudEvents webhooks (docs/webhooks.md): `createWebhooks` wires the feature (feature.ts).
export { type WebhooksConfig, type WebhooksDeps, type Webhooks, createWebhooks } from './feature';
export { EVENT_TYPES, isEventType } from './catalog';
export { SqlWebhookStore } from './sql-store';
export type * from './ports';
export type { WebhookStats } from './dispatcher';
