// The NATS JetStream event sink (Edge Admin's broker publishing): every event goes to subject
// `<prefix>.<event type>` (subjectFor below), structured-mode CloudEvents JSON, with the
// JetStream `Nats-Msg-Id` header set to the CloudEvent id, so the stream's duplicate window drops
// a re-publish of the same event (after a crash between the PubAck and the relay's cursor
// update). An event counts as accepted only once its PubAck arrived.
//
// The connection is made on the first publish, not at start (an admin starts while NATS is
// down; its events wait in the outbox). On connecting, the stream is looked up and created when
// missing (subjects `<prefix>.>`, file storage, the configured duplicate window); an existing
// stream is used as it is, provided one of its subjects captures `<prefix>.>`. Once connected,
// nats.js reconnects by itself; publishes in the meantime time out and the relay retries them.
import type { JetStreamClient, NatsConnection } from 'nats';
import type { PluginContext, PluginFactory, PluginLog } from '../contracts/contracts';
import { PluginError } from '../contracts/registry';
import type { EventSink, PublishResult, SinkEvent } from '../contracts/event-sink';

export interface NatsSinkOptions {
  /** Server URLs (nats://[user:pass@]host:port), comma-separated or a list. */
  servers: string | string[];
  /** Subject prefix (dot-separated tokens); events go to `<prefix>.<type tokens>`. */
  subjectPrefix: string;
  /** JetStream stream to publish into (created when missing). */
  stream: string;
  /** duplicate_window of the stream when this sink creates it. */
  duplicateWindowMs: number;
  /** How long one publish waits for its PubAck. Default 5000. */
  ackTimeoutMs?: number;
  /** Connect budget. Default 5000. */
  connectTimeoutMs?: number;
  log?: PluginLog;
}

const PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const STREAM = /^[A-Za-z0-9_-]{1,255}$/;

/**
 * The subject of an event type: `<prefix>.` then the type's dot-separated parts, one subject
 * token each; in a part, every character outside [A-Za-z0-9_-] becomes `_`, and an empty part
 * is `_` (so no type can make a wildcard, an empty token or whitespace). Every type of the
 * catalog maps to itself: edge.node.registered → outpost.events.edge.node.registered.
 */
export function subjectFor(prefix: string, type: string): string {
  return `${prefix}.${type.split('.').map((p) => (p === '' ? '_' : p.replace(/[^A-Za-z0-9_-]/g, '_'))).join('.')}`;
}

/** Whether the stream subject filter `filter` captures every subject `subject` (which may end in `>`) matches. */
export function filterCovers(filter: string, subject: string): boolean {
  const f = filter.split('.');
  const s = subject.split('.');
  for (let i = 0; i < s.length; i++) {
    if (i >= f.length) return false;
    if (f[i] === '>') return true;
    if (s[i] === '>') return false;
    if (f[i] !== '*' && f[i] !== s[i]) return false;
  }
  return f.length === s.length;
}

/** URL(s) without credentials, for logs. */
export function redactServers(servers: string[]): string {
  return servers.map((s) => s.replace(/\/\/[^@/]*@/, '//***@')).join(',');
}

const NOT_FOUND = 10059; // JetStream API error code: stream not found

export class NatsJetStreamSink implements EventSink {
  readonly kind = 'nats';
  private readonly servers: string[];
  private nc?: NatsConnection;
  private js?: JetStreamClient;
  private connecting?: Promise<JetStreamClient>;
  private streamChecked = false;
  private closed = false;
  /** The stream's duplicate window as the server reports it (ms), once checked. */
  duplicateWindowMs?: number;

  constructor(private readonly o: NatsSinkOptions) {
    this.servers = (Array.isArray(o.servers) ? o.servers : o.servers.split(',')).map((s) => s.trim()).filter(Boolean);
    if (!this.servers.length) throw new PluginError('PLUGIN_INVALID', 'nats event sink: no server URL');
    if (!PREFIX.test(o.subjectPrefix)) throw new PluginError('PLUGIN_INVALID', `subject prefix ${JSON.stringify(o.subjectPrefix)}: dot-separated tokens of letters, digits, _ and -`);
    if (!STREAM.test(o.stream)) throw new PluginError('PLUGIN_INVALID', `stream name ${JSON.stringify(o.stream)}: letters, digits, _ and - (no dots, wildcards or spaces)`);
  }

  get connected(): boolean {
    return !!this.nc && !this.nc.isClosed();
  }

  async publish(events: readonly SinkEvent[], signal?: AbortSignal): Promise<PublishResult> {
    if (!events.length) return { accepted: 0, duplicates: 0, error: null };
    let js: JetStreamClient;
    try {
      js = await untilAborted(this.client(), signal);
    } catch (err) {
      return { accepted: 0, duplicates: 0, error: describe(err) };
    }
    const { headers } = await import('nats');
    // Pipelined: every publish is on the wire before the first PubAck is awaited (one
    // connection keeps their order); the accepted prefix is counted in batch order.
    const acks = events.map((e) => {
      const h = headers();
      h.set('Content-Type', 'application/cloudevents+json; charset=utf-8');
      return js.publish(subjectFor(this.o.subjectPrefix, e.type), e.body, {
        msgID: e.id, headers: h, timeout: this.o.ackTimeoutMs ?? 5000, expect: { streamName: this.o.stream },
      });
    });
    // On abort (shutdown) the acks still outstanding are not waited for: they count as not accepted.
    const stop = abortion(signal);
    const settled = await Promise.allSettled(acks.map((p) => Promise.race([p, stop.promise])));
    stop.dispose();
    let accepted = 0;
    let duplicates = 0;
    let error: string | null = null;
    for (const s of settled) {
      if (s.status === 'rejected') { error = describe(s.reason); break; }
      accepted++;
      if (s.value.duplicate) duplicates++;
    }
    // No responders / wrong stream: the stream may have been deleted or changed; check it again.
    if (error) this.streamChecked = false;
    return { accepted, duplicates, error };
  }

