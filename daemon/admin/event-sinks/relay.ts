// One event sink's relay: outbox → sink, at least once. Each pass numbers new events
// (SinkOutbox.sequence), reads the next batch past the sink's durable cursor, hands it to the
// sink, and moves the cursor past the prefix the sink reports accepted (for JetStream: PubAcked).
// A crash between the acknowledgement and the cursor update re-sends that prefix on the next
// start; the sink's idempotency key (the CloudEvent id) lets the destination drop it.
//
// While the sink fails (NATS down), the relay backs off exponentially (jittered, capped) and
// ignores wake-ups, so a burst of events does not turn into a burst of reconnects. It runs on its
// own loop, separate from the webhook dispatcher: a slow or hanging sink never holds a webhook
// delivery (they share only the store, and the relay holds no transaction while publishing).
import type { SinkStats } from '../api/context';
import type { EventSink, SinkEvent } from '../../../plugins';
import type { Logger } from '../../base/log';
import { encodeCloudEvent, toCloudEvent } from '../webhooks/cloudevent';
import type { SequencedEvent, SinkOutbox } from './outbox';

const TOUCH_EVERY_MS = 3_600_000;

export interface RelayOptions {
  /** The sink's name: its cursor row and its metrics label. */
  name: string;
  sink: EventSink;
  outbox: SinkOutbox;
  /** CloudEvents source for events without one (`/outpost/admin/<admin id>`). */
  source: string;
  log?: Logger;
  batch?: number;
  pollMs?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  random?: () => number;
}


export class SinkRelay {
  private readonly batch: number;
  private readonly pollMs: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;
  private readonly abort = new AbortController();
  private readonly counters = { published_total: 0, duplicates_total: 0, failures_total: 0 };
  private lag: number | null = null;
  private position = 0;
  private lastError: string | null = null;
  private failures = 0;
  private stopping = false;
  private woken = false;
  private wakeUp?: () => void;
  private loop?: Promise<void>;
  private touchedAt = Date.now();

  constructor(private readonly o: RelayOptions) {
    this.batch = o.batch ?? 100;
    this.pollMs = o.pollMs ?? 1000;
    this.baseMs = o.retryBaseMs ?? 500;
    this.maxMs = o.retryMaxMs ?? 30_000;
    this.random = o.random ?? Math.random;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** New events committed: run now, unless backing off from a failing sink. */
  wake(): void {
    this.woken = true;
    if (this.failures === 0) this.wakeUp?.();
  }

  stats(): SinkStats {
    return { sink: this.o.name, kind: this.o.sink.kind, ...this.counters, lag: this.lag, position: this.position, failing: this.failures > 0, last_error: this.lastError };
  }

  /** Delay after the n-th failure in a row: exponential from retryBaseMs, jittered to [50 %, 100 %], capped. */
  backoff(n: number): number {
    const exp = Math.min(this.maxMs, this.baseMs * 2 ** (n - 1));
    return Math.round(exp / 2 + (this.random() * exp) / 2);
  }

  private async run(): Promise<void> {
    let opened = false;
    while (!this.stopping) {
      this.woken = false;
      let wait = this.pollMs;
      try {
        // The cursor row first (created for a new sink): without it nothing could be advanced.
        if (!opened) { this.position = await this.o.outbox.open(this.o.name); opened = true; }
        const numbered = await this.o.outbox.sequence();
        const pos = await this.o.outbox.position(this.o.name);
        this.position = pos;
        const events = await this.o.outbox.after(pos, this.batch);
        if (events.length) {
          // Before the hand-over too, so a publish that hangs (NATS frozen) shows as lag, not as the last pass's 0.
          this.lag = await this.o.outbox.lag(pos);
          const res = await this.o.sink.publish(events.map((e) => this.toSinkEvent(e)), this.abort.signal);
          if (res.accepted > 0) {
            const to = events[res.accepted - 1].seq;
            await this.o.outbox.advance(this.o.name, to);
            this.position = Math.max(this.position, to);
            this.counters.published_total += res.accepted;
            this.counters.duplicates_total += res.duplicates;
          }
          if (res.error !== null) throw Object.assign(new Error(res.error), { sinkError: true });
          if (events.length === this.batch) wait = 0;
        }
        if (numbered === 500) wait = 0;
        this.lag = await this.o.outbox.lag(this.position);
        // An idle sink says it is alive once an hour (the retention guard ignores cursors older than the retention period).
        if (Date.now() - this.touchedAt > TOUCH_EVERY_MS) { await this.o.outbox.touch(this.o.name); this.touchedAt = Date.now(); }
        if (this.failures > 0) this.o.log?.info({ sink: this.o.name, failures: this.failures, position: this.position }, 'event sink recovered');
        this.failures = 0;
        this.lastError = null;
      } catch (err) {
        if (this.stopping) break;
        this.failures++;
        this.counters.failures_total++;
        this.lastError = (err as Error).message;
        wait = this.backoff(this.failures);
        // The first failure and then every tenth: a long outage does not flood the log.
        if (this.failures === 1 || this.failures % 10 === 0) {
          const fields = { sink: this.o.name, failures: this.failures, retry_in_ms: wait, position: this.position, error: this.lastError };
          if ((err as { sinkError?: boolean }).sinkError) this.o.log?.warn(fields, 'event sink: publish failed (events wait in the outbox; retrying)');
          else this.o.log?.error({ ...fields, err }, 'event sink: store error (retrying)');
        }
        this.o.outbox.lag(this.position).then((n) => { this.lag = n; }, () => undefined);
      }
      if (this.stopping) break;
      if (wait === 0 || (this.woken && this.failures === 0)) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, wait);
        function done() { clearTimeout(t); resolve(); }
        this.wakeUp = done;
      });
      this.wakeUp = undefined;
    }
  }

  private toSinkEvent(e: SequencedEvent): SinkEvent {
    let body: Buffer;
    try {
      body = encodeCloudEvent(toCloudEvent({ ...e, dispatched_at: null }, this.o.source));
    } catch {
      // Unparsable data (never written by emitEvent): sent as the JSON string it is rather than blocking the sink.
      body = encodeCloudEvent({ ...toCloudEvent({ ...e, data: 'null', dispatched_at: null }, this.o.source), data: e.data });
    }
    return { id: e.id, type: e.type, body };
  }

  /** Stops the loop (a publish in flight is abandoned: it is re-sent next start) and closes the sink. Idempotent. */
  async close(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.abort.abort();
      this.wakeUp?.();
    }
    await this.o.sink.close();
    await this.loop;
  }
}
