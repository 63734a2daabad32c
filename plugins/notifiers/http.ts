// The HTTP notifier: POSTs a prepared body with undici through a connector whose every dial is
// vetted by a DialGuard (IP literals checked before connecting; names resolved, checked and
// pinned by the guard's lookup, so the socket connects to the checked address). Redirects are
// never followed: a 3xx is a terminal outcome. Outcomes: 2xx ok; 408, 429, 5xx, timeouts and
// network errors recoverable; every other status, a refused dial and an unsendable request terminal.
import net from 'node:net';
import { Agent, buildConnector, request } from 'undici';
import type { NotifierContext, PluginFactory } from '../contracts/contracts';
import { DialDenied, type DialGuard, type Notification, type Notifier, type NotifyResult } from '../contracts/notifier';

export interface HttpNotifierOptions {
  guard: DialGuard;
  userAgent: string;
  /** TCP/TLS connect budget (also bounded by the attempt's timeout). Default 5000. */
  connectTimeoutMs?: number;
  /** How much of an error response body is kept in the result's error text. Default 512. */
  errorSnippetBytes?: number;
}

/** Bytes of a 2xx response body read (and discarded) so the connection can be reused. */
const DRAIN_LIMIT = 64 * 1024;

export class HttpNotifier implements Notifier {
  readonly kind = 'http';
  private readonly agent: Agent;
  private readonly snippetBytes: number;

  constructor(private readonly opts: HttpNotifierOptions) {
    this.snippetBytes = opts.errorSnippetBytes ?? 512;
    const base = buildConnector({ timeout: opts.connectTimeoutMs ?? 5000, lookup: opts.guard.lookup as never });
    const guard = opts.guard;
    const connect: buildConnector.connector = (o, cb) => {
      // Literal addresses never go through lookup: check them here, before any socket exists.
      if (net.isIP(o.hostname)) {
        const why = guard.checkIp(o.hostname);
        if (why) {
          cb(new DialDenied(why), null);
          return;
        }
      }
      base(o, cb);
    };
    this.agent = new Agent({ connect, keepAliveTimeout: 4000, connections: 8 });
  }

  async send(n: Notification, signal?: AbortSignal): Promise<NotifyResult> {
    const started = performance.now();
    const timeout = AbortSignal.timeout(n.timeoutMs);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const took = () => Math.round(performance.now() - started);
    try {
      const res = await request(n.url, {
        method: 'POST', body: n.body, headers: n.headers, dispatcher: this.agent, signal: both,
        headersTimeout: n.timeoutMs, bodyTimeout: n.timeoutMs,
      });
      const status = res.statusCode;
      if (status >= 200 && status < 300) {
        await res.body.dump({ limit: DRAIN_LIMIT }).catch(() => {});
        return { outcome: 'ok', statusCode: status, durationMs: took(), error: null };
      }
      const snippet = await this.snippet(res.body);
      const recoverable = status === 408 || status === 429 || status >= 500;
      let error = `HTTP ${status}${snippet ? `: ${snippet}` : ''}`;
      if (status >= 300 && status < 400) {
        const loc = res.headers.location;
        error = `HTTP ${status} redirect not followed${loc ? ` (Location: ${String(loc).slice(0, 512)})` : ''}`;
      }
      const retryAfterMs = recoverable ? parseRetryAfter(res.headers['retry-after']) : undefined;
      return { outcome: recoverable ? 'recoverable' : 'terminal', statusCode: status, durationMs: took(), error, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    } catch (err) {
      return { ...classifyError(err, timeout.aborted, n.timeoutMs), statusCode: null, durationMs: took() };
    }
  }

  private async snippet(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const c of body) {
        chunks.push(c);
        size += c.length;
        if (size >= this.snippetBytes) break;
      }
    } catch {
      /* a broken body leaves what we have */
    } finally {
      body.destroy();
    }
    return Buffer.concat(chunks).subarray(0, this.snippetBytes).toString('utf8').replace(/\s+/g, ' ').trim();
  }

  async close(): Promise<void> {
    await this.agent.close().catch(() => this.agent.destroy());
  }
}

function classifyError(err: unknown, timedOut: boolean, timeoutMs: number): { outcome: 'recoverable' | 'terminal'; error: string } {
  const e = err as NodeJS.ErrnoException & { cause?: unknown };
  const denied = err instanceof DialDenied ? err : e?.cause instanceof DialDenied ? e.cause : undefined;
  if (denied) return { outcome: 'terminal', error: `refused: ${denied.message}` };
  if (timedOut) return { outcome: 'recoverable', error: `timed out after ${timeoutMs} ms` };
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') return { outcome: 'recoverable', error: 'aborted' };
  if (e?.code === 'UND_ERR_INVALID_ARG') return { outcome: 'terminal', error: `request not sendable: ${e.message}` };
  const code = e?.code ?? (e?.cause as NodeJS.ErrnoException | undefined)?.code;
  return { outcome: 'recoverable', error: `${code ? `${code}: ` : ''}${e?.message ?? String(err)}` };
}

/** Retry-After as delta-seconds or an HTTP date → ms from now (undefined when absent or unparsable). */
export function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\d+$/.test(s.trim())) return Number(s.trim()) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** The registry entry: webhooks obtain their transport as notifier `http`. */
export const httpNotifierPlugin: PluginFactory<'notifier'> = {
  kind: 'notifier',
  name: 'http',
  summary: 'POSTs the prepared body over HTTP(S); every dial vetted by the egress guard, redirects never followed',
  create: (ctx: NotifierContext) => new HttpNotifier({ guard: ctx.guard, userAgent: ctx.userAgent }),
};
