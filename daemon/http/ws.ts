// WebSocket routes behind the same wrapper as HTTP routes (HttpServer.ws()). The upgrade request
// goes through the HTTP pipeline — server state (503 while starting or draining), the in-flight
// limit, bearer scope or the route's own authenticator, params/query validation, the listener's
// error bodies (envelope included), crash containment, the call log and the request histogram —
// and is answered 101 by the route's upgrade(). The socket's handlers are then guarded: an
// exception in open, message, drain or close is logged and closes that socket with 1011; escaping
// a uWS callback it would be an uncaught exception and end the process (every listener, every
// connection).
import type { WebSocket, WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
import type { Logger } from '../base/log';
import type { Scope } from './auth';
import type { Req, RouteSpec } from './server';
import type { JsonSchema } from './validate';

/**
 * A credential check of the route's own instead of the listener's keys (the agent tunnel's node
 * api_token). It reads the copied request (`authorization` is always copied) and resolves what
 * the credential proves, or throws an HttpError (401, 403, 503…) answered with the listener's
 * error body.
 */
export interface WsAuthenticator<P> {
  /** The OpenAPI security scheme's name (a bearer scheme) and description. */
  scheme: string;
  description: string;
  authenticate(req: Req): P | Promise<P>;
}

export interface WsRouteSpec<T, P = undefined> {
  /** uWS pattern; the upgrade is a GET. */
  path: string;
  /** As for HTTP routes (bearer scope against the listener's keys), or an authenticator of its own. */
  auth: 'public' | Scope | WsAuthenticator<P>;
  /** The bearer token may also come as `?token=` (browsers cannot set headers on a WebSocket); declare `token` in `query`. */
  queryToken?: boolean;
  summary: string;
  tags: string[];
  /** OpenAPI operationId; derived from the path when absent. */
  operationId?: string;
  params?: JsonSchema;
  query?: JsonSchema;
  /** Request headers (lower-case) upgrade() reads; others are not copied. */
  headers?: string[];
  /** Copy the client's address into req.remoteAddress. */
  remoteAddress?: boolean;
  /** Documented answers (OpenAPI); 101 is added when absent. */
  responses: RouteSpec['responses'];
  maxPayloadLength?: number;
  maxBackpressure?: number;
  idleTimeout?: number;
  sendPingsAutomatically?: boolean;
  /**
   * The socket's user data, from the request once it passed auth and validation (`principal`:
   * what the authenticator resolved). Throw an HttpError to refuse the upgrade.
   */
  upgrade(req: Req, principal: P): T | Promise<T>;
  open?(ws: WebSocket<T>): void;
  message?(ws: WebSocket<T>, msg: ArrayBuffer, isBinary: boolean): void;
  drain?(ws: WebSocket<T>): void;
  close?(ws: WebSocket<T>, code: number, msg: ArrayBuffer): void;
  /** The upgrade was answered with an error status (after logging it, e.g. a counter of refusals). */
  refused?(status: number): void;
}

/** Request headers the upgrade needs, copied with the route's own. */
export const UPGRADE_HEADERS = ['sec-websocket-key', 'sec-websocket-protocol', 'sec-websocket-extensions'];

/**
 * The socket handlers of a route, each in try/catch (and .catch for a promise). A socket whose
 * handler failed is in an unknown state: it is closed with 1011 (internal error). Fixed arity,
 * no per-message allocation: the data-plane socket is a hot path.
 */
export function guardedSocket<T>(log: Logger, path: string, s: WsRouteSpec<T, unknown>): Pick<WebSocketBehavior<T>, 'open' | 'message' | 'drain' | 'close'> {
  const report = (where: string, err: unknown) => {
    try { log.error({ err, where, path }, 'websocket handler failed'); } catch { /* the logger failed too */ }
  };
  const fail = (where: string, ws: WebSocket<T>, err: unknown) => {
    report(where, err);
    try { ws.end(1011, 'internal error'); } catch { /* the socket is gone */ }
  };
  const late = (where: string, out: unknown) => {
    if (out && typeof (out as Promise<unknown>).then === 'function') (out as Promise<unknown>).catch((err) => report(where, err));
  };
  return {
    open: s.open && ((ws) => { try { late('open', s.open!(ws)); } catch (err) { fail('open', ws, err); } }),
    message: s.message && ((ws, msg, isBinary) => { try { late('message', s.message!(ws, msg, isBinary)); } catch (err) { fail('message', ws, err); } }),
    drain: s.drain && ((ws) => { try { late('drain', s.drain!(ws)); } catch (err) { fail('drain', ws, err); } }),
    close: s.close && ((ws, code, msg) => { try { late('close', s.close!(ws, code, msg)); } catch (err) { report('close', err); } }),
  };
}
