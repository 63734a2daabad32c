// TTL expiry: reads already hide expired records (reads.ts); the reaper reclaims them in the
// background, a bounded batch per transaction, through the write mode.
import type { KvStore } from './store';
import type { WriteContext, WriteMode } from './write-modes';

export class Reaper {
  private timer?: NodeJS.Timeout;
  private reaping = false;
  private closed = false;

  /** @param intervalMs how often a pass runs (0 = only when reapOnce() is called). */
  constructor(
    private readonly kv: KvStore,
    private readonly mode: WriteMode,
    private readonly ctx: WriteContext,
    intervalMs: number,
  ) {
    if (intervalMs > 0) {
      this.timer = setInterval(() => void this.reapOnce(), intervalMs);
      this.timer.unref();
    }
  }

  /** One pass over every partition; returns how many records it removed. */
  async reapOnce(now = Date.now(), limit = 5000): Promise<number> {
    if (this.reaping || this.closed) return 0;
    this.reaping = true;
    let total = 0;
    try {
      for (let p = 0; p < this.ctx.parts.length; p++) {
        for (;;) {
          const r = await this.mode.reap(this.ctx, p, now, limit);
          total += r.removed;
          if (r.removed > 0) this.kv.afterCommit(p);
          if (!r.more || this.closed) break;
        }
      }
    } finally {
      this.reaping = false;
    }
    this.kv.reaped += total;
    return total;
  }

  /** No more scheduled passes (a pass under way goes on until close()). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Ends the pass under way after its current batch; waits for it until `deadline`. */
  async close(deadline: number): Promise<void> {
    this.stop();
    this.closed = true;
    while (this.reaping && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  }
}
