// HTTP client for the daemon API: base URL, bearer token, timeout, and the mapping of every
// failure to a CliError with the right exit code (server errors carry the server's message).
import { CliError, EXIT, UsageError } from './errors';

export interface ClientOptions {
  url: string;
  token?: string;
  timeoutMs: number;
  /** PEM bundle trusted for https:// (instead of the system's CAs). */
  ca?: string;
}

/** The server answered with a non-2xx status. */
export class ApiError extends CliError {
  constructor(message: string, readonly status: number, readonly code: string | undefined, readonly body: unknown) {
    super(message, EXIT.FAILED);
    this.name = 'ApiError';
  }
}

export interface ApiResponse<T> { status: number; text: string; json: T }

export type Query = Record<string, string | number | boolean | undefined>;

export class Client {
  readonly base: URL;

  constructor(readonly opts: ClientOptions) {
    let base: URL;
    try { base = new URL(opts.url); } catch {
      throw new UsageError(`--url ${JSON.stringify(opts.url)} is not a valid URL (e.g. http://127.0.0.1:44000)`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new UsageError(`--url must be http:// or https:// (got ${opts.url})`);
    }
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.base = base;
  }

  /** Builds a URL from path segments (each percent-encoded) and a query. */
  url(segments: string[], query: Query = {}): URL {
    const u = new URL(segments.map(encodeURIComponent).join('/'), this.base);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u;
  }

  /** `text` sends a text/plain body instead of JSON; `raw` returns a non-JSON answer as text. */
  async request<T = unknown>(method: string, segments: string[], opts: { query?: Query; body?: unknown; text?: string; raw?: boolean } = {}): Promise<ApiResponse<T>> {
    const url = this.url(segments, opts.query);
    const headers: Record<string, string> = { accept: opts.raw ? '*/*' : 'application/json' };
    if (this.opts.token) headers.authorization = `Bearer ${this.opts.token}`;
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    if (opts.text !== undefined) headers['content-type'] = 'text/plain; charset=utf-8';
    let res: Response;
    let text: string;
    try {
      res = await this.fetch(url, {
        method,
        headers,
        body: opts.text !== undefined ? opts.text : opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      text = await res.text();
    } catch (err) {
      throw connectError(err, this.base, this.opts.timeoutMs);
    }
    let json: unknown;
    try { json = text === '' ? undefined : JSON.parse(text); } catch { json = undefined; }
    if (res.status < 200 || res.status > 299) throw this.apiError(res.status, json, text);
    if (json === undefined && (res.status === 204 || text === '' || opts.raw)) return { status: res.status, text, json: undefined as T };
    if (json === undefined) throw new CliError(`unexpected response from ${url.origin} (HTTP ${res.status}, not JSON): ${text.slice(0, 200)}`);
    return { status: res.status, text, json: json as T };
  }

  private dispatcher?: unknown;

  /** fetch, through a dispatcher that trusts only `ca` when one is given. */
  async fetch(url: URL, init: RequestInit): Promise<Response> {
    if (!this.opts.ca) return fetch(url, init);
    const undici = await import('undici');
    this.dispatcher ??= new undici.Agent({ connect: { ca: this.opts.ca } });
    return undici.fetch(url, { ...init, dispatcher: this.dispatcher } as never) as unknown as Response;
  }

  /** The JSON of a GET outside /api (health, openapi.json), or undefined when it fails. */
  async probe<T>(segments: string[]): Promise<T | undefined> {
    try { return (await this.request<T>('GET', segments)).json; } catch { return undefined; }
  }

  private apiError(status: number, json: unknown, text: string): ApiError {
    const raw = (json && typeof json === 'object' ? json : {}) as { error?: unknown; message?: string; details?: unknown };
    // Data plane: {"error": code, "message", "details"}; control plane: {"error": {code, message, details}, "meta"}.
    const e = raw.error && typeof raw.error === 'object' ? raw.error as { code?: string; message?: string; details?: unknown } : undefined;
    const body = { error: e ? e.code : typeof raw.error === 'string' ? raw.error : undefined, message: e ? e.message : raw.message, details: e ? e.details : raw.details };
    let msg = body.message ?? (text.trim().slice(0, 200) || `HTTP ${status}`);
    msg += ` (HTTP ${status}${body.error ? ` ${body.error}` : ''})`;
    const fields = fieldErrors(body.details);
    if (fields) msg += `\n${fields}`;
    if (status === 401) {
      msg += this.opts.token
        ? '; the server rejected the token'
        : '; the server requires a token: pass --token, set $OUTPOST_TOKEN (or MASTER_KEY / API_KEY), or add token to a context in the config file';
    } else if (status === 403) {
      msg += '; the token does not grant this (a MASTER_KEY token may be needed)';
    }
    return new ApiError(msg, status, body.error, json);
  }
}

/** "  field: message" lines from details.fields[] or a {field: [messages]} map, if any. */
function fieldErrors(details: unknown): string | undefined {
  if (!details || typeof details !== 'object') return undefined;
  const d = details as { fields?: Array<{ field?: string; message?: string }> } & Record<string, unknown>;
  const lines: string[] = [];
  if (Array.isArray(d.fields)) for (const f of d.fields) lines.push(`  ${f.field ?? '?'}: ${f.message ?? ''}`);
  else for (const [k, v] of Object.entries(d)) if (Array.isArray(v) && v.every((x) => typeof x === 'string')) lines.push(`  ${k}: ${v.join('; ')}`);
  return lines.length ? lines.join('\n') : undefined;
}

function connectError(err: unknown, base: URL, timeoutMs: number): CliError {
  const e = err as Error & { cause?: Error & { code?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') {
    return new CliError(`cannot reach ${base.origin}: no response within ${timeoutMs / 1000} s`, EXIT.CONNECT);
  }
  const cause = e?.cause;
  let detail = cause?.message || e?.message || String(err);
  // AggregateError (IPv4 + IPv6 attempts) carries the useful codes in .errors.
  const inner = (cause as unknown as { errors?: Array<{ message: string }> } | undefined)?.errors;
  if (inner?.length) detail = inner.map((x) => x.message).join('; ');
  else if (cause?.code && !detail.includes(cause.code)) detail = `${cause.code}: ${detail}`;
  return new CliError(`cannot connect to ${base.origin}: ${detail}`, EXIT.CONNECT);
}
