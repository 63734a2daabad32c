// Byte tunnels between a proxy client and its target: plain socket.pipe both ways (backpressure
// and half-close preserved), Nagle off, an idle deadline (no bytes either way, checked by one
// sweep timer rather than per-chunk socket timers), and a drain on shutdown. Every tunnel ends with one close reason: normal, deadline or drain_timeout.
import type net from 'node:net';
import type { CloseReason, ProxyCounters } from './stats';

export class Tunnel {
  private reason?: CloseReason;
  private open = 2;
  /** Bytes seen on the client socket at the last idle check, and when that number last moved. */
  private lastBytes = -1;
  private lastActive = Date.now();
  readonly closed: Promise<void>;
  private onClosed!: () => void;

  constructor(readonly client: net.Socket, readonly upstream: net.Socket, private readonly done: (t: Tunnel, reason: CloseReason) => void) {
    this.closed = new Promise((resolve) => { this.onClosed = resolve; });
  }

  bytesUp(): number { return this.upstream.bytesWritten; }
  bytesDown(): number { return this.upstream.bytesRead; }

  /** Closes the tunnel if no byte moved either way for idleMs (every byte passes the client socket). */
  checkIdle(now: number, idleMs: number): void {
    const bytes = this.client.bytesRead + this.client.bytesWritten;
    if (bytes !== this.lastBytes) { this.lastBytes = bytes; this.lastActive = now; return; }
    if (now - this.lastActive >= idleMs) this.close('deadline');
  }

  start(head: Buffer | undefined): void {
    const { client, upstream } = this;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    // The idle deadline is checked by Tunnels' sweep (no per-chunk timer work on the hot path).
    client.setTimeout(0);
    upstream.setTimeout(0);
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => b.destroy());
      a.once('close', (hadError) => {
        // A clean close means both directions of `a` are done: let `b` flush what it holds, then close it.
        if (hadError || this.reason) b.destroy();
        else endThenDestroy(b);
        if (--this.open === 0) this.finish();
      });
    }
    if (head && head.length > 0) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Ends the tunnel now (deadline or drain timeout). */
  close(reason: CloseReason): void {
    this.reason ??= reason;
    this.client.destroy();
    this.upstream.destroy();
  }

  private finish(): void {
    this.done(this, this.reason ?? 'normal');
    this.onClosed();
  }
}

function endThenDestroy(s: net.Socket): void {
  if (s.destroyed) return;
  if (s.writableFinished) { s.destroy(); return; }
  s.once('finish', () => s.destroy());
  s.end();
}

export class Tunnels {
  private readonly live = new Set<Tunnel>();
  private draining = false;
  private sweeper?: NodeJS.Timeout;

  constructor(private readonly counters: ProxyCounters, private readonly idleMs: number) {}

  /** One timer for all tunnels: a tunnel idle for idleMs closes within idleMs + idleMs/4 (at most +1 s). */
  private sweep(): void {
    if (this.sweeper || this.live.size === 0) return;
    const tick = Math.max(50, Math.min(1000, Math.floor(this.idleMs / 4)));
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const t of this.live) t.checkIdle(now, this.idleMs);
      if (this.live.size === 0) { clearInterval(this.sweeper); this.sweeper = undefined; }
    }, tick);
    this.sweeper.unref();
  }

  get size(): number { return this.live.size; }
  get isDraining(): boolean { return this.draining; }

  /** Starts piping; false (and nothing done) when the proxies are shutting down. */
  open(client: net.Socket, upstream: net.Socket, head?: Buffer): boolean {
    if (this.draining || client.destroyed) return false;
    const t = new Tunnel(client, upstream, (tun, reason) => {
      this.live.delete(tun);
      this.counters.finish(tun);
      this.counters.tunnelClosed(reason);
    });
    this.live.add(t);
    this.counters.live.add(t);
    t.start(head);
    this.sweep();
    return true;
  }

  /** Refuses new tunnels, waits up to graceMs for the open ones to end, then closes the rest. */
  async drain(graceMs: number): Promise<{ forced: number }> {
    this.draining = true;
    if (this.live.size === 0) return { forced: 0 };
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all([...this.live].map((t) => t.closed));
    await Promise.race([all, new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); })]);
    clearTimeout(timer);
    const rest = [...this.live];
    for (const t of rest) t.close('drain_timeout');
    await Promise.all(rest.map((t) => t.closed));
    return { forced: rest.length };
  }
}
