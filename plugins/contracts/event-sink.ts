// The event-sink extension point: something that carries control-plane events (CloudEvents 1.0,
// the ones the admin queues in its outbox for webhooks) to a broker. The admin's relay reads the
// outbox in order, hands a sink batches, and moves its durable cursor past what the sink says
// was accepted; the NATS JetStream sink (nats.ts) is the first implementation.
//
// The contract:
// - At-least-once. `publish` reports how many events, from the start of the batch, the
//   destination has durably accepted (for JetStream: a PubAck from the stream). Everything after
//   that prefix is handed over again later, possibly after a restart, so a sink sees the same
//   event more than once.
// - Idempotency key: `SinkEvent.id` (the CloudEvent id, unique per event, stable across
//   re-publishes). A sink passes it to its destination's de-duplication (JetStream
//   `Nats-Msg-Id`); consumers de-duplicate on the CloudEvent id past that window.
// - Order: a batch is in outbox order; a sink publishes it in that order.
// - Never throws: every failure is a PublishResult with `error` set; `signal` aborts (shutdown).
// - `close()` is idempotent: it stops publishing, waits for nothing that is not acknowledged
//   (the relay re-sends it next start), and releases connections.

export interface SinkEvent {
  /** The CloudEvent id: the idempotency key. */
  id: string;
  /** The CloudEvent type (e.g. `edge.node.registered`); sinks route on it. */
  type: string;
  /** The CloudEvent, structured mode, as exact bytes (application/cloudevents+json). */
  body: Buffer;
}

export interface PublishResult {
  /** Leading events of the batch the destination durably accepted (0..batch length). */
  accepted: number;
  /** Of those, how many the destination reported as already seen (de-duplicated re-publishes). */
  duplicates: number;
  /** Why the rest of the batch was not accepted, or null when all was. */
  error: string | null;
}

export interface EventSink {
  readonly kind: string;
  publish(events: readonly SinkEvent[], signal?: AbortSignal): Promise<PublishResult>;
  close(): Promise<void>;
}
