// Byte streams multiplexed over one tunnel (tunnel.proto StreamOpen/Opened/Data/Close), used by
// the admin's SSH jump to reach a node's SSH server behind NAT. Shared by both ends: the admin
// opens streams, the agent connects them to a local service. Credit-based flow control keeps
// at most STREAM_WINDOW bytes of one stream in flight, so a fast sender (scp of 100 MB) never
// floods the tunnel or the peer's memory, and backpressure reaches the real socket.
import { Duplex } from 'node:stream';
import type { Envelope } from './schema';

export const STREAM_WINDOW = 1 << 20;
const CHUNK = 64 << 10;
/** Grant credit back once this much has been consumed (or whenever the reader asks for more). */
const GRANT_MIN = 128 << 10;

export class TunnelStream extends Duplex {
  private credit = STREAM_WINDOW;
  private ungranted = 0;
  private blocked?: { data: Buffer; cb: (err?: Error | null) => void };
  /** The peer closed the whole stream (no more frames of ours are wanted). */
  private closedByPeer = false;
  /** We sent our end-of-data. */
  private sentEof = false;
  /** The peer sent its end-of-data. */
  private peerEof = false;

  constructor(readonly id: number, private readonly mux: StreamMux) {
    super({ allowHalfOpen: true });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.sendSome(chunk, cb);
  }

  private sendSome(data: Buffer, cb: (err?: Error | null) => void): void {
    let off = 0;
    while (off < data.length && this.credit > 0) {
      const n = Math.min(CHUNK, this.credit, data.length - off);
      if (!this.mux.send({ stream_data: { stream_id: this.id, data: data.subarray(off, off + n) } })) {
        cb(new Error('tunnel closed'));
        return;
      }
      this.credit -= n;
      off += n;
    }
    if (off < data.length) this.blocked = { data: data.subarray(off), cb };
    else cb();
  }

  override _read(): void {
    this.grant();
  }

  private grant(): void {
    if (this.ungranted <= 0 || this.closedByPeer || this.peerEof) return; // no more data is coming
    const n = this.ungranted;
    this.ungranted = 0;
    this.mux.send({ stream_data: { stream_id: this.id, window: n } });
  }

  /** Data from the peer. */
  onData(data: Uint8Array | undefined, window: number | undefined): void {
    if (window) {
      this.credit += window;
      const b = this.blocked;
      if (b && this.credit > 0) { this.blocked = undefined; this.sendSome(b.data, b.cb); }
    }
    if (data && data.length) {
      this.ungranted += data.length;
      // A copy: on the admin side `data` views uWS's message buffer, which is reused after the handler.
      const more = this.push(Buffer.from(data));
      if (more && this.ungranted >= GRANT_MIN) this.grant();
    }
  }

  /**
   * The peer is done: `eof` = it will send no more data (half-close; we may still write), any
   * other reason = the stream is over. `closed` after both ends of data is the clean end; before
   * them it means the peer went away with data undelivered, which is an error here too (a reader
   * must not take a cut-off stream for a complete one).
   */
  onClose(reason: string): void {
    if (reason === 'eof') {
      this.peerEof = true;
      this.push(null); // autoDestroy closes the stream once our side has finished too
      return;
    }
    this.closedByPeer = true;
    if (reason === 'closed' && this.peerEof && this.writableFinished) return; // clean: autoDestroy
    this.destroy(new Error(reason === 'closed' ? 'the peer closed the stream before the end of the data' : reason));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.sentEof = true;
    if (!this.mux.send({ stream_close: { stream_id: this.id, reason: 'eof' } })) { cb(new Error('tunnel closed')); return; }
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    // After both ends of data the peer closes by itself; otherwise tell it why we stopped.
    const clean = !err && this.peerEof && this.sentEof;
    if (!this.closedByPeer && !clean) this.mux.send({ stream_close: { stream_id: this.id, reason: err ? err.message : 'closed' } });
    this.closedByPeer = true;
    this.mux.forget(this.id);
    const b = this.blocked;
    this.blocked = undefined;
    b?.cb(err ?? new Error('stream closed'));
    cb(err);
  }
}

export class StreamMux {
  private readonly streams = new Map<number, TunnelStream>();
  private readonly opening = new Map<number, { resolve: (s: TunnelStream) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;

  /** `send` returns false when the tunnel cannot take the frame (closed). */
  constructor(readonly send: (e: Envelope) => boolean) {}

  get size(): number { return this.streams.size; }

  /** Admin side: asks the agent to connect `target`; resolves with the stream once it is connected. */
  open(target: string, timeoutMs = 10_000): Promise<TunnelStream> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.opening.delete(id); reject(new Error(`the node did not open the stream in ${timeoutMs} ms`)); }, timeoutMs);
      this.opening.set(id, { resolve, reject, timer });
      if (!this.send({ stream_open: { stream_id: id, target } })) {
        clearTimeout(timer);
        this.opening.delete(id);
        reject(new Error('the node is not connected'));
      }
    });
  }

  /** Agent side: a stream the admin opened, once the local end is connected. */
  accept(id: number): TunnelStream {
    const s = new TunnelStream(id, this);
    this.streams.set(id, s);
    this.send({ stream_opened: { stream_id: id, ok: true } });
    return s;
  }

  refuse(id: number, error: string): void {
    this.send({ stream_opened: { stream_id: id, ok: false, error } });
  }

  forget(id: number): void {
    this.streams.delete(id);
  }

  /** Routes a stream frame; false when `e` is not one. */
  handle(e: Envelope): boolean {
    if (e.stream_data) {
      this.streams.get(e.stream_data.stream_id)?.onData(e.stream_data.data, e.stream_data.window);
      return true;
    }
    if (e.stream_close) {
      this.streams.get(e.stream_close.stream_id)?.onClose(e.stream_close.reason || 'closed');
      return true;
    }
    if (e.stream_opened) {
      const o = this.opening.get(e.stream_opened.stream_id);
      if (!o) return true;
      this.opening.delete(e.stream_opened.stream_id);
      clearTimeout(o.timer);
      if (!e.stream_opened.ok) { o.reject(new Error(e.stream_opened.error || 'the node refused the stream')); return true; }
      const s = new TunnelStream(e.stream_opened.stream_id, this);
      this.streams.set(s.id, s);
      o.resolve(s);
      return true;
    }
    return false;
  }

  /** The tunnel is gone: every stream ends and every pending open fails. */
  closeAll(reason: string): void {
    for (const [id, o] of this.opening) { clearTimeout(o.timer); o.reject(new Error(reason)); this.opening.delete(id); }
    for (const s of [...this.streams.values()]) s.onClose(reason);
    this.streams.clear();
  }
}
