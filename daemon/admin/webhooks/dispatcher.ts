// The delivery loop. Fans out outbox events to the webhooks subscribed at that moment (one
// durable delivery row per webhook, written in the same transaction that marks the event
// dispatched), then claims due deliveries under a lease and sends them through a Notifier:
// CloudEvents body, X-Edge-Signature, the webhook's own headers. Each attempt is logged; a
// recoverable failure is rescheduled (next_attempt_at, exponential backoff with jitter, at least
// the receiver's Retry-After) until admin.webhook_max_attempts; a terminal one ends it.
//
// Delivery is at-least-once: a crash between sending and recording an attempt re-sends it when
// its lease expires; nothing queued is lost because every step is a committed row.
import { randomUUID } from 'node:crypto';
import type { Notifier, NotifyResult } from '../../../plugins/contracts/notifier';
import type { Logger } from '../../base/log';
import { CLOUDEVENTS_CONTENT_TYPE, encodeCloudEvent, sign, SIGNATURE_HEADER, toCloudEvent } from './cloudevent';
import type { ClaimedDelivery, DeliveryRepo, DeliveryUpdate, OutboxRepo, WebhookRepo } from './ports';
import type { SecretBox } from '../../security/secret-box';
import { headersContext, secretContext } from './service';

/** The reference's Admins.Metrics `webhook` object. */
export interface WebhookStats {
  deliveries_ok_total: number;
  deliveries_recoverable_total: number;
  deliveries_terminal_total: number;
  deliveries_total: number;
  fan_outs_total: number;
}

export interface DispatcherOptions {
  outbox: OutboxRepo;
  deliveries: DeliveryRepo;
  webhooks: WebhookRepo;
  box: SecretBox;
  notifier: Notifier;
  /** CloudEvents `source` for events that carry none, e.g. `/outpost/admin/<admin id>`. */
  source: string;
  userAgent: string;
  /** admin.webhook_max_attempts (WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Per-attempt budget. Default 10 s. */
  attemptTimeoutMs?: number;
  /** A claim's lease is the attempt budget plus this margin; an unfinished claim is re-sent after it. Default 5 s. */
  leaseMarginMs?: number;
  /** Backoff before retry n is base·2^(n-1), jittered to [50 %, 100 %], capped. Defaults 5 s / 15 min. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** How often the outbox and due retries are polled when nothing wakes the loop. Default 1 s. */
  pollMs?: number;
  /** Attempts in flight at once. Default 8. */
  concurrency?: number;
  log?: Logger;
  now?: () => number;
  random?: () => number;
}

