// The HTTP layer on uWebSockets.js. Route code receives plain copies of everything it needs
// (params, query, headers, body) and a Res that cannot break the uWS contract; this file is
// the only code that touches uWS request objects.
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket, us_socket_context_t, WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
import { loadUws } from '../../native';
import { HttpError } from '../base/errors';
import type { Logger } from '../base/log';
import { Res, type ResponseHost } from './response';
import { compile, type JsonSchema, type Validator } from './validate';
import { checkBearer, type AuthKeys, type Scope } from './auth';
import { listenError } from '../process/port-holder';
import { guardedSocket, UPGRADE_HEADERS, type WsRouteSpec } from './ws';

/** uSockets' LIBUS_LISTEN_EXCLUSIVE_PORT: no SO_REUSEPORT on the listening socket. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
import { HttpMetrics } from '../metrics/http';

export type Method = 'get' | 'put' | 'post' | 'delete' | 'patch';

export interface Req {
  method: string;
  url: string;
  params: Record<string, string>;
  query: Record<string, unknown>;
  headers: Record<string, string>;
  body: unknown;
  scope: Scope | 'none';
  /** Set when the server has an envelope (control-plane API): mirrored in x-request-id. */
  requestId?: string;
  /** The client's address, for routes that ask for it (`remoteAddress: true`). */
  remoteAddress?: string;
}

export interface RouteSpec {
  method: Method;
  path: string; // uWS pattern, e.g. /api/v1/kv/:namespace/:key
  /** 'metrics': the metrics routes, also open to METRICS_KEY (which no other route accepts). */
  auth: 'public' | Scope;
  summary: string;
  tags: string[];
  /** OpenAPI operationId; derived from method and path when absent (daemon/openapi.ts operationIdOf). */
  operationId?: string;
  params?: JsonSchema;
  query?: JsonSchema;
  body?: JsonSchema;
  /**
   * The body is text (e.g. line protocol), handed over as a string; `body` validates nothing then.
   * 'bytes': handed over as a Buffer, for routes that must reject what a UTF-8 decode would
   * silently replace (invalid UTF-8 becomes U+FFFD in a string).
   */
  rawBody?: boolean | 'bytes';
  /** Request headers (lower-case) the handler reads; others are not copied. */
  headers?: string[];
  /** Answer even while starting or draining (liveness probes). */
  always?: boolean;
  /** Copy the client's address into req.remoteAddress (per-address limits). */
  remoteAddress?: boolean;
  responses: Record<number, { description: string; schema?: JsonSchema; contentType?: string }>;
  handler(req: Req, res: Res): void | Promise<void>;
}

interface CompiledRoute {
  spec: RouteSpec;
  /** Its request-duration histogram storage (HttpMetrics slot). */
  slot: number;
  paramNames: string[];
  headers: string[];
  params?: Validator;
  query?: Validator;
  body?: Validator;
  /** The route takes no body: a non-empty one is refused (after reading it) with 400. */
  noBody: boolean;
  /** A WebSocket route whose bearer token may come as ?token= (WsRouteSpec.queryToken). */
  queryToken: boolean;
}

export type ServerState = 'starting' | 'ready' | 'draining' | 'closed';

/**
 * How a server other than the data plane frames its answers (the control plane's
 * `{data, meta}` / `{error: {code, message, details}, meta}`). Without one, errors are the
 * data plane's `{error, message, details}`.
 */
export interface Envelope {
  /** The id of this request, from the client's x-request-id header ('' when absent). */
  requestId(header: string): string;
  /** Status and JSON body of an error answer. */
  error(err: HttpError, requestId: string): { status: number; body: string };
}

/** One finished request, for a call log (the admin logs every mutating call with it). Never holds the token. */
export interface CallRecord {
  method: string;
  /** The URL path (no query string). */
  path: string;
  status: number;
  /** Which credential the caller presented: master / api (MASTER_KEY, API_KEY), invalid (a token that matched neither), none (no token, or a server without keys), or public (a route without auth). */
  credential: Scope | 'invalid' | 'none' | 'public';
  requestId?: string;
  remoteAddress: string;
  /** The client went away before the answer. */
  aborted: boolean;
}

