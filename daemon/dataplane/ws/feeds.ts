// Subscription types that features outside the data plane serve over its WebSocket (command
// output: daemon/agent/commands/ws-feed.ts). The hub owns the socket, the subscription ids,
// the frame order and the slow-consumer bound; a feed only produces frames.
import type { Scope } from '../../http';

/** A protocol error: answered `{"type":"error","id","error":code,"message"}`, the socket stays open. */
export class ProtocolError extends Error {
  constructor(readonly code: string, message: string) { super(message); }
}

/** One subscription of a feed, as the feed sees it. */
export interface FeedSink {
  /** The client's subscription id. */
  readonly id: string;
  /** The credential the socket was opened with ('master' when the daemon has no keys). */
  readonly scope: Scope;
  /** Sends a frame. Frames sent before subscribe() returns are held until `subscribed` is sent. */
  send(frame: object): void;
  /** The feed is over (its final frame was sent): the subscription ends; its unsubscribe is not called. */
  end(): void;
}

export interface WsFeed {
  /** The `type` of the subscribe frames it serves (not one of the hub's own: stream, kv, queue, ts). */
  readonly type: string;
  /** Starts a subscription from its subscribe frame and returns its unsubscribe; throws a ProtocolError to refuse it. */
  subscribe(frame: Record<string, unknown>, sink: FeedSink): () => void;
}
