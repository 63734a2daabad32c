// The one polling loop of the tests: calls `fn` until it returns a truthy value, and fails with
// `what` (and the last error `fn` threw, when `opts.tolerateErrors`) once `ms` have passed.
export interface UntilOptions { everyMs?: number; tolerateErrors?: boolean }

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
    await new Promise((r) => setTimeout(r, opts.everyMs ?? 20));
  }
}