export interface HttpServerOptions {
  maxBodyBytes: number;
  maxInflight: number;
  keys: AuthKeys;
  log: Logger;
  envelope?: Envelope;
  /** Called once per finished request; only servers that set it pay for the copy of the address. */
  onCall?(call: CallRecord): void;
}

// Dictionaries built from request input have no prototype: a key such as `constructor` or
// `__proto__` is then an ordinary key, never a member of Object.prototype.
const EMPTY: Record<string, never> = Object.freeze(Object.create(null)) as Record<string, never>;
const INTERNAL_BODY = '{"error":"internal","message":"internal server error","details":{}}';

export class HttpServer implements ResponseHost {
  readonly app: TemplatedApp;
  readonly routes: RouteSpec[] = [];
  /** WebSocket routes (ws()), for the OpenAPI documents. */
  readonly wsRoutes: Array<WsRouteSpec<unknown, unknown>> = [];
  state: ServerState = 'starting';
  inflight = 0;
  requestsTotal = 0;
  readonly statusCounts = new Map<number, number>();
  /** Request duration histograms by route pattern, method and status class (/metrics). */
  readonly httpMetrics = new HttpMetrics();
  private listenSocket?: us_listen_socket;
  private drainWaiters: Array<() => void> = [];
  private readonly authEnabled: boolean;
  port = 0;

  constructor(private readonly opts: HttpServerOptions) {
    this.app = loadUws().uws.App();
    this.authEnabled = Boolean(opts.keys.api || opts.keys.master);
  }

  get draining(): boolean { return this.state === 'draining'; }

  /** SIGHUP reload of http.max_body_bytes / http.max_inflight_requests: applies to the next request. */
  setLimits(l: { maxBodyBytes: number; maxInflight: number }): void {
    this.opts.maxBodyBytes = l.maxBodyBytes;
    this.opts.maxInflight = l.maxInflight;
  }

  requestFinished(res?: Res): void {
    if (res) this.httpMetrics.observe(res.slot, res.status, res.startedAt);
    this.inflight--;
    if (this.inflight === 0 && this.drainWaiters.length) for (const w of this.drainWaiters.splice(0)) w();
  }

  onRouteError(err: unknown, status: number): void {
    this.opts.log.error({ err, status }, 'route failed');
  }

  add(spec: RouteSpec): void {
    const route = this.compile(spec);
    this.routes.push(spec);
    const register = (this.app as unknown as Record<string, Function>)[spec.method === 'delete' ? 'del' : spec.method].bind(this.app) as (p: string, h: (res: HttpResponse, req: HttpRequest) => void) => TemplatedApp;
    register(spec.path, (res, req) => { this.dispatch(route, res, req); });
  }

