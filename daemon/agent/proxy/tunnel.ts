// Byte tunnels between a proxy client and its target: each direction reads into one reusable
// buffer and writes it straight on (backpressure and half-close preserved), Nagle off, an idle
// deadline (no bytes either way, checked by one sweep timer rather than per-chunk socket
// timers), and a drain on shutdown. Every tunnel ends with one close reason: normal, deadline or
// drain_timeout.
import net from 'node:net';
import type { CloseReason, ProxyCounters } from './stats';

/**
 * Read buffer of each direction of a tunnel: a small one while the traffic is light, grown to the
 * large one once a read fills the small one (bulk transfer), back to small after a small read.
 * Idle tunnels hold 2 × 4 KiB; a busy one 2 × 128 KiB (one read syscall moves up to that much).
 */
export const RELAY_BUFFER_BYTES = 128 * 1024;
export const RELAY_BUFFER_IDLE_BYTES = 4 * 1024;

interface SocketHandle { readStop(): number; reading: boolean }

/** The socket's handle, when the socket can move to a new object as it is: connected, nothing buffered. */
function movableHandle(s: net.Socket): SocketHandle | null {
  const handle = (s as unknown as { _handle?: SocketHandle | null })._handle;
  if (!handle || typeof handle.readStop !== 'function') return null;
  if (s.destroyed || s.connecting || s.readableLength > 0 || s.writableLength > 0) return null;
  return handle;
}

/**
 * Moves a connected socket's handle to a new Socket that reads into one reusable buffer (net's
 * `onread`), so relaying allocates nothing per chunk: with a fresh 64 KiB buffer per read, as
 * plain piping does, the garbage collector takes a large share of a busy tunnel's CPU.
 */
function move(s: net.Socket, handle: SocketHandle, onChunk: (chunk: Buffer) => boolean): net.Socket {
  s.pause();
  handle.readStop();
  handle.reading = false; // the new socket starts reading itself
  s.removeAllListeners();
  (s as unknown as { _handle: SocketHandle | null })._handle = null; // the old object lets go of the connection...
  let buffer = Buffer.allocUnsafe(RELAY_BUFFER_IDLE_BYTES);
  let last = 0;
  // net calls `buffer()` for the next read right after each callback. Reading is paused while a
  // write of the current chunk is pending, so handing back the same buffer never overwrites it.
  const next = () => {
    if (last === buffer.length && buffer.length < RELAY_BUFFER_BYTES) buffer = Buffer.allocUnsafe(RELAY_BUFFER_BYTES);
    else if (last < RELAY_BUFFER_IDLE_BYTES && buffer.length > RELAY_BUFFER_IDLE_BYTES) buffer = Buffer.allocUnsafe(RELAY_BUFFER_IDLE_BYTES);
    return buffer;
  };
  const opts = { handle, allowHalfOpen: true, onread: { buffer: next, callback: (n: number, b: Buffer) => { last = n; return onChunk(b.subarray(0, n)); } } };
  const moved = new net.Socket(opts as unknown as net.SocketConstructorOpts);
  s.destroy(); // ...and closes as an object only (a server's connection count goes down)
  return moved;
}

export class Tunnel {
  /** Which of the two ways the bytes are moved (tests check it). */
  mode: 'buffer' | 'pipe' = 'pipe';
  private reason?: CloseReason;
  private open = 2;
  /** Bytes seen on the client socket at the last idle check, and when that number last moved. */
  private lastBytes = -1;
  private lastActive = Date.now();
  readonly closed: Promise<void>;
  private onClosed!: () => void;

  constructor(public client: net.Socket, public upstream: net.Socket, private readonly done: (t: Tunnel, reason: CloseReason) => void) {
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
    this.client.setNoDelay(true);
    this.upstream.setNoDelay(true);
    // The idle deadline is checked by Tunnels' sweep (no per-chunk timer work on the hot path).
    this.client.setTimeout(0);
    this.upstream.setTimeout(0);
    const buffered = this.adoptBoth();
    const { client, upstream } = this;
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
    if (buffered) {
      // Each side's end of data ends the other's writing once what is queued is written.
      client.once('end', () => upstream.end());
      upstream.once('end', () => client.end());
      client.resume();
      upstream.resume();
    } else {
      client.pipe(upstream);
      upstream.pipe(client);
    }
  }

  /** Both sockets move to reusable read buffers, or neither does (then the tunnel pipes). */
  private adoptBoth(): boolean {
    const ch = movableHandle(this.client);
    const uh = movableHandle(this.upstream);
    if (!ch || !uh) return false;
    this.client = move(this.client, ch, this.relay(() => this.client, () => this.upstream));
    this.upstream = move(this.upstream, uh, this.relay(() => this.upstream, () => this.client));
    this.mode = 'buffer';
    return true;
  }

  /**
   * One direction: a chunk read into `from`'s buffer is written to `to`. When the write did not
   * go to the kernel at once the buffer is still in use, so reading stops until it is written.
   */
  private relay(from: () => net.Socket, to: () => net.Socket): (chunk: Buffer) => boolean {
    let paused = false;
    const resume = (err?: Error | null) => {
      if (!paused || err) return;
      paused = false;
      from().resume();
    };
    return (chunk) => {
      const dst = to();
      dst.write(chunk, resume);
      if (dst.writableLength === 0) return true;
      paused = true;
      return false;
    };
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
