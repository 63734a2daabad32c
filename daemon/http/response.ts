// The response half of the uWS contract, in one place: complete exactly once, never touch a
// response after abort, and cork every write that happens outside the original uWS callback.
import type { HttpResponse } from '@trufflesuite/uws-js-unofficial';
import { HttpError, STATUS_LINES, toHttpError } from '../errors';

export interface ResponseHost {
  /** Called exactly once per request, on completion or abort. */
  requestFinished(): void;
  readonly draining: boolean;
  onRouteError(err: unknown, status: number): void;
}

export class Res {
  done = false;
  aborted = false;
  /** True while still inside the uWS callback that delivered the request (writes need no cork). */
  inCallback = true;
  private ac?: AbortController;

  constructor(
    private readonly r: HttpResponse,
    private readonly host: ResponseHost,
  ) {}

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
    if (!this.done) {
      this.done = true;
      this.host.requestFinished();
    }
  }

  /** Sends a complete response. Returns false if it was already completed or aborted. */
  send(status: number, body: string | Uint8Array, contentType = 'application/json', headers?: Record<string, string>, close = false): boolean {
    if (this.done) return false;
    this.done = true;
    const closeConn = close || this.host.draining;
    if (this.inCallback) this.write(status, body, contentType, headers, closeConn);
    else this.r.cork(() => this.write(status, body, contentType, headers, closeConn));
    this.host.requestFinished();
    return true;
  }

  json(status: number, value: unknown): boolean {
    return this.send(status, JSON.stringify(value));
  }

  error(err: unknown, close = false): boolean {
    const e = toHttpError(err);
    if (e.status >= 500 && e.code === 'internal') this.host.onRouteError(err, e.status);
    const headers: Record<string, string> | undefined = e.status === 405 && e.details.allow ? { allow: String(e.details.allow) } : e.status === 429 ? { 'retry-after': '1' } : undefined;
    return this.send(e.status, e.body(), 'application/json', headers, close);
  }

  private write(status: number, body: string | Uint8Array, contentType: string, headers: Record<string, string> | undefined, close: boolean): void {
    const r = this.r;
    // uWS writes "200 OK" itself when no status was set; skipping the call is measurable on GET.
    if (status !== 200) r.writeStatus(STATUS_LINES[status] ?? String(status));
    r.writeHeader('content-type', contentType);
    if (headers) for (const k in headers) r.writeHeader(k, headers[k]);
    r.end(body, close);
  }
}

export { HttpError };