  private compile(spec: RouteSpec): CompiledRoute {
    const paramNames = [...spec.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
    return {
      spec,
      slot: this.httpMetrics.slot(spec.path, spec.method),
      paramNames,
      // content-length is always read: a body sent to a route that takes none is refused.
      headers: [...new Set([...(spec.headers ?? []), 'content-length', ...(spec.body || spec.rawBody ? ['content-type'] : [])])],
      params: spec.params ? compile('params', spec.params) : undefined,
      query: spec.query ? compile('query', spec.query) : undefined,
      body: spec.body ? compile('body', spec.body) : undefined,
      noBody: !spec.body && !spec.rawBody,
      queryToken: false, // set here too: one object shape for every route (serve() stays monomorphic)
    };
  }

  /**
   * A WebSocket route (daemon/http/ws.ts). Its upgrade request is served as a GET route of this
   * server — state, in-flight limit, auth, params/query validation, error bodies, crash
   * containment, call log, request histogram — whose handler answers 101 with the user data
   * spec.upgrade() returns; the socket handlers are guarded. Register before finish().
   */
  ws<T, P = undefined>(spec: WsRouteSpec<T, P>): void {
    const custom = typeof spec.auth === 'object' ? spec.auth : undefined;
    const accept = (req: Req, res: Res, principal: P): void | Promise<void> => {
      const data = spec.upgrade(req, principal);
      if (isPromise(data)) return data.then((d) => { res.upgrade(d, req.headers); });
      res.upgrade(data, req.headers);
    };
    const route = this.compile({
      method: 'get', path: spec.path, auth: custom ? 'public' : spec.auth as 'public' | Scope,
      summary: spec.summary, tags: spec.tags, operationId: spec.operationId, params: spec.params, query: spec.query,
      headers: [...(spec.headers ?? []), ...UPGRADE_HEADERS, ...(custom ? ['authorization'] : [])],
      remoteAddress: spec.remoteAddress, responses: spec.responses,
      handler: (req, res) => {
        if (!custom) return accept(req, res, undefined as P);
        const principal = custom.authenticate(req);
        return isPromise(principal) ? principal.then((p) => accept(req, res, p)) : accept(req, res, principal);
      },
    });
    route.noBody = false; // an upgrade is answered without reading a body
    route.queryToken = spec.queryToken === true;
    this.wsRoutes.push(spec as WsRouteSpec<unknown, unknown>);
    const behavior: WebSocketBehavior<T> = {
      upgrade: (ures, ureq, ctx) => this.upgradeWs(route, spec.refused, ures, ureq, ctx),
      ...guardedSocket(this.opts.log, spec.path, spec as WsRouteSpec<T, unknown>),
    };
    if (spec.maxPayloadLength !== undefined) behavior.maxPayloadLength = spec.maxPayloadLength;
    if (spec.maxBackpressure !== undefined) behavior.maxBackpressure = spec.maxBackpressure;
    if (spec.idleTimeout !== undefined) behavior.idleTimeout = spec.idleTimeout;
    if (spec.sendPingsAutomatically !== undefined) behavior.sendPingsAutomatically = spec.sendPingsAutomatically;
    this.app.ws<T>(spec.path, behavior);
  }

  private upgradeWs(route: CompiledRoute, refused: ((status: number) => void) | undefined, ures: HttpResponse, ureq: HttpRequest, ctx: us_socket_context_t): void {
    const res = this.dispatch(route, ures, ureq, ctx);
    if (!refused) return;
    const note = (status: number) => {
      if (status < 400) return;
      try { refused(status); } catch (err) { this.onRouteError(err, status); }
    };
    if (!res || res.done) { note(res ? res.status : 500); return; }
    const prev = res.onDone;
    res.onDone = (r) => { prev?.(r); note(r.status); };
  }

  /**
   * The last line of defence: something threw while answering (a handler, a validator, the
   * envelope's error builder, Res itself). Logged; answered 500 if nothing was sent yet; the
   * connection is dropped if an answer was half written. Never rethrows: an exception that
   * escaped a uWS callback would be an uncaught exception and end the process.
   */
  private crashed(ures: HttpResponse, res: Res | undefined, err: unknown): void {
    try { this.opts.log.error({ err }, 'request failed with an exception'); } catch { /* the logger itself failed */ }
    if (res) { res.fatal(); return; }
    try {
      ures.cork(() => { ures.writeStatus('500 Internal Server Error').writeHeader('content-type', 'application/json').end(INTERNAL_BODY, true); });
    } catch {
      try { ures.close(); } catch { /* already gone */ }
    }
    this.requestFinished();
  }

  /** 405 for known paths with other methods, 404 for everything else. Call after add(). */
  finish(): void {
    const byPath = new Map<string, string[]>();
    for (const r of this.routes) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r.method.toUpperCase()]);
    for (const [path, methods] of byPath) {
      const allow = methods.join(', ');
      this.app.any(path, (res, req) => this.reject(res, req, () => new HttpError('method_not_allowed', `${req.getMethod().toUpperCase()} is not allowed on ${path}; use ${allow}`, { allow })));
    }
    this.app.any('/*', (res, req) => this.reject(res, req, () => new HttpError('not_found', `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`, { path: req.getUrl() })));
  }

  private reject(ures: HttpResponse, ureq: HttpRequest, err: () => HttpError): void {
    this.inflight++;
    this.requestsTotal++;
    let res: Res | undefined;
    try {
      res = this.newRes(ures, ureq, this.httpMetrics.unmatchedSlot(ureq.getMethod()));
      if (this.opts.onCall) this.track(res, ures, ureq, undefined);
      res.error(err());
    } catch (e) {
      this.crashed(ures, res, e);
    }
  }

  /** Arms the call record of a request (copied now: uWS objects are only valid in this callback). */
  private track(res: Res, ures: HttpResponse, ureq: HttpRequest, spec: RouteSpec | undefined): void {
    const header = this.authEnabled ? ureq.getHeader('authorization') : '';
    const call = { method: ureq.getMethod().toUpperCase(), path: ureq.getUrl(), requestId: res.requestId, remoteAddress: Buffer.from(ures.getRemoteAddressAsText()).toString() };
    const onCall = this.opts.onCall!;
    res.onDone = (r) => {
      try {
        // The route's own bearer check when it ran one; checked here only for the others (404/405).
        const scope = r.scope ?? (header ? checkBearer(this.opts.keys, header) : 'none');
        const credential: CallRecord['credential'] = spec?.auth === 'public' ? 'public' : scope !== 'none' ? scope : header ? 'invalid' : 'none';
        onCall({ ...call, credential, status: r.status, aborted: r.aborted && r.status === 0 });
      } catch (err) { this.opts.log.error({ err }, 'call log failed'); }
    };
  }

  private newRes(ures: HttpResponse, ureq: HttpRequest, slot: number): Res {
    const res = new Res(ures, this);
    res.slot = slot;
    res.startedAt = performance.now();
    const env = this.opts.envelope;
    if (env) res.frame(env, env.requestId(ureq.getHeader('x-request-id')));
    return res;
  }

  /** Serves one request (a WebSocket upgrade when `ctx` is given); the Res, unless creating it threw. */
  private dispatch(route: CompiledRoute, ures: HttpResponse, ureq: HttpRequest, ctx?: us_socket_context_t): Res | undefined {
    this.inflight++;
    this.requestsTotal++;
    let res: Res | undefined;
    try {
      res = this.newRes(ures, ureq, route.slot);
      if (ctx) res.upgradeContext = ctx;
      this.serve(route, res, ures, ureq);
    } catch (err) {
      this.crashed(ures, res, err);
    }
    return res;
  }

  private serve(route: CompiledRoute, res: Res, ures: HttpResponse, ureq: HttpRequest): void {
    const spec = route.spec;
    if (this.opts.onCall) this.track(res, ures, ureq, spec);
    if (this.state !== 'ready' && !spec.always) {
      res.error(new HttpError('unavailable', this.state === 'starting' ? 'the node is starting' : 'the node is shutting down'), true);
      return;
    }
    if (this.inflight > this.opts.maxInflight) {
      res.error(new HttpError('overloaded', `more than ${this.opts.maxInflight} requests in progress`));
      return;
    }
    let req: Req;
    try {
      let scope: Scope | 'none' = 'none';
      if (spec.auth !== 'public' && this.authEnabled) {
        const header = ureq.getHeader('authorization');
        scope = checkBearer(this.opts.keys, header || (route.queryToken ? queryBearer(ureq) : ''));
        res.scope = scope;
        if (scope === 'none') throw new HttpError('unauthorized', route.queryToken ? 'missing or invalid bearer token (header, or ?token= for browsers)' : 'missing or invalid bearer token', { header: 'authorization' });
        if (spec.auth === 'master' && scope !== 'master') throw new HttpError('forbidden', 'this route needs the MASTER_KEY', { scope: 'master' });
        if (scope === 'metrics' && spec.auth !== 'metrics') throw new HttpError('forbidden', 'the METRICS_KEY only opens the metrics routes', { scope: spec.auth });
      }
      // Everything uWS hands us is only valid during this call: copy it now.
      let params: Record<string, string> = EMPTY;
      if (route.paramNames.length) {
        params = Object.create(null) as Record<string, string>;
        for (let i = 0; i < route.paramNames.length; i++) {
          const raw = ureq.getParameter(i) ?? '';
          params[route.paramNames[i]] = raw.includes('%') ? decodeParam(route.paramNames[i], raw) : raw;
        }
        route.params?.(params);
      }
      let query: Record<string, unknown> = EMPTY;
      const qs = queryString(ureq);
      if (route.query) {
        query = queryOf(qs);
        route.query(query);
      } else if (qs) {
        // A route without query parameters refuses them rather than ignoring a typo.
        const [name] = new URLSearchParams(qs).keys();
        if (name !== undefined) throw Object.assign(new HttpError('bad_request', `query.${name} unknown field: this route takes no query parameters`, { fields: [{ field: `query.${name}`, message: 'unknown field (this route takes no query parameters)' }] }), { where: 'query' });
      }
      // Only the headers a route asks for (plus the body framing ones) are copied: cheaper on
      // the hot path than forEach, which the ws fallback does not implement anyway.
      const headers = Object.create(null) as Record<string, string>;
      for (const h of route.headers) {
        const v = ureq.getHeader(h);
        if (v !== '') headers[h] = v;
      }
      req = { method: spec.method, url: ureq.getUrl(), params, query, headers, body: undefined, scope, requestId: res.requestId };
      if (spec.remoteAddress) req.remoteAddress = Buffer.from(ures.getRemoteAddressAsText()).toString();
    } catch (err) {
      res.error(err);
      return;
    }
    if (route.body || spec.rawBody || (route.noBody && hasBody(req.headers['content-length']))) {
      this.readBody(route, req, res, ures);
      return;
    }
    this.invoke(spec, req, res, ures);
    res.inCallback = false;
  }

  private invoke(spec: RouteSpec, req: Req, res: Res, ures: HttpResponse): void {
    let out: void | Promise<void>;
    try {
      out = spec.handler(req, res);
    } catch (err) {
      res.error(err);
      return;
    }
    if (out && typeof (out as Promise<void>).then === 'function') {
      // uWS requires onAborted before this callback returns whenever we answer later.
      if (!res.done) ures.onAborted(() => this.aborted(res));
      (out as Promise<void>).then(
        () => { if (!res.done) res.error(new Error(`route ${spec.method} ${spec.path} finished without a response`)); },
        (err) => { if (!res.done) res.error(err); },
      ).catch((err) => this.crashed(ures, res, err));
    } else if (!res.done) {
      res.error(new Error(`route ${spec.method} ${spec.path} returned without a response`));
    }
  }

  private readBody(route: CompiledRoute, req: Req, res: Res, ures: HttpResponse): void {
    const max = this.opts.maxBodyBytes;
    const declared = Number(req.headers['content-length']);
    if (declared > max) {
      res.error(new HttpError('payload_too_large', `body of ${declared} bytes exceeds the limit of ${max}`, { max_bytes: max }), true);
      return;
    }
    ures.onAborted(() => this.aborted(res));
    res.inCallback = false;
    let chunks: Buffer[] | undefined;
    let size = 0;
    ures.onData((ab, isLast) => {
      try {
        if (res.done) return;
        size += ab.byteLength;
        if (size > max) {
          res.error(new HttpError('payload_too_large', `body exceeds the limit of ${max} bytes`, { max_bytes: max }));
          return;
        }
        if (!isLast) {
          // The ArrayBuffer is only valid during this callback: copy it.
          (chunks ??= []).push(Buffer.from(new Uint8Array(ab)));
          return;
        }
        // Last chunk: used synchronously below (parsed before this callback returns), so no copy.
        const body = chunks ? Buffer.concat([...chunks, Buffer.from(ab)]) : Buffer.from(ab);
        try {
          if (route.spec.rawBody === 'bytes') {
            req.body = chunks ? body : Buffer.from(body); // a copy: the last chunk's memory belongs to uWS
          } else if (route.spec.rawBody) {
            req.body = body.toString('utf8'); // a copy: the last chunk's memory belongs to uWS
          } else if (route.noBody) {
            refuseBody(body);
          } else {
            req.body = parseJson(body);
            route.body!(req.body);
          }
        } catch (err) {
          res.error(err);
          return;
        }
        this.invoke(route.spec, req, res, ures);
      } catch (err) {
        this.crashed(ures, res, err);
      }
    });
  }

  /** uWS onAborted: never let an exception out of it. */
  private aborted(res: Res): void {
    try {
      res.abort();
    } catch (err) {
      try { this.opts.log.error({ err }, 'abort handler failed'); } catch { /* nothing left to do */ }
    }
  }
  /**
   * Binds exclusively: uWS sets SO_REUSEPORT by default, which lets a second daemon bind the
   * same port and the kernel split connections between the two. `what` names the setting in
   * the error (e.g. "api_port").
   */
  listen(host: string, port: number, what = 'http'): Promise<number> {
    return new Promise((resolve, reject) => {
      // (host, port, options, cb): the native binding and the fallback both take this form; the
      // package's typings only declare (port, options, cb).
      const listen = this.app.listen as unknown as (h: string, p: number, o: number, cb: (ls: us_listen_socket | false) => void) => void;
      listen.call(this.app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (ls) => {
        if (!ls) {
          reject(Object.assign(listenError(what, host, port), { code: 'HTTP_LISTEN_FAILED' }));
          return;
        }
        this.listenSocket = ls;
        this.port = loadUws().uws.us_socket_local_port(ls as never);
        resolve(this.port);
      });
    });
  }

  /** Stops accepting, answers new requests on open connections with 503, waits for in-flight ones. */
  async close(timeoutMs: number): Promise<boolean> {
    if (this.state === 'closed') return true;
    this.state = 'draining';
    if (this.listenSocket) { loadUws().uws.us_listen_socket_close(this.listenSocket); this.listenSocket = undefined; }
    let drained = this.inflight === 0;
    if (!drained) {
      drained = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), timeoutMs);
        this.drainWaiters.push(() => { clearTimeout(t); resolve(true); });
      });
    }
    this.state = 'closed';
    return drained;
  }
}

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return v !== null && typeof v === 'object' && typeof (v as Promise<T>).then === 'function';
}

