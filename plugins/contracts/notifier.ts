// The notifier extension point: something that carries one prepared notification (exact body
// bytes and headers) to a destination and says how it went, in the three outcomes the
// delivery machinery understands. The HTTP transport (http.ts) is the first implementation;
// a Slack or e-mail notifier would implement the same interface.

/** How an attempt ended: ok (delivered), recoverable (worth retrying), terminal (never retry). */
export type NotifyOutcome = 'ok' | 'recoverable' | 'terminal';

export interface Notification {
  url: string;
  /** The exact bytes to send (signatures are computed over them). */
  body: Buffer;
  /** Header name → value, sent as given. */
  headers: Record<string, string>;
  /** Budget for the whole attempt: connect, send, response headers and (bounded) body. */
  timeoutMs: number;
}

export interface NotifyResult {
  outcome: NotifyOutcome;
  /** The response status, when a response arrived. */
  statusCode: number | null;
  durationMs: number;
  /** Human-readable cause for anything but ok (includes a snippet of the response body when there was one). */
  error: string | null;
  /** The destination's Retry-After, in ms, when it sent one with a recoverable status. */
  retryAfterMs?: number;
}

export interface Notifier {
  readonly kind: string;
  /** Never throws: every failure is a NotifyResult. `signal` aborts the attempt (shutdown). */
  send(n: Notification, signal?: AbortSignal): Promise<NotifyResult>;
  close(): Promise<void>;
}

/** Thrown by a DialGuard to refuse a destination; a refused dial is a terminal outcome. */
export class DialDenied extends Error {
  readonly code: string = 'DIAL_DENIED';
}

export type LookupFn = (hostname: string, options: { all?: boolean; family?: number } | number, callback: (err: NodeJS.ErrnoException | null, address: string | Array<{ address: string; family: number }>, family?: number) => void) => void;

/** Decides where a transport may connect: IP-literal targets by checkIp, names through lookup. */
export interface DialGuard {
  /** Why this IP may not be dialed, or null. */
  checkIp(ip: string): string | null;
  /** A net.connect lookup that resolves, checks, and fails with DialDenied; the socket dials what it returns. */
  lookup: LookupFn;
}
