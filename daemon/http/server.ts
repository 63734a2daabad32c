// The HTTP layer on uWebSockets.js. Route code receives plain copies of everything it needs
// (params, query, headers, body) and a Res that cannot break the uWS contract; this file is
// the only code that touches uWS request objects.
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from '@trufflesuite/uws-js-unofficial';
import { loadUws } from '../../native';
import { HttpError } from '../errors';
import type { Logger } from '../log';
import { Res, type ResponseHost } from './response';
import { compile, type JsonSchema, type Validator } from './validate';
import { checkBearer, type AuthKeys, type Scope } from './auth';

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
  auth: 'public' | Scope;
  summary: string;
  tags: string[];
  /** OpenAPI operationId; derived from method and path when absent (daemon/openapi.ts operationIdOf). */
  operationId?: string;
  params?: JsonSchema;
  query?: JsonSchema;
  body?: JsonSchema;
  /** The body is text (e.g. line protocol), handed over as a string; `body` validates nothing then. */
  rawBody?: boolean;
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
  paramNames: string[];
  headers: string[];
  params?: Validator;
  query?: Validator;
  body?: Validator;
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

const EMPTY: Record<string, never> = Object.freeze({}) as Record<string, never>;

export class HttpServer implements ResponseHost {
  readonly app: TemplatedApp;
  readonly routes: RouteSpec[] = [];
  state: ServerState = 'starting';
  inflight = 0;
  requestsTotal = 0;
  readonly statusCounts = new Map<number, number>();
  private listenSocket?: us_listen_socket;
  private drainWaiters: Array<() => void> = [];
  private readonly authEnabled: boolean;
  port = 0;

  constructor(private readonly opts: HttpServerOptions) {
    this.app = loadUws().uws.App();
    this.authEnabled = Boolean(opts.keys.api || opts.keys.master);
  }

  get draining(): boolean { return this.state === 'draining'; }

  requestFinished(): void {
    this.inflight--;
    if (this.inflight === 0 && this.drainWaiters.length) for (const w of this.drainWaiters.splice(0)) w();
  }

  onRouteError(err: unknown, status: number): void {
    this.opts.log.error({ err, status }, 'route failed');
  }

  add(spec: RouteSpec): void {
    const paramNames = [...spec.path.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
    const route: CompiledRoute = {
      spec,
      paramNames,
      headers: [...new Set([...(spec.headers ?? []), ...(spec.body || spec.rawBody ? ['content-length', 'content-type'] : [])])],
      params: spec.params ? compile('params', spec.params) : undefined,
      query: spec.query ? compile('query', spec.query) : undefined,
      body: spec.body ? compile('body', spec.body) : undefined,
    };
    this.routes.push(spec);
    const register = (this.app as unknown as Record<string, Function>)[spec.method === 'delete' ? 'del' : spec.method].bind(this.app) as (p: string, h: (res: HttpResponse, req: HttpRequest) => void) => TemplatedApp;
    register(spec.path, (res, req) => this.dispatch(route, res, req));
  }

  /** 405 for known paths with other methods, 404 for everything else. Call after add(). */
  finish(): void {
    const byPath = new Map<string, string[]>();
    for (const r of this.routes) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r.method.toUpperCase()]);
    for (const [path, methods] of byPath) {
      const allow = methods.join(', ');
      this.app.any(path, (res, req) => this.reject(res, new HttpError('method_not_allowed', `${req.getMethod().toUpperCase()} is not allowed on ${path}; use ${allow}`, { allow }), req));
    }
    this.app.any('/*', (res, req) => this.reject(res, new HttpError('not_found', `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`, { path: req.getUrl() }), req));
  }

  private reject(ures: HttpResponse, err: HttpError, ureq: HttpRequest): void {
    this.inflight++;
    this.requestsTotal++;
    const res = this.newRes(ures, ureq);
    if (this.opts.onCall) this.track(res, ures, ureq, undefined);
    res.error(err);
  }

  /** Arms the call record of a request (copied now: uWS objects are only valid in this callback). */
  private track(res: Res, ures: HttpResponse, ureq: HttpRequest, spec: RouteSpec | undefined): void {
    const header = this.authEnabled ? ureq.getHeader('authorization') : '';
    const scope = header ? checkBearer(this.opts.keys, header) : 'none';
    const credential: CallRecord['credential'] = spec?.auth === 'public' ? 'public' : scope !== 'none' ? scope : header ? 'invalid' : 'none';
    const call = { method: ureq.getMethod().toUpperCase(), path: ureq.getUrl(), credential, requestId: res.requestId, remoteAddress: Buffer.from(ures.getRemoteAddressAsText()).toString() };
    const onCall = this.opts.onCall!;
    res.onDone = (r) => {
      try { onCall({ ...call, status: r.status, aborted: r.aborted && r.status === 0 }); } catch (err) { this.opts.log.error({ err }, 'call log failed'); }
    };
  }

  private newRes(ures: HttpResponse, ureq: HttpRequest): Res {
    const res = new Res(ures, this);
    const env = this.opts.envelope;
    if (env) res.frame(env, env.requestId(ureq.getHeader('x-request-id')));
    return res;
  }

  private dispatch(route: CompiledRoute, ures: HttpResponse, ureq: HttpRequest): void {
    this.inflight++;
    this.requestsTotal++;
    const res = this.newRes(ures, ureq);
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
        scope = checkBearer(this.opts.keys, ureq.getHeader('authorization'));
        if (scope === 'none') throw new HttpError('unauthorized', 'missing or invalid bearer token', { header: 'authorization' });
        if (spec.auth === 'master' && scope !== 'master') throw new HttpError('forbidden', 'this route needs the MASTER_KEY', { scope: 'master' });
      }
      // Everything uWS hands us is only valid during this call: copy it now.
      let params: Record<string, string> = EMPTY;
      if (route.paramNames.length) {
        params = {};
        for (let i = 0; i < route.paramNames.length; i++) {
          const raw = ureq.getParameter(i) ?? '';
          params[route.paramNames[i]] = raw.includes('%') ? decodeParam(route.paramNames[i], raw) : raw;
        }
        route.params?.(params);
      }
      let query: Record<string, unknown> = EMPTY;
      if (route.query) {
        query = Object.fromEntries(new URLSearchParams(ureq.getQuery() ?? ''));
        route.query(query);
      }
      // Only the headers a route asks for (plus the body framing ones) are copied: cheaper on
      // the hot path than forEach, which the ws fallback does not implement anyway.
      const headers: Record<string, string> = {};
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
    if (route.body || spec.rawBody) {
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
      if (!res.done) ures.onAborted(() => res.abort());
      (out as Promise<void>).then(
        () => { if (!res.done) res.error(new Error(`route ${spec.method} ${spec.path} finished without a response`)); },
        (err) => { if (!res.done) res.error(err); },
      );
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
    ures.onAborted(() => res.abort());
    res.inCallback = false;
    let chunks: Buffer[] | undefined;
    let size = 0;
    ures.onData((ab, isLast) => {
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
        if (route.spec.rawBody) {
          req.body = body.toString('utf8'); // a copy: the last chunk's memory belongs to uWS
        } else {
          req.body = parseJson(body);
          route.body!(req.body);
        }
      } catch (err) {
        res.error(err);
        return;
      }
      this.invoke(route.spec, req, res, ures);
    });
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.app.listen(host, port, (ls) => {
        if (!ls) {
          reject(Object.assign(new Error(`cannot listen on ${host}:${port} (address in use or not available)`), { code: 'HTTP_LISTEN_FAILED' }));
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
