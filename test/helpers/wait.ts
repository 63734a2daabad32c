// Waiting in tests. A test that waits for something to happen polls for it with `until` (bounded
// by a deadline, so a slow machine only makes it slower, never wrong). `sleep` is only for letting
// time pass on purpose — a TTL or delay running out, or a window in which something must NOT
// happen — and each use says why in a comment.
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export interface UntilOptions { everyMs?: number; tolerateErrors?: boolean }

/**
 * The one polling loop of the tests: calls `fn` until it returns a truthy value, and fails with
 * `what` (and the last error `fn` threw, when `opts.tolerateErrors`) once `ms` have passed.
 */
export async function until<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, ms = 20_000, opts: UntilOptions = {}): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      if (!opts.tolerateErrors) throw e;
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(opts.everyMs ?? 20);
  }
}

/**
 * Waits until a flow that backpressure should stop has stopped: `read()` (a buffer length, a byte
 * count) is positive and has not changed for `quietMs`. Resolves with that value; fails after `ms`.
 * A fixed sleep would pass by luck on a slow machine before an unbounded flow had overflowed.
 */
export async function settled(what: string, read: () => number, quietMs = 250, ms = 20_000): Promise<number> {
  let last = read();
  let since = Date.now();
  const r = await until(what, () => {
    const v = read();
    if (v !== last) { last = v; since = Date.now(); return undefined; }
    return v > 0 && Date.now() - since >= quietMs ? { v } : undefined;
  }, ms);
  return r.v;
}
