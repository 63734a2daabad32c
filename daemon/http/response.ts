// The response half of the uWS contract, in one place: complete exactly once, never touch a
// response after abort, and cork every write that happens outside the original uWS callback.
import type { Scope } from './auth';
import type { HttpResponse, us_socket_context_t } from '@trufflesuite/uws-js-unofficial';
import { floBody, HttpError, STATUS_LINES, toHttpError } from '../base/errors';
import type { Envelope } from './server';

export interface ResponseHost {
  /** Called exactly once per request, on completion or abort. */
  requestFinished(res: Res): void;
  readonly draining: boolean;
  onRouteError(err: unknown, status: number): void;
}

/** Bodies at least this large are written with backpressure instead of one end(). */
const STREAM_THRESHOLD = 256 * 1024;
const INTERNAL_BODY = '{"error":"internal","message":"internal server error","details":{}}';

export class Res {
  done = false;
  aborted = false;
  /** True while still inside the uWS callback that delivered the request (writes need no cork). */
  inCallback = true;
  /** A large body is still being written under backpressure (see stream()). */
  private streaming = false;
  private ac?: AbortController;
  private envelope?: Envelope;
  /** Set by frame(): sent as x-request-id on every answer. */
  requestId?: string;
  /** For the request-duration histogram: the route's slot, the start (performance.now()) and the status sent (0 = aborted). */
  slot = 0;
  startedAt = 0;
  status = 0;
  /** Called once when the request is over (answered or aborted): the server's call log. */
  onDone?: (res: Res) => void;
  /** The bearer check's outcome once the route ran it (the call log reads it instead of checking again). */
  scope?: Scope | 'none';
  /** The uWS socket context of a WebSocket upgrade request (HttpServer.ws()), for upgrade(). */
  upgradeContext?: us_socket_context_t;

  constructor(
    private readonly r: HttpResponse,
    private readonly host: ResponseHost,
  ) {}

  /** Frames this response with a server's envelope (errors) and request id (header). */
  frame(envelope: Envelope, requestId: string): void {
    this.envelope = envelope;
    this.requestId = requestId;
  }

  /** Aborted when the client goes away; hand it to work that can be cancelled. */
  get signal(): AbortSignal {
    this.ac ??= new AbortController();
    if (this.aborted) this.ac.abort();
    return this.ac.signal;
  }

  /** uWS abort handler; bind it (`() => res.abort()`) only for requests answered later. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.ac?.abort();
    if (!this.done || this.streaming) {
      this.done = true;
      this.streaming = false;
      this.finished();
    }
  }

  /** Sends a complete response. Returns false if it was already completed or aborted. */
  send(status: number, body: string | Uint8Array, contentType = 'application/json', headers?: Record<string, string>, close = false): boolean {
    if (this.done) return false;
    this.done = true;
    this.status = status;
    const closeConn = close || this.host.draining;
    try {
      if (this.inCallback) this.write(status, body, contentType, headers, closeConn);
      else this.r.cork(() => this.write(status, body, contentType, headers, closeConn));
    } catch (err) {
      // uWS refused a write (a bad header value, a response it has discarded): what was written
      // cannot be taken back, so the connection goes rather than a half answer staying on it.
      this.streaming = false;
      this.report(err, status);
      if (!this.aborted) try { this.r.close(); } catch { /* already gone */ }
    }
    if (!this.streaming) this.finished();
    return true;
  }

  json(status: number, value: unknown): boolean {
    return this.send(status, JSON.stringify(value));
  }

  error(err: unknown, close = false): boolean {
    if (this.done) return false;
    let status: number;
    let body: string;
    let headers: Record<string, string> | undefined;
    try {
      const e = toHttpError(err);
      if (e.status >= 500 && e.code === 'internal') this.report(err, e.status);
      headers = e.status === 405 && e.details.allow ? { allow: String(e.details.allow) } : e.status === 429 ? { 'retry-after': '1' } : undefined;
      if (this.envelope) ({ status, body } = this.envelope.error(e, this.requestId ?? ''));
      else { status = e.status; body = floBody(e); }
    } catch (buildErr) {
      // Building the error answer failed (an envelope bug, details that do not serialise).
      this.report(buildErr, 500);
      return this.fatal();
    }
    return this.send(status, body, 'application/json', headers, close);
  }

  /**
   * Answers a WebSocket upgrade request with 101 and opens the socket with `data` as its user
   * data (uWS runs the route's open handler inside). Returns false if already completed or aborted.
   */
  upgrade<T>(data: T, headers: Record<string, string>): boolean {
    if (this.done) return false;
    this.done = true;
    this.status = 101;
    const r = this.r;
    const up = () => r.upgrade<T>(data, headers['sec-websocket-key'] ?? '', headers['sec-websocket-protocol'] ?? '', headers['sec-websocket-extensions'] ?? '', this.upgradeContext!);
    try {
      if (this.inCallback) up();
      else r.cork(up);
    } catch (err) {
      this.report(err, 500);
      if (!this.aborted) try { r.close(); } catch { /* already gone */ }
    }
    this.finished();
    return true;
  }

  /** 500 with a fixed body (nothing of the request is used), when even error() failed. */
  fatal(): boolean {
    return this.send(500, INTERNAL_BODY, 'application/json', undefined, true);
  }

  /** Logs through the host without ever throwing. */
  private report(err: unknown, status: number): void {
    try { this.host.onRouteError(err, status); } catch { /* the logger failed too */ }
  }

  private finished(): void {
    this.host.requestFinished(this);
    this.onDone?.(this);
  }

  private write(status: number, body: string | Uint8Array, contentType: string, headers: Record<string, string> | undefined, close: boolean): void {
    const r = this.r;
    // uWS writes "200 OK" itself when no status was set; skipping the call is measurable on GET.
    if (status !== 200) r.writeStatus(STATUS_LINES[status] ?? String(status));
    r.writeHeader('content-type', contentType);
    if (this.requestId) r.writeHeader('x-request-id', this.requestId);
    if (headers) for (const k in headers) r.writeHeader(k, headers[k]);
    if (body.length < STREAM_THRESHOLD) r.end(body, close);
    else this.stream(typeof body === 'string' ? Buffer.from(body) : body);
  }

  /**
   * Writes a large body with backpressure (uWS VideoStreamer pattern): tryEnd what the socket
   * takes now, and continue from the reported offset in onWritable until done. The request
   * counts as in flight until the last byte is handed over or the client aborts.
   */
  private stream(body: Uint8Array): void {
    const r = this.r;
    const total = body.length;
    const start = r.getWriteOffset();
    const [, done] = r.tryEnd(body, total);
    if (done) return;
    this.streaming = true;
    // Answering later: uWS needs an abort handler (harmless if one is already set). Neither
    // callback may throw: it would escape uWS as an uncaught exception.
    r.onAborted(() => { try { this.abort(); } catch (err) { this.report(err, 500); } });
    r.onWritable((offset) => {
      if (this.aborted || !this.streaming) return true;
      try {
        const [ok, fin] = r.tryEnd(body.subarray(offset - start), total);
        if (fin) {
          this.streaming = false;
          this.finished();
        }
        return ok;
      } catch (err) {
        this.report(err, 500);
        this.streaming = false;
        this.finished();
        try { r.close(); } catch { /* already gone */ }
        return true;
      }
    });
  }
}

export { HttpError };