export class WebhookDispatcher {
  private readonly counters: WebhookStats = { deliveries_ok_total: 0, deliveries_recoverable_total: 0, deliveries_terminal_total: 0, deliveries_total: 0, fan_outs_total: 0 };
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private running?: Promise<void>;
  private stopping = false;
  private closed?: Promise<void>;
  private wakeUp?: () => void;
  private woken = false;
  private readonly timeoutMs: number;
  private readonly leaseMs: number;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly pollMs: number;
  private readonly concurrency: number;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly o: DispatcherOptions) {
    this.timeoutMs = o.attemptTimeoutMs ?? 10_000;
    this.leaseMs = this.timeoutMs + (o.leaseMarginMs ?? 5_000);
    this.baseMs = o.retryBaseMs ?? 5_000;
    this.maxMs = o.retryMaxMs ?? 15 * 60_000;
    this.pollMs = o.pollMs ?? 1_000;
    this.concurrency = o.concurrency ?? 8;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
  }

  stats(): WebhookStats {
    return { ...this.counters };
  }

  /** Deliveries claimed under a lease and being sent now. */
  get leased(): number {
    return this.inflight.size;
  }

  start(): void {
    this.running ??= this.loop();
  }

  /** Run the loop now (e.g. right after a transaction that emitted events committed). */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * Stops claiming work and waits up to `timeoutMs` for attempts in flight; the rest are aborted
   * and stay leased (re-sent after their lease: at-least-once). Then closes the notifier.
   */
  close(timeoutMs = 5_000): Promise<void> {
    this.closed ??= this.shutdown(timeoutMs);
    return this.closed;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.wake();
    await this.running;
    if (this.inflight.size) {
      let timer: NodeJS.Timeout | undefined;
      const drained = Promise.all([...this.inflight]).then(() => true);
      const late = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), timeoutMs); });
      if (!(await Promise.race([drained, late]))) {
        this.abort.abort();
        await drained;
      }
      clearTimeout(timer);
    }
    await this.o.notifier.close();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      this.woken = false;
      let wait = this.pollMs;
      try {
        await this.fanOut();
        const claimed = await this.claim();
        const due = await this.o.deliveries.nextDue();
        // Due work that could not be claimed (full, or rows the claim skips) waits for a slot or the poll.
        if (due !== null && (claimed > 0 || Date.parse(due) > this.now())) wait = Math.min(wait, Math.max(0, Date.parse(due) - this.now()));
      } catch (err) {
        this.o.log?.error({ err }, 'webhook dispatcher: store error (retrying)');
      }
      // A free slot with due work: go again at once; otherwise sleep until woken, due, or the poll.
      if (this.woken || this.stopping) continue;
      if (wait <= 0 && this.inflight.size < this.concurrency) continue;
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.max(wait, 10));
        function done() { clearTimeout(t); resolve(); }
        this.wakeUp = done;
      });
      this.wakeUp = undefined;
    }
  }

  /** Every undispatched event → one delivery per subscribed webhook, event marked dispatched (one transaction). */
  private async fanOut(): Promise<void> {
    for (;;) {
      const events = await this.o.outbox.undispatched(100);
      for (const ev of events) {
        if (this.stopping) return;
        const hooks = await this.o.webhooks.subscribedTo(ev.type);
        if (await this.o.outbox.fanOut(ev, hooks.map((h) => h.id), new Date(this.now()).toISOString(), randomUUID)) this.counters.fan_outs_total++;
      }
      if (events.length < 100) return;
    }
  }

  private async claim(): Promise<number> {
    const free = this.concurrency - this.inflight.size;
    if (free <= 0 || this.stopping) return 0;
    const now = this.now();
    const lease = new Date(now + this.leaseMs).toISOString();
    const claimed = await this.o.deliveries.claimDue(new Date(now).toISOString(), lease, free);
    for (const c of claimed) {
      const p = this.attempt(c).catch((err) => this.o.log?.error({ err, delivery: c.delivery.id }, 'webhook attempt could not be recorded (re-sent after its lease)'));
      this.inflight.add(p);
      void p.finally(() => { this.inflight.delete(p); this.wake(); });
    }
    return claimed.length;
  }

  private async attempt({ delivery, webhook, event }: ClaimedDelivery): Promise<void> {
    let result: NotifyResult;
    try {
      const secret = this.o.box.open(webhook.secret_enc, secretContext(webhook.id));
      const extra = webhook.headers_enc ? (JSON.parse(this.o.box.open(webhook.headers_enc, headersContext(webhook.id))) as Record<string, string>) : {};
      const body = encodeCloudEvent(toCloudEvent(event, this.o.source));
      const headers: Record<string, string> = {
        ...extra,
        'content-type': CLOUDEVENTS_CONTENT_TYPE,
        'user-agent': this.o.userAgent,
        [SIGNATURE_HEADER]: sign(secret, body),
      };
      result = await this.o.notifier.send({ url: webhook.url, body, headers, timeoutMs: this.timeoutMs }, this.abort.signal);
    } catch (err) {
      // Undecryptable secret (key changed), unparsable event data: retrying cannot help.
      result = { outcome: 'terminal', statusCode: null, durationMs: 0, error: `not sent: ${(err as Error).message}` };
    }
    if (this.abort.signal.aborted && result.outcome !== 'ok') return; // shutdown: stays leased, re-sent later
    const n = delivery.attempts + 1;
    this.counters.deliveries_total++;
    if (result.outcome === 'ok') this.counters.deliveries_ok_total++;
    else if (result.outcome === 'recoverable') this.counters.deliveries_recoverable_total++;
    else this.counters.deliveries_terminal_total++;
    const at = this.now();
    const retry = result.outcome === 'recoverable' && n < this.o.maxAttempts;
    const update: DeliveryUpdate = {
      status: result.outcome === 'ok' ? 'delivered' : retry ? 'pending' : 'failed',
      attempts: n,
      next_attempt_at: retry ? new Date(at + this.backoff(n, result.retryAfterMs)).toISOString() : null,
      last_status_code: result.statusCode,
      last_error: result.error,
      delivered_at: result.outcome === 'ok' ? new Date(at).toISOString() : null,
      updated_at: new Date(at).toISOString(),
    };
    await this.o.deliveries.recordAttempt({
      id: randomUUID(), delivery_id: delivery.id, webhook_id: webhook.id, event_id: event.id, event_type: event.type, attempt: n,
      outcome: result.outcome, status_code: result.statusCode, duration_ms: result.durationMs, error: result.error, inserted_at: new Date(at).toISOString(),
    }, update);
    if (result.outcome !== 'ok') {
      this.o.log?.warn({ webhook: webhook.id, event: event.id, attempt: n, outcome: result.outcome, status: result.statusCode, error: result.error, final: !retry }, 'webhook delivery failed');
    }
  }

  /** Delay before the attempt after attempt `n`: exponential, jittered to [50 %, 100 %], capped, ≥ Retry-After. */
  backoff(n: number, retryAfterMs?: number): number {
    const exp = Math.min(this.maxMs, this.baseMs * 2 ** (n - 1));
    const jittered = Math.round(exp / 2 + (this.random() * exp) / 2);
    return retryAfterMs === undefined ? jittered : Math.max(jittered, Math.min(retryAfterMs, this.maxMs));
  }
}
