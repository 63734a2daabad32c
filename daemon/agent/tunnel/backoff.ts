// Reconnect schedule: exponential backoff with full jitter (AWS architecture blog, "Exponential
// Backoff And Jitter"): attempt n waits a uniformly random time in [0, min(cap, base·2^n)).
// Full jitter spreads a fleet that lost its admin at the same moment over the whole window, so
// the admin sees a trickle of reconnects instead of a wall.
export interface BackoffOptions { baseMs: number; capMs: number }

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, capMs: 30_000 };

/** Upper bound of the wait before attempt `attempt` (0-based). */
export function backoffCeiling(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF): number {
  // 2^attempt overflows to Infinity past ~1000; min() keeps that finite.
  return Math.min(o.capMs, o.baseMs * 2 ** Math.min(attempt, 60));
}

/** The wait before attempt `attempt`: full jitter over [0, ceiling). `random` is injectable for tests. */
export function backoffDelay(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  return Math.floor(random() * backoffCeiling(attempt, o));
}