/** `?token=` of a WebSocket route as a bearer header ('' when absent). */
function queryBearer(ureq: HttpRequest): string {
  const token = new URLSearchParams(queryString(ureq)).get('token');
  return token ? `Bearer ${token}` : '';
}

function decodeParam(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError('bad_request', `params.${name} is not valid percent-encoding`, { fields: [{ field: `params.${name}`, message: 'invalid percent-encoding' }] });
  }
}

function parseJson(buf: Buffer): unknown {
  if (buf.length === 0) throw new HttpError('bad_request', 'body is empty; a JSON object is required', { fields: [{ field: 'body', message: 'required' }] });
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new HttpError('bad_request', `body is not valid JSON: ${(err as Error).message}`, { fields: [{ field: 'body', message: 'invalid JSON' }] });
  }
}

/**
 * The raw query string. The package's ws-based fallback throws from getQuery() on the relative
 * URLs it is given (new URL('/path')), so there it comes from getUrl(), which keeps the query.
 */
function queryString(ureq: HttpRequest): string {
  try {
    return ureq.getQuery() ?? '';
  } catch {
    const url = ureq.getUrl();
    const i = url.indexOf('?');
    return i < 0 ? '' : url.slice(i + 1);
  }
}

function queryOf(qs: string | undefined): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  if (qs) for (const [k, v] of new URLSearchParams(qs)) out[k] = v;
  return out;
}

/** A Content-Length that announces a body. */
function hasBody(contentLength: string | undefined): boolean {
  return contentLength !== undefined && contentLength !== '0';
}

/** The body of a route that takes none: empty, or an empty JSON object, is fine. */
function refuseBody(buf: Buffer): void {
  const text = buf.toString('utf8').trim();
  if (text === '' || /^\{\s*\}$/.test(text)) return;
  let first: string | undefined;
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) first = Object.keys(v)[0];
  } catch { /* not JSON: refused as a whole */ }
  const field = first === undefined ? 'body' : `body.${first}`;
  throw Object.assign(new HttpError('bad_request', `${field}: this route takes no request body`, { fields: [{ field, message: first === undefined ? 'this route takes no request body' : 'unknown field (this route takes no request body)' }] }), { where: 'body' });
}
