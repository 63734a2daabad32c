// The delivery body and its signature. Each event is sent as a CloudEvents 1.0 structured-mode
// JSON document; the same event always produces the same bytes (retries are byte-identical),
// and X-Edge-Signature is `sha256=<hex HMAC-SHA256(secret, exact body bytes)>`.
import { createHmac } from 'node:crypto';
import type { OutboxEvent } from './ports';

export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
export const SIGNATURE_HEADER = 'X-Edge-Signature';

export interface CloudEvent {
  specversion: '1.0';
  id: string;
  type: string;
  source: string;
  time: string;
  datacontenttype: 'application/json';
  subject?: string;
  data: unknown;
}

/** The CloudEvent for an outbox event; `defaultSource` (e.g. `/outpost/admin/<admin id>`) when the event has none. */
export function toCloudEvent(ev: OutboxEvent, defaultSource: string): CloudEvent {
  return {
    specversion: '1.0',
    id: ev.id,
    type: ev.type,
    source: ev.source || defaultSource,
    time: ev.time,
    datacontenttype: 'application/json',
    ...(ev.subject ? { subject: ev.subject } : {}),
    data: JSON.parse(ev.data) as unknown,
  };
}

export function encodeCloudEvent(ce: CloudEvent): Buffer {
  return Buffer.from(JSON.stringify(ce), 'utf8');
}

export function sign(secret: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}
