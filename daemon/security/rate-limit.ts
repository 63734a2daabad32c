// Failed-authentication budget per source address: at most `perMinute` failures in any
// sliding minute; past it the address is refused (new connections and further attempts).
export class FailureLimiter {
  private readonly hits = new Map<string, number[]>();
  private static readonly WINDOW_MS = 60_000;
  private static readonly MAX_TRACKED = 100_000;

  constructor(private readonly perMinute: number) {}

  private recent(ip: string, now: number): number[] {
    const list = this.hits.get(ip);
    if (!list) return [];
    while (list.length && list[0] <= now - FailureLimiter.WINDOW_MS) list.shift();
    if (!list.length) this.hits.delete(ip);
    return list;
  }

  blocked(ip: string, now = Date.now()): boolean {
    return this.recent(ip, now).length >= this.perMinute;
  }

  fail(ip: string, now = Date.now()): void {
    const list = this.recent(ip, now);
    if (!list.length) {
      if (this.hits.size >= FailureLimiter.MAX_TRACKED) this.sweep(now);
      this.hits.set(ip, list);
    }
    list.push(now);
    if (list.length > this.perMinute) list.shift();
  }

  sweep(now = Date.now()): void {
    for (const ip of [...this.hits.keys()]) this.recent(ip, now);
  }
}
