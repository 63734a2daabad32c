// Logging for the agent's retry loops (enrollment, tunnel reconnects): an agent that cannot
// reach its admin must say so and why, but a loop retrying every ≤ 30 s for days must not fill
// the journal. So: the first failure, and every change of cause, at warn (or error); the same
// cause again at debug, with a reminder at the same level every `remindMs` (default 5 min)
// carrying the count and how long it has been failing; the recovery once, at info.
import type { Logger } from '../../base/log';

export const REMIND_MS = 5 * 60_000;

export class RetryLog {
  private cause: string | null = null;
  private since = 0;
  private failures = 0;
  private loudAt = 0;

  constructor(private readonly log: Logger, private readonly what: string, private readonly remindMs = REMIND_MS) {}

  /** A failed attempt; `cause` is compared with the previous one to decide how loud to be. */
  fail(cause: string, fields: Record<string, unknown> = {}, level: 'warn' | 'error' = 'warn', hint = ''): void {
    const now = Date.now();
    if (!this.failures) this.since = now;
    this.failures++;
    const changed = cause !== this.cause;
    this.cause = cause;
    const tail = hint ? ` — ${hint}` : '';
    if (changed) {
      this.loudAt = now;
      this.log[level]({ ...fields, attempts: this.failures }, `${this.what}: ${cause}${tail}; retrying with backoff`);
    } else if (now - this.loudAt >= this.remindMs) {
      this.loudAt = now;
      this.log[level]({ ...fields, attempts: this.failures, failing_for_s: Math.round((now - this.since) / 1000) }, `${this.what}: still failing after ${this.failures} attempts: ${cause}${tail}`);
    } else {
      this.log.debug({ ...fields, attempts: this.failures }, `${this.what}: ${cause}`);
    }
  }

  /** Success: returns what the outage was (for the "up" line), or null when nothing had failed. */
  ok(): { failed_attempts: number; down_s: number } | null {
    if (!this.failures) return null;
    const r = { failed_attempts: this.failures, down_s: Math.round((Date.now() - this.since) / 1000) };
    this.failures = 0;
    this.cause = null;
    return r;
  }

  get failing(): number { return this.failures; }
}
