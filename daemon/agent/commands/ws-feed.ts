// Live command output on the agent's WebSocket (GET /api/v1/ws, docs/ws.md):
//   → {"op":"subscribe","id":"s5","type":"command_output","execution_id":"…"}   (MASTER_KEY only)
//   ← {"type":"command_output","id","execution_id","data"}…, then
//     {"type":"command_status","id","execution_id","status","exit_code","final","execution"}
// The output so far and the current state come first; the subscription ends with the final state.
import { ProtocolError, type WsFeed } from '../../dataplane/ws/feeds';
import type { CommandService } from './service';

export function commandOutputFeed(commands: Pick<CommandService, 'subscribe'>): WsFeed {
  return {
    type: 'command_output',
    subscribe(m, sink) {
      if (sink.scope !== 'master') throw new ProtocolError('forbidden', 'command_output subscriptions need the MASTER_KEY');
      const execId = m.execution_id;
      if (typeof execId !== 'string' || !execId || execId.length > 64) throw new ProtocolError('bad_request', 'field execution_id must be a command execution id');
      const id = sink.id;
      try {
        return commands.subscribe(execId, {
          output: (data) => sink.send({ type: 'command_output', id, execution_id: execId, data }),
          status: (e, final) => {
            sink.send({ type: 'command_status', id, execution_id: execId, status: e.status, exit_code: e.exit_code, final, execution: e });
            if (final) sink.end();
          },
        });
      } catch (e) {
        throw new ProtocolError((e as { code?: string }).code === 'not_found' ? 'not_found' : 'internal', (e as Error).message);
      }
    },
  };
}
