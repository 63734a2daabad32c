// The metric-collector extension point (ClickHouse, fleet aggregation): somewhere samples the
// daemon already has (host metrics, agent metrics, fleet counts) are written for long-term
// storage. No implementation ships yet; the registry has the slot so one drops in by name.
//
// The contract:
// - At-least-once, like event sinks: `write` reports how many leading samples were durably
//   stored; the caller re-sends the rest. A sample's idempotency key is (name, labels, time),
//   so a collector stores a re-sent sample once (ClickHouse: ReplacingMergeTree on that key).
// - Never throws: failures are WriteResult.error. `close()` is idempotent and drops nothing the
//   caller has not been told was stored.

export interface MetricSample {
  name: string;
  /** Label name → value; built from trusted code, never from request input without a null prototype. */
  labels: Readonly<Record<string, string>>;
  value: number;
  /** Unix time in milliseconds. */
  time: number;
}

export interface WriteResult {
  /** Leading samples durably stored. */
  accepted: number;
  error: string | null;
}

export interface MetricCollector {
  readonly kind: string;
  write(samples: readonly MetricSample[], signal?: AbortSignal): Promise<WriteResult>;
  close(): Promise<void>;
}