  private client(): Promise<JetStreamClient> {
    if (this.closed) return Promise.reject(new Error('sink closed'));
    if (this.js && this.nc && !this.nc.isClosed() && this.streamChecked) return Promise.resolve(this.js);
    this.connecting ??= this.connect().finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  private async connect(): Promise<JetStreamClient> {
    const nats = await import('nats');
    if (!this.nc || this.nc.isClosed()) {
      const nc = await nats.connect({
        servers: this.servers, name: 'outpost-admin-event-sink',
        timeout: this.o.connectTimeoutMs ?? 5000, maxReconnectAttempts: -1, reconnectTimeWait: 1000, waitOnFirstConnect: false,
      });
      if (this.closed) { await nc.close().catch(() => undefined); throw new Error('sink closed'); }
      this.nc = nc;
      this.js = nc.jetstream();
      this.streamChecked = false;
      this.o.log?.info({ servers: redactServers(this.servers), server: nc.getServer() }, 'nats event sink connected');
      void this.watch(nc);
    }
    const nc = this.nc;
    const jsm = await nc.jetstreamManager();
    const want = `${this.o.subjectPrefix}.>`;
    try {
      const info = await jsm.streams.info(this.o.stream);
      const subjects = info.config.subjects ?? [];
      if (!subjects.some((s) => filterCovers(s, want))) {
        throw new PluginError('PLUGIN_INVALID', `stream ${this.o.stream} exists but its subjects (${subjects.join(', ') || 'none'}) do not capture ${want}: add ${want} to it, or set admin.nats_stream / admin.nats_subject_prefix`);
      }
      this.duplicateWindowMs = Math.round(info.config.duplicate_window / 1e6);
    } catch (err) {
      if ((err as { api_error?: { err_code?: number } }).api_error?.err_code !== NOT_FOUND) throw err;
      const info = await jsm.streams.add({
        name: this.o.stream, subjects: [want], storage: nats.StorageType.File, duplicate_window: nats.nanos(this.o.duplicateWindowMs),
      });
      this.duplicateWindowMs = Math.round(info.config.duplicate_window / 1e6);
      this.o.log?.info({ stream: this.o.stream, subjects: [want], duplicate_window_ms: this.duplicateWindowMs }, 'nats event sink: stream created');
    }
    this.streamChecked = true;
    return this.js!;
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.o.log?.warn({ server: String(s.data) }, 'nats event sink disconnected (reconnecting; events wait in the outbox)');
      else if (s.type === 'reconnect') this.o.log?.info({ server: String(s.data) }, 'nats event sink reconnected');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const nc = this.nc;
    this.nc = undefined;
    this.js = undefined;
    // A connection still being made is closed by connect() itself when it lands. Unacknowledged publishes are not waited for: the relay sends them again next start.
    await nc?.close().catch(() => undefined);
  }
}

/** One listener on `signal` for a whole batch: `promise` rejects when it aborts (never otherwise). */
function abortion(signal?: AbortSignal): { promise: Promise<never>; dispose(): void } {
  let onAbort = () => {};
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(new Error('aborted'));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => undefined);
  return { promise, dispose: () => signal?.removeEventListener('abort', onAbort) };
}

/** `p`, or a rejection as soon as `signal` aborts. */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) { p.catch(() => undefined); return Promise.reject(new Error('aborted')); }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); }, (e: unknown) => { signal.removeEventListener('abort', onAbort); reject(e); });
  });
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; api_error?: { description?: string } };
  const what = e?.api_error?.description ?? e?.message ?? String(err);
  return e?.code && !what.includes(String(e.code)) ? `${e.code}: ${what}` : what;
}

/** Settings of the nats sink (daemon/config.ts FIELDS). */
export const NATS_SETTINGS = {
  url: 'admin.nats_url',
  prefix: 'admin.nats_subject_prefix',
  stream: 'admin.nats_stream',
  duplicateWindowMs: 'admin.nats_duplicate_window_ms',
} as const;

export const natsEventSinkPlugin: PluginFactory<'event-sink'> = {
  kind: 'event-sink',
  name: 'nats',
  summary: 'publishes every control-plane event to a NATS JetStream stream, one subject per event type',
  requires: [NATS_SETTINGS.url],
  create(ctx: PluginContext) {
    const str = (k: string, dflt: string) => { const v = ctx.setting(k); return typeof v === 'string' && v ? v : dflt; };
    const num = (k: string, dflt: number) => { const v = ctx.setting(k); return typeof v === 'number' ? v : dflt; };
    try {
      return new NatsJetStreamSink({
        servers: str(NATS_SETTINGS.url, ''), subjectPrefix: str(NATS_SETTINGS.prefix, 'outpost.events'), stream: str(NATS_SETTINGS.stream, 'OUTPOST_EVENTS'),
        duplicateWindowMs: num(NATS_SETTINGS.duplicateWindowMs, 120_000), log: ctx.log,
      });
    } catch (err) {
      // Name the setting at fault.
      const msg = (err as Error).message;
      const key = msg.startsWith('subject prefix') ? NATS_SETTINGS.prefix : msg.startsWith('stream name') ? NATS_SETTINGS.stream : NATS_SETTINGS.url;
      throw new PluginError('PLUGIN_INVALID', `${key}: ${msg}`, { cause: err });
    }
  },
};
