// WebSocket handlers behind the same promise as HTTP routes: an exception in upgrade, open,
// message, drain or close is logged and contained. Escaping a uWS callback it would be an
// uncaught exception and end the process (every listener, every connection).
import type { WebSocketBehavior } from '@trufflesuite/uws-js-unofficial';
import type { Logger } from '../base/log';

const INTERNAL = '{"error":"internal","message":"internal server error","details":{}}';

/** Wraps each handler of a uWS WebSocket behaviour in try/catch (and .catch for promises). */
export function guardWs<T>(log: Logger, what: string, b: WebSocketBehavior<T>): WebSocketBehavior<T> {
  const report = (where: string, err: unknown) => {
    try { log.error({ err, where }, `${what}: websocket handler failed`); } catch { /* logger failed too */ }
  };
  const wrap = <A extends unknown[]>(where: string, fn: ((...a: A) => unknown) | undefined, onError?: (...a: A) => void) => {
    if (!fn) return undefined;
    return (...a: A) => {
      try {
        const out = fn(...a);
        if (out && typeof (out as Promise<unknown>).then === 'function') (out as Promise<unknown>).catch((err) => report(where, err));
      } catch (err) {
        report(where, err);
        try { onError?.(...a); } catch { /* the socket is gone */ }
      }
    };
  };
  return {
    ...b,
    // A failed upgrade gets a 500 when nothing was written yet (a write after one throws, caught).
    upgrade: wrap('upgrade', b.upgrade, (res) => { res.cork(() => { res.writeStatus('500 Internal Server Error').writeHeader('content-type', 'application/json').end(INTERNAL, true); }); }) as WebSocketBehavior<T>['upgrade'],
    // A socket whose handler failed is in an unknown state: close it (1011 = internal error).
    open: wrap('open', b.open, (ws) => ws.end(1011, 'internal error')) as WebSocketBehavior<T>['open'],
    message: wrap('message', b.message, (ws) => ws.end(1011, 'internal error')) as WebSocketBehavior<T>['message'],
    drain: wrap('drain', b.drain, (ws) => ws.end(1011, 'internal error')) as WebSocketBehavior<T>['drain'],
    close: wrap('close', b.close) as WebSocketBehavior<T>['close'],
  };
}
