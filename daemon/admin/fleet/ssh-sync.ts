// Pushes a node's SSH credential set to its agent after a change committed. Pushes of one node
// run one after another, each reading the latest committed set, so the versions an agent
// receives never go backwards even when two API calls race. Best effort: a node without a
// tunnel gets its set when it next connects (tunnelUp hands it the current one).
import type { AdminCtx } from '../api/context';
import { credentialSet } from '../store/ssh';

const chains = new WeakMap<AdminCtx, Map<string, Promise<boolean>>>();

/** Queues a push of `nodeId`'s current set; resolves true when it went out on a live tunnel. */
export function pushCredentials(ctx: AdminCtx, nodeId: string): Promise<boolean> {
  let perNode = chains.get(ctx);
  if (!perNode) chains.set(ctx, (perNode = new Map()));
  const prev = perNode.get(nodeId) ?? Promise.resolve(false);
  const next = prev.catch(() => false).then(async () => {
    const hub = ctx.hub;
    if (!hub || !hub.isConnected(nodeId)) return false;
    const set = await credentialSet(ctx.db, nodeId);
    if (!set) return false;
    return hub.syncCredentials(nodeId, set);
  }).catch((err: unknown) => {
    ctx.log.warn({ err, node_id: nodeId }, 'pushing SSH credentials to the node failed; it gets them when its tunnel reconnects');
    return false;
  });
  perNode.set(nodeId, next);
  void next.then(() => { if (perNode!.get(nodeId) === next) perNode!.delete(nodeId); });
  return next;
}
